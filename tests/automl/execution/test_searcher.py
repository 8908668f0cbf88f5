"""The searcher hears each epoch of a trial once, also after a restart from a checkpoint, and its end as Optuna would."""

from __future__ import annotations

import logging
import time

import optuna

from automl.execution._searcher import Searcher


def _space(trial: optuna.Trial) -> None:
    trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)


def _searcher(metric: str = "val_accuracy", mode: str = "max") -> Searcher:
    return Searcher(space=_space, metric=metric, mode=mode, sampler=optuna.samplers.RandomSampler(seed=0))


def _report(searcher: Searcher, epoch: int, value: float) -> None:
    searcher.on_trial_result("t1", {"val_accuracy": value, "training_iteration": epoch})


def _intermediate(searcher: Searcher) -> dict[int, float]:
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


def _run(searcher: Searcher, trial_id: str, values: list[float], *, finished: bool) -> None:
    metric = searcher.metric
    assert searcher.suggest(trial_id) is not None
    for epoch, value in enumerate(values, start=1):
        searcher.on_trial_result(trial_id, {metric: value, "training_iteration": epoch})
    last = {metric: values[-1], "training_iteration": len(values), "trial_finished": finished}
    searcher.on_trial_complete(trial_id, {**last, "done": True})


def _told(searcher: Searcher) -> list[tuple[optuna.trial.TrialState, float | None]]:
    return [(t.state, t.value) for t in searcher._ot_study.get_trials(deepcopy=False)]


def test_a_trial_that_ends_by_itself_is_told_its_best_epochs_value():
    # Early stopping ends a fit a few epochs after its best: the model kept is the best epoch's.
    searcher = _searcher()
    _run(searcher, "t1", [0.5, 0.7, 0.6, 0.65], finished=True)
    assert _told(searcher) == [(optuna.trial.TrialState.COMPLETE, 0.7)]

    minimizing = _searcher("val_loss", "min")
    _run(minimizing, "t1", [0.9, 0.4, 0.6], finished=True)
    assert _told(minimizing) == [(optuna.trial.TrialState.COMPLETE, 0.4)]


def test_a_last_epoch_that_ended_the_trial_counts_though_the_searcher_hears_only_the_end():
    # automl stops a trial at the result its fit marks as its last; Ray then tells the searcher only
    # of the trial's end, with that result.
    searcher = _searcher()
    assert searcher.suggest("t1") is not None
    _report(searcher, 1, 0.5)
    _report(searcher, 2, 0.6)
    last = {"val_accuracy": 0.8, "training_iteration": 3, "trial_finished": True, "done": True}
    searcher.on_trial_complete("t1", last)
    assert _told(searcher) == [(optuna.trial.TrialState.COMPLETE, 0.8)]
    assert _intermediate(searcher) == {1: 0.5, 2: 0.6, 3: 0.8}


def test_a_trial_the_scheduler_stopped_is_told_pruned_with_its_epochs():
    searcher = _searcher()
    _run(searcher, "t1", [0.5, 0.7, 0.6, 0.65], finished=True)
    _run(searcher, "t2", [0.8], finished=False)  # ASHA stopped it after epoch 1
    pruned = searcher._ot_study.get_trials(deepcopy=False)[1]
    assert pruned.state is optuna.trial.TrialState.PRUNED
    assert pruned.intermediate_values == {1: 0.8}
    # As with Optuna's pruners: TPE ranks complete trials first, whatever a pruned one scored early.
    assert searcher._ot_study.best_trial.value == 0.7
    assert searcher._best == {} and searcher._last_step == {}


def test_a_trial_that_raised_is_told_failed():
    searcher = _searcher()
    assert searcher.suggest("t1") is not None
    searcher.on_trial_result("t1", {"val_accuracy": 0.5, "training_iteration": 1})
    searcher.on_trial_complete("t1", None, error=True)
    assert _told(searcher) == [(optuna.trial.TrialState.FAIL, None)]


def test_the_run_s_own_studies_do_not_log_at_info_and_the_user_s_level_comes_back():
    from automl.execution._runner import optuna_warnings_only

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("optuna").addHandler(handler)  # Optuna's own handler does not propagate
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        with optuna_warnings_only():
            _searcher()  # Ray's searcher creates its study when built
            optuna.create_study()
        assert seen == []
        assert optuna.logging.get_verbosity() == optuna.logging.INFO
        optuna.create_study()
        assert any("A new study created" in message for message in seen)  # the check above can fail
    finally:
        logging.getLogger("optuna").removeHandler(handler)


def test_a_slow_sampler_does_not_get_ray_s_advice_to_move_training_out_of_the_space():
    # Ray warns when sampling takes over 1 s (pytest would fail on it). automl's space function
    # only samples, so the time is the sampler's: here a space that takes 1.1 s.
    def slow(trial: optuna.Trial) -> None:
        time.sleep(1.1)
        _space(trial)

    searcher = Searcher(
        space=slow, metric="val_accuracy", mode="max", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    config = searcher.suggest("t1")
    assert config is not None and 1e-4 <= config["learning_rate"] <= 1e-1
