"""Reused Ray workers: kept while the run needs them, replaced once one ran too many trials or grew too much.

TensorFlow keeps memory from every model a process traced, even after
``keras.backend.clear_session()`` (benchmarks/RESULTS.md, section 4: about
6 MiB per trial of a small MLP in plain Keras, 2.3 MiB in ours, whose train
step is traced once per fit instead of twice). Reusing a worker
saves starting a process and importing TensorFlow for each trial, so workers
are reused until they reach a limit, then replaced — gunicorn's
``max_requests``, Celery's ``worker_max_tasks_per_child`` and
``worker_max_memory_per_child``.

Ray Tune 2.x has no such limit and no public hook for it: a trainable that
declines ``reset_config`` fails its next trial instead of getting a fresh
actor. The decision is therefore made where Ray decides whether to cache a
finished trial's actor, in a subclass of its `TuneController`, installed only
while our run's ``Tuner.fit`` runs. Each trial reports its worker's resident
memory (``worker_rss_mib``) with every epoch; that is what the limit reads.

The same subclass keeps the process Ray starts for a trial that then takes a
freed worker, instead of removing it before it is up, and makes a stopped run
register the checkpoints still being saved (see `_controller_class`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ray
import ray.tune.tune as ray_tune_module
from ray.tune.execution.tune_controller import TuneController
from ray.tune.schedulers import TrialScheduler

from search_spaces import ConfigError

__all__ = [
    "RSS_KEY",
    "WorkerPolicy",
    "environment_variable",
    "reusing_workers",
    "replaced_in_ray",
    "worker_rss_mib",
]

logger = logging.getLogger(__name__)

RSS_KEY = "worker_rss_mib"  # in each result a trial reports
_PENDING_SAVES_TIMEOUT_S = 30.0  # a stopped run waits this long for reported checkpoints


def worker_rss_mib() -> float:
    """This process's resident memory in MiB (its peak where /proc is missing)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


@dataclasses.dataclass(frozen=True)
class WorkerPolicy:
    """When a reused worker is replaced by a fresh process.

    Attributes:
        max_trials: Trials one worker runs before it is replaced; ``None``
            for no limit.
        max_memory_growth: Growth of a worker's resident memory over what it
            held at the end of its first trial, as a fraction (``0.1`` = 10%),
            past which it is replaced after its current trial; ``None`` for no
            limit.
    """

    max_trials: int | None = None
    max_memory_growth: float | None = 0.1

    def __post_init__(self) -> None:
        trials, growth = self.max_trials, self.max_memory_growth
        if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
            raise ConfigError(
                f"expected a whole number >= 1 or null (no limit), but got {trials!r}.",
                field="max_trials_per_worker",
            )
        if growth is not None and (
            isinstance(growth, bool) or not isinstance(growth, (int, float)) or not 0 <= growth < float("inf")
        ):
            raise ConfigError(
                f"expected a fraction >= 0 (0.1 = 10%) or null (no limit), but got {growth!r}.",
                field="max_worker_memory_growth",
            )

    @property
    def active(self) -> bool:
        return self.max_trials is not None or self.max_memory_growth is not None

    def exceeded(self, *, trials: int, first_rss: float | None, rss: float | None) -> str | None:
        """Why a worker that has run ``trials`` trials must go, or ``None`` if it may run another."""
        if self.max_trials is not None and trials >= self.max_trials:
            return f"it ran {trials} trials (max_trials_per_worker={self.max_trials})"
        if self.max_memory_growth is not None and first_rss and rss:
            growth = rss / first_rss - 1
            if growth > self.max_memory_growth:
                return (
                    f"its memory grew {growth:+.0%} since its first trial, {first_rss:.0f} -> {rss:.0f} MiB "
                    f"(max_worker_memory_growth={self.max_memory_growth:g})"
                )
        return None


@dataclasses.dataclass
class _Worker:
    trials: int = 0
    first_rss: float | None = None


def _controller_class(policy: WorkerPolicy) -> type[TuneController]:
    class WorkerController(TuneController):  # type: ignore[misc]  # Ray's class is untyped
        """Ray's controller, keeping the worker processes it starts while the run needs them.

        - A finished trial's actor is cached for the next trial only while the
          recycling policy allows.
        - An actor Ray starts for a trial that then takes a freed one is kept,
          as a spare for the next trial, instead of being removed before its
          process is up. Ray stages the next trial as soon as the concurrency
          limit allows, and asks for a new actor if none is free at that moment;
          when trials are shorter than a process start (trivial trainables,
          trials pruned at the first rung), a running trial's actor is always
          freed first, and Ray then removed the new one. Each trial cost a
          process start that never ran a trial, and the run never got its
          second worker. A staged trial that such a spare covers waits for it,
          or for an actor freed before it is up, rather than asking for another.
        - A trial stopped while it has no actor (HyperBand stops paused trials)
          is saved with its new state. Ray refreshes a trial's saved state only
          when it stopped an actor, so such a trial stayed PAUSED in the
          experiment state and a resumed run trained it again.
        - A stopped run (Ctrl-C) registers the checkpoints its trials reported
          but whose save had not come back, before it saves its state for the
          last time (`_finish_pending_saves`).
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._workers: dict[Any, _Worker] = {}
            self._spares: dict[Any, Any] = {}  # actors not yet up -> their resource request

        def __getstate__(self) -> dict[str, Any]:  # Ray saves this as JSON with the experiment state
            state: dict[str, Any] = super().__getstate__()
            for live in ("_workers", "_spares"):  # live processes: nothing to restore
                state.pop(live, None)
            return state

        def stop_trial(self, trial: Any) -> None:
            super().stop_trial(trial)
            self._mark_trial_to_checkpoint(trial)

        def checkpoint(self, force: bool = False, wait: bool = False) -> None:
            if force and wait:  # tune.run's last save of the experiment state, after a stop too
                self._finish_pending_saves(timeout=_PENDING_SAVES_TIMEOUT_S)
            super().checkpoint(force=force, wait=wait)

        def _finish_pending_saves(self, timeout: float) -> None:
            """Registers the checkpoints trials reported whose ``save`` has not come back yet.

            Ray registers a reported checkpoint only when a separate ``save`` task on the
            trial's actor returns, a step after the result itself. A stop (Ctrl-C) that
            lands in between ended the run with the save pending; the experiment state
            then named the checkpoint before, and the resumed trial redid an epoch.
            """
            events = self._actor_manager._actor_task_events
            tracked = events.get_futures()
            pending = []
            for trial in self._trials:
                saving = trial.temporary_state.saving_to
                if saving is None or saving.future not in tracked:
                    continue
                pending.append(saving.future)
                if self._cached_trial_decisions.get(trial.trial_id) == TrialScheduler.CONTINUE:
                    del self._cached_trial_decisions[trial.trial_id]  # the run is over: no more training
            if not pending:
                return
            ready, late = ray.wait(pending, num_returns=len(pending), timeout=timeout)
            for future in ready:  # through Ray's own handler: the checkpoint is registered
                events.resolve_future(future)
            if late:
                logger.warning(
                    "%d trial checkpoints were still being saved after %.0f s; those trials resume "
                    "from the checkpoint before.",
                    len(late),
                    timeout,
                )

        def _maybe_cache_trial_actor(self, trial: Any) -> bool:
            actor = self._trial_to_actor.get(trial)
            if actor is None or not policy.active:
                return bool(super()._maybe_cache_trial_actor(trial))
            worker = self._workers.setdefault(actor, _Worker())
            worker.trials += 1
            rss = (trial.last_result or {}).get(RSS_KEY)
            if worker.first_rss is None:
                worker.first_rss = rss
            reason = policy.exceeded(trials=worker.trials, first_rss=worker.first_rss, rss=rss)
            if reason is not None:
                logger.info("Replacing the worker of trial %s with a fresh process: %s.", trial, reason)
                del self._workers[actor]
                return False  # Ray then stops the actor; the next trial gets a new one
            cached = bool(super()._maybe_cache_trial_actor(trial))
            if not cached:
                self._workers.pop(actor, None)
            return cached

        # Spares ------------------------------------------------------------

        def _maybe_reuse_cached_actor(self, trial: Any) -> bool:
            starting = self._trial_to_actor.get(trial)
            if (
                starting is not None
                and trial not in self._resetting_trials
                and starting not in self._started_actors  # its process is not up yet
                and self._actor_cache.has_cached_object(trial.placement_group_factory)
                and not self._search_alg.is_finished()  # else no next trial would take it
            ):
                # Ray would remove the actor it is starting for this trial; it becomes a spare.
                del self._trial_to_actor[trial]
                del self._actor_to_trial[starting]
                self._spares[starting] = trial.placement_group_factory
                logger.debug(
                    "Trial %s takes a freed worker; %s, started for it, is kept as a spare.", trial, starting
                )
            return bool(super()._maybe_reuse_cached_actor(trial))

        def _schedule_trial_actor(self, trial: Any) -> None:
            request = trial.placement_group_factory
            if (
                not self._actor_cache.has_cached_object(request)
                and self._uncovered_spares(request, trial) > 0
            ):
                trial.init_local_path()  # what Ray's method does before it looks for an actor
                self._mark_trial_to_checkpoint(trial)
                return  # staged: it takes the spare when it is up, or an actor freed before that
            super()._schedule_trial_actor(trial)

        def _actor_started(self, tracked_actor: Any, log: str = "STARTED") -> None:
            request = self._spares.pop(tracked_actor, None)
            if request is None:
                super()._actor_started(tracked_actor, log=log)
                return
            self._started_actors.add(tracked_actor)
            if not self._actor_cache.cache_object(request, tracked_actor):
                logger.debug("Spare %s is up but no trial needs it: removed.", tracked_actor)
                self._remove_actor(tracked_actor=tracked_actor)
                self._cover_waiting_trials(request)
                return
            logger.debug("Spare %s is up and waits for the next trial.", tracked_actor)

        def _actor_failed(self, tracked_actor: Any, exception: Exception) -> None:
            request = self._spares.pop(tracked_actor, None)
            if request is None:
                super()._actor_failed(tracked_actor, exception)
                return
            logger.debug("A spare worker failed to start: %s", exception)
            self._actor_manager.clear_actor_task_futures(tracked_actor)
            tracked_actor.set_on_stop(None)
            tracked_actor.set_on_error(None)
            self._actor_manager.remove_actor(tracked_actor, kill=False)
            self._actor_stopped(tracked_actor)
            self._cover_waiting_trials(request)

        def _cleanup_cached_actors(self, force_all: bool = False) -> None:
            super()._cleanup_cached_actors(force_all=force_all)
            if self._spares and (force_all or (self._search_alg.is_finished() and not self._staged_trials)):
                for spare in list(self._spares):
                    logger.debug("Spare %s is not up and the run needs no more workers: removed.", spare)
                    del self._spares[spare]
                    spare.set_on_stop(None)
                    spare.set_on_error(None)
                    self._remove_actor(tracked_actor=spare)

        def _waiting_trials(self, request: Any, but: Any = None) -> list[Any]:
            """Staged trials with ``request``'s resources that have no actor yet."""
            return [
                trial
                for trial in self._staged_trials
                if trial is not but
                and trial not in self._trial_to_actor
                and trial.placement_group_factory == request
            ]

        def _spares_for(self, request: Any) -> int:
            return sum(1 for each in self._spares.values() if each == request)

        def _uncovered_spares(self, request: Any, trial: Any) -> int:
            return self._spares_for(request) - len(self._waiting_trials(request, but=trial))

        def _cover_waiting_trials(self, request: Any) -> None:
            """A spare is gone: the trials it covered ask Ray for actors of their own."""
            for trial in self._waiting_trials(request)[self._spares_for(request) :]:
                if trial.status == "PENDING":
                    super()._schedule_trial_actor(trial)

    return WorkerController


@contextlib.contextmanager
def reusing_workers(policy: WorkerPolicy) -> Iterator[None]:
    """Makes the `Tuner.fit` calls inside keep and replace reused workers as above."""
    # What tune.run builds; if Ray moved it, workers are reused as Ray does, and the log says so.
    with replaced_in_ray(
        ray_tune_module, "TuneController", _controller_class(policy), still=lambda v: v is TuneController
    ) as replaced:
        if not replaced:
            logger.warning(
                "This Ray version builds its controller differently; workers are reused without limits."
            )
        yield


@contextlib.contextmanager
def replaced_in_ray(module: Any, name: str, value: Any, *, still: Callable[[Any], bool]) -> Iterator[bool]:
    """Sets a Ray internal, ``module.name``, to ``value`` within, and back after.

    Only if ``still(current value)`` says Ray still has it as expected;
    otherwise nothing is replaced, and Ray works as it would. Yields whether
    the value was replaced.
    """
    original = getattr(module, name, None)
    if not still(original):
        yield False
        return
    setattr(module, name, value)
    try:
        yield True
    finally:
        setattr(module, name, original)


@contextlib.contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """Sets ``name`` in this process's environment within, as it was after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before
