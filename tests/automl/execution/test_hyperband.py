"""automl's HyperBand scheduler on Ray's own trial objects, without a run."""

from __future__ import annotations

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from automl.execution._hyperband import HyperBand, bracket_sizes, trials_held_at_once


def _trial(status: str) -> Trial:
    trial = Trial("run_trial", stub=True)
    trial.set_status(status)
    return trial


def test_a_resumed_trial_is_not_held_at_a_milestone_by_finished_trials():
    # Ray re-adds a resumed run's trials, the most recent first, finished ones too, to a
    # scheduler that starts empty. Had the finished trials joined brackets, the unfinished
    # one, put in the second bracket beside them, would have waited for them at epoch 2 forever.
    scheduler = HyperBand(time_attr="epoch", metric="val_loss", mode="min", max_t=6, stop_last_trials=False)
    finished = [_trial(Trial.TERMINATED) for _ in range(3)]
    unfinished = _trial(Trial.PENDING)
    for trial in [*finished, unfinished, _trial(Trial.ERROR), *(_trial(Trial.TERMINATED) for _ in range(3))]:
        scheduler.on_trial_add(None, trial)
    for epoch in (3, 4):  # it resumes from its epoch-2 checkpoint
        action = scheduler.on_trial_result(None, unfinished, {"epoch": epoch, "val_loss": 0.5})
        assert action == TrialScheduler.CONTINUE


@pytest.mark.parametrize(
    ("epochs", "settings", "sizes"),
    [
        (20, {}, [4, 6, 12]),
        (6, {}, [3, 5]),
        (81, {}, [5, 8, 15, 34, 81]),
        (9, {"reduction_factor": 2}, [4, 4, 6, 8]),
        (2, {}, [2]),
    ],
)
def test_bracket_sizes_are_ray_s_for_the_epochs(epochs, settings, sizes):
    assert bracket_sizes(epochs, **settings) == sizes


def test_trials_held_at_once_counts_only_brackets_that_pause_and_the_trials_they_get():
    assert trials_held_at_once(20, num_trials=100) == 12
    assert trials_held_at_once(20, num_trials=10) == 6
    assert trials_held_at_once(20, num_trials=7) == 3  # the second bracket gets 3 of its 6
    assert trials_held_at_once(20, num_trials=4) == 0  # the first bracket pauses no trial
    assert trials_held_at_once(2, num_trials=50) == 0  # one bracket: HyperBand stops nothing
