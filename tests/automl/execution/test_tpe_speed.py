"""automl's searcher samples TPE with SciPy's log_ndtr; everyone else in the process keeps Optuna's."""

from __future__ import annotations

import contextlib
import threading

import numpy as np
import optuna
import scipy.special
from optuna.samplers._tpe import _truncnorm

from automl.execution._optuna_compat import LOG_NDTR_PATCHABLE as INSTALLED
from automl.execution._optuna_compat import fast_log_ndtr
from automl.execution._searcher import Searcher

# Every branch of Optuna's function: the asymptotic series (<= -20), log Φ (-20, 6], -Φ(-a) (> 6).
_POINTS = np.concatenate([np.linspace(-45.0, 40.0, 4001), [-20.0, -19.999, 0.0, 6.0, 6.001, -1e3, 1e3]])


def _optuna_log_ndtr(a: np.ndarray) -> np.ndarray:
    # Optuna's definition, element by element, independent of what sits in the module now.
    return np.frompyfunc(_truncnorm._log_ndtr_single, 1, 1)(a).astype(float)


def test_the_installed_optuna_gets_the_compiled_tail():
    # An optuna that renames or drops the function loses the speed-up silently otherwise.
    assert INSTALLED


def test_outside_the_block_optuna_computes_its_own_values_bit_for_bit():
    np.testing.assert_array_equal(_truncnorm._log_ndtr(_POINTS), _optuna_log_ndtr(_POINTS))


def test_inside_the_block_scipy_computes_them_within_optuna_s_own_precision():
    with fast_log_ndtr():
        fast = _truncnorm._log_ndtr(_POINTS)
    np.testing.assert_array_equal(fast, scipy.special.log_ndtr(_POINTS))
    # Above a = 1 Optuna's log Φ is approximate (8 digits from log(1 - Φ(-a)) up to 6, then -Φ(-a), and
    # a subnormal where SciPy rounds to 0: atol); at and below 1 they agree to the last bits.
    np.testing.assert_allclose(fast, _optuna_log_ndtr(_POINTS), rtol=1e-7, atol=1e-300)
    left = _POINTS <= 1
    np.testing.assert_allclose(fast[left], _optuna_log_ndtr(_POINTS[left]), rtol=1e-14)


def test_another_thread_keeps_optuna_s_function_while_the_searcher_samples():
    seen: list[np.ndarray] = []
    inside, done = threading.Event(), threading.Event()

    def other_thread() -> None:
        inside.wait(10)
        seen.append(_truncnorm._log_ndtr(_POINTS))
        done.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with fast_log_ndtr():
        inside.set()
        assert done.wait(10)
        with fast_log_ndtr():  # nested blocks leave it on for the outer one
            pass
        np.testing.assert_array_equal(_truncnorm._log_ndtr(_POINTS), scipy.special.log_ndtr(_POINTS))
    thread.join()
    np.testing.assert_array_equal(seen[0], _optuna_log_ndtr(_POINTS))
    np.testing.assert_array_equal(_truncnorm._log_ndtr(_POINTS), _optuna_log_ndtr(_POINTS))


def _space(trial: optuna.Trial) -> None:
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
    trial.suggest_int("units", 16, 256, log=True)
    trial.suggest_float("dropout", 0.0, 0.5)


def _score(params: dict) -> float:
    return (
        -((np.log10(params["learning_rate"]) + 2.5) ** 2)
        - abs(params["units"] - 90) / 100
        - params["dropout"]
    )


def _with_optuna(trials: int, *, fast: bool) -> list[dict]:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=3))
    for _ in range(trials):
        trial = study.ask()
        with fast_log_ndtr() if fast else contextlib.nullcontext():
            _space(trial)
        study.tell(trial, _score(trial.params))
    return [t.params for t in study.trials]


def test_the_searcher_samples_as_optuna_s_tpe_does_with_the_compiled_tail():
    searcher = Searcher(space=_space, metric="score", mode="max", sampler=optuna.samplers.TPESampler(seed=3))
    for i in range(25):
        trial_id = f"t{i}"
        config = searcher.suggest(trial_id)
        assert config is not None
        result = {"score": _score(config), "training_iteration": 1, "trial_finished": True}
        searcher.on_trial_complete(trial_id, {**result, "done": True})
    suggested = [t.params for t in searcher._ot_study.get_trials(deepcopy=False)]

    assert suggested == _with_optuna(25, fast=True)
    plain = _with_optuna(25, fast=False)
    assert suggested[:10] == plain[:10]  # the random start-up trials
    # Past them the values differ in their last bits (the searcher did not sample with Optuna's own
    # function), but TPE picks the same candidates: the same configs, up to rounding.
    assert suggested != plain
    for ours, theirs in zip(suggested, plain, strict=True):
        assert ours.keys() == theirs.keys()
        np.testing.assert_allclose([ours[k] for k in ours], [theirs[k] for k in ours], rtol=1e-9)
