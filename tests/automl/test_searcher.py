"""The searcher hears each epoch of a trial once, also after a restart from a checkpoint."""

from __future__ import annotations

import optuna

from automl._runner import _Searcher


def _space(trial: optuna.Trial) -> None:
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)


def _searcher() -> _Searcher:
    return _Searcher(
        space=_space, metric="val_accuracy", mode="max", sampler=optuna.samplers.RandomSampler(seed=0)
    )


def _report(searcher: _Searcher, epoch: int, value: float) -> None:
    searcher.on_trial_result("t1", {"val_accuracy": value, "training_iteration": epoch})


def _intermediate(searcher: _Searcher) -> dict[int, float]:
    (trial,) = searcher._ot_study.get_trials(deepcopy=False)
    return trial.intermediate_values


def test_epochs_redone_after_a_restart_keep_their_first_value_and_do_not_warn(tmp_path):
    # pytest turns warnings into errors: Optuna's "step is already reported" would fail this test.
    searcher = _searcher()
    assert searcher.suggest("t1") is not None
    for epoch, value in [(1, 0.5), (2, 0.6), (3, 0.7)]:
        _report(searcher, epoch, value)
    # The worker died after epoch 3 and its checkpoint was from epoch 1: epochs 2 and 3 come again.
    _report(searcher, 2, 0.65)
    _report(searcher, 3, 0.75)
    _report(searcher, 4, 0.8)
    assert _intermediate(searcher) == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8}

    # The driver was killed too: the searcher comes back from Ray's saved state and still knows.
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = _searcher()
    restored.restore(str(tmp_path / "searcher.pkl"))
    _report(restored, 4, 0.1)
    _report(restored, 5, 0.9)
    assert _intermediate(restored) == {1: 0.5, 2: 0.6, 3: 0.7, 4: 0.8, 5: 0.9}

    restored.on_trial_complete("t1", {"val_accuracy": 0.9, "training_iteration": 5})
    assert restored._last_step == {}
