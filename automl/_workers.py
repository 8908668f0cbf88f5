"""Recycling of reused Ray workers: a fresh process once one has run too many trials or grown too much.

TensorFlow keeps memory from every model a process traced, even after
``keras.backend.clear_session()`` (benchmarks/RESULTS.md, section 4: about
6 MiB per trial of a small MLP, in plain Keras as in ours). Reusing a worker
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

import ray.tune.tune as ray_tune_module
from ray.tune.execution.tune_controller import TuneController

from search_spaces import ConfigError

__all__ = [
    "RSS_KEY",
    "WorkerPolicy",
    "environment_variable",
    "recycling_workers",
    "replaced_in_ray",
    "worker_rss_mib",
]

logger = logging.getLogger(__name__)

RSS_KEY = "worker_rss_mib"  # in each result a trial reports


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
    class RecyclingController(TuneController):  # type: ignore[misc]  # Ray's class is untyped
        """Ray's controller, which keeps a finished trial's actor only while the policy allows."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._workers: dict[Any, _Worker] = {}

        def __getstate__(self) -> dict[str, Any]:  # Ray saves this as JSON with the experiment state
            state: dict[str, Any] = super().__getstate__()
            state.pop("_workers", None)  # live processes: nothing to restore
            return state

        def _maybe_cache_trial_actor(self, trial: Any) -> bool:
            actor = self._trial_to_actor.get(trial)
            if actor is None:
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

    return RecyclingController


@contextlib.contextmanager
def recycling_workers(policy: WorkerPolicy) -> Iterator[None]:
    """Makes the `Tuner.fit` calls inside replace reused workers by ``policy``."""
    if not policy.active:
        yield
        return
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
