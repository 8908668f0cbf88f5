"""The search side of a run's Tuner: Ray's `OptunaSearch` told as automl's trials end, the
define-by-run function it samples, the study warm-start scores seed, and the stopper that ends a trial.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import optuna
import ray.cloudpickle
from ray.tune.stopper import Stopper

from automl.execution._optuna_compat import fast_log_ndtr
from automl.execution._ray_compat import QuietSpaceOptunaSearch
from search_spaces import Space
from trainers import best_of

if TYPE_CHECKING:
    from automl.planning._warm_start import KnownPoint

__all__ = ["STUDY_NAME", "EndedTrials", "FlatSample", "Searcher", "seeded_storage"]

STUDY_NAME = "optuna"  # OptunaSearch's default; a seeded storage holds a study of this name


@dataclasses.dataclass(frozen=True)
class FlatSample:
    """OptunaSearch's define-by-run function: samples a config in its flat form.

    Ray merges the returned dict over the captured optuna params, so the
    trial's config is exactly the flat form, the same keys as in MLflow.
    It holds only the space: Ray pickles the searcher at every experiment
    snapshot, and a bound method of `Run` would pickle the data and the
    user's code with it.
    """

    space: Space

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return self.space.flatten(self.space.sample(trial))

    def __reduce__(self) -> tuple[Any, ...]:
        # Ray saves the searcher with the standard pickle, which cannot hold a hypermodel's
        # function whose module it cannot import (a closure, a script loaded from a path).
        return (_unpickled_sample, (ray.cloudpickle.dumps(self.space),))


def _unpickled_sample(space: bytes) -> FlatSample:
    return FlatSample(ray.cloudpickle.loads(space))


class Searcher(QuietSpaceOptunaSearch):
    """Ray's `OptunaSearch` (quiet about the space's time), told of each epoch once, and of a trial's end as Optuna's own pruning does.

    A trial restarted from its checkpoint (a killed worker, a resumed run)
    redoes the epochs after that checkpoint and reports them again. Optuna
    keeps a step's first value and warns on the repeat; the tracker keeps the
    first MLflow point too, so the sampler, the pruner and the UI agree.

    With one objective, a trial that ends by itself (epoch cap, early
    stopping) is told COMPLETE with its best epoch's value, the
    ``best_<metric>`` of the results and the model kept, where Ray tells the
    last epoch's. One the scheduler stopped is told PRUNED, its epochs
    already reported: TPE then ranks it below every complete trial, by how
    far it got and then by its value, as with Optuna's own pruners. Ray
    would tell it COMPLETE with its last value, as if an epoch-1 score
    compared with scores after 20 epochs.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Both are saved and restored with the rest of the searcher.
        self._last_step: dict[str, int] = {}
        self._best: dict[str, float] = {}

    def suggest(self, trial_id: str) -> dict | None:
        with fast_log_ndtr():  # TPE's Gaussian tail in SciPy (automl/execution/_optuna_compat.py)
            return super().suggest(trial_id)  # type: ignore[no-any-return]

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        step = result.get("training_iteration")
        if step is not None and step <= self._last_step.get(trial_id, 0):
            return
        super().on_trial_result(trial_id, result)
        if step is not None:
            self._last_step[trial_id] = step
        value = result.get(self.metric) if isinstance(self.metric, str) else None
        if value is not None and math.isfinite(value):
            best = self._best.get(trial_id, value)
            self._best[trial_id] = best_of((best, value), self.mode)  # type: ignore[arg-type]  # Ray types it str

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if result and not error:
            # The last epoch's result, when it ended the trial (`EndedTrials`), reaches only this method.
            self.on_trial_result(trial_id, result)
        best = self._best.pop(trial_id, None)
        self._last_step.pop(trial_id, None)
        if result and not error and isinstance(self.metric, str):
            if not result.get("trial_finished"):
                # No value and no error: Ray's OptunaSearch tells Optuna PRUNED.
                result = {k: v for k, v in result.items() if k != self.metric}
            elif best is not None:
                result = {**result, self.metric: best}
        super().on_trial_complete(trial_id, result, error)


class EndedTrials(Stopper):  # type: ignore[misc]  # Ray's class is untyped
    """Ends a trial at the result its fit marks as its last (the epoch cap, early stopping).

    Ray would hand that result to the scheduler like any other, and end the
    trial only when its function returns. Population Based Training could
    then exploit a trial that had finished: it continued from a better
    trial's checkpoint, trained the last epoch again, reported, and was
    exploited again. The population's lowest trials looped on their last
    epoch until a repeat happened to score higher (a 4-trial, 6-epoch run
    took 88 s, and once over 5 minutes, against 28 s).
    """

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return bool(result.get("trial_finished"))

    def stop_all(self) -> bool:
        return False


def seeded_storage(
    known: Sequence[KnownPoint],
    *,
    direction: Literal["min", "max"],
    sample: Callable[[optuna.Trial], Any],
    study_name: str,
) -> optuna.storages.BaseStorage:
    """An in-memory optuna storage whose study holds ``known`` as COMPLETE trials.

    Ray's `OptunaSearch` loads the study from it (``load_if_exists``); it
    can't take scores with a define-by-run space itself. ``sample`` is the
    define-by-run function, so the trials record the real distributions.
    """
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize" if direction == "min" else "maximize",
        sampler=optuna.samplers.RandomSampler(),  # never asked: every param is enqueued
    )
    for params, value in known:
        study.enqueue_trial(params)
        trial = study.ask()
        sample(trial)
        study.tell(trial, value)
    return storage
