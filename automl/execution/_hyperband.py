"""Ray Tune's synchronous HyperBand, with brackets that fill when fewer trials run at once than they hold.

Ray's `HyperBandScheduler` puts each new trial in the current bracket until
the bracket holds its ``n`` trials, and counts only the trials still in it.
Its first bracket (``s = 0``) runs its trials to ``max_t`` and stops none, so
each one leaves the count when it ends. With fewer trials at once than that
bracket's ``n`` (``n`` is 4 for 20 epochs; a 2-core machine runs 2), the
bracket never fills: every trial of the run joins it, and HyperBand stops
nothing (ray-project/ray#12536). Here a bracket is also full once it has been
given its ``n`` trials, as in the HyperBand paper.

The later brackets pause each trial at the bracket's milestone until every
trial of the bracket reaches it, then keep the best ``1 / reduction_factor``
and stop the rest. A paused trial frees its resources, but Ray's
``max_concurrent_trials`` limit counts it until it ends, so a limit below a
bracket's size keeps the bracket from filling (`trials_held_at_once`).
"""

from __future__ import annotations

from typing import Any

from ray.tune.experiment import Trial

from automl.execution._ray_compat import FillingHyperBand, bracket_sizes_of

__all__ = ["HyperBand", "bracket_sizes", "trials_held_at_once"]


class HyperBand(FillingHyperBand):  # type: ignore[misc]  # Ray's class is untyped
    """Ray's `HyperBandScheduler`, whose brackets count every trial they were given (module docstring).

    A resumed run's brackets start anew, from its unfinished trials: Ray saves
    no scheduler state, and would put the finished trials back in brackets too.
    """

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        # A resumed run adds back its finished trials too. In a bracket they would never
        # report again, and the bracket's unfinished trials would wait at its milestone forever.
        if trial.status not in (Trial.TERMINATED, Trial.ERROR):
            super().on_trial_add(tune_controller, trial)


def bracket_sizes(epochs: int, **settings: Any) -> list[int]:
    """The trials of each bracket of one HyperBand round, in the order Ray fills them.

    The first bracket stops no trial; each later one stops all but the best
    ``1 / reduction_factor`` at each of its milestones. Ray skips a bracket
    whose first milestone would be under one epoch.
    """
    return bracket_sizes_of(HyperBand(max_t=epochs, **settings))


def trials_held_at_once(epochs: int, num_trials: int, **settings: Any) -> int:
    """The most trials a bracket of this run pauses together at a milestone (0: none ever do).

    A bracket that stops trials holds all of its trials, running or paused,
    until they reach its milestone; the run's last bracket may get fewer than
    its size. Rounds repeat the same brackets, so one round tells.
    """
    held, given = 0, 0
    for s, size in enumerate(bracket_sizes(epochs, **settings)):
        if given >= num_trials:
            break
        if s > 0:
            held = max(held, min(size, num_trials - given))
        given += size
    return held
