"""Reused Ray workers: kept while the run needs them, replaced once one ran too many trials or grew too much.

TensorFlow keeps memory from every model a process traced, even after
``keras.backend.clear_session()`` (benchmarks/LOG.md, section 4; less
in ours, whose train step is traced once per fit instead of twice). Reusing a worker
saves starting a process and importing TensorFlow for each trial, so workers
are reused until they reach a limit, then replaced — gunicorn's
``max_requests``, Celery's ``worker_max_tasks_per_child`` and
``worker_max_memory_per_child``.

Ray Tune 2.x has no such limit and no public hook for it. The decision is
made where Ray decides whether to cache a finished trial's actor, in a
subclass of its private `TuneController` (automl/execution/_ray_compat.py), which asks
`WorkerPolicy` here. Each trial reports its worker's resident memory
(``worker_rss_mib``) with every epoch; that is what the limit reads.

The same subclass keeps the process Ray starts for a trial that then takes a
freed worker, instead of removing it before it is up, and makes a stopped run
register the checkpoints still being saved.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import resource
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from automl.tracking._ranking import RSS_KEY  # in each result a trial reports
from search_spaces import ConfigError
from search_spaces._checks import is_int, is_real

__all__ = [
    "RSS_KEY",
    "WorkerPolicy",
    "reusing_workers",
    "worker_rss_mib",
]

logger = logging.getLogger(__name__)


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
        if trials is not None and (not is_int(trials, plain=True) or trials < 1):
            raise ConfigError(
                f"expected a whole number >= 1 or null (no limit), but got {trials!r}.",
                field="max_trials_per_worker",
            )
        if growth is not None and (not is_real(growth, plain=True) or not 0 <= growth < float("inf")):
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


class _Keeper:
    """Counts each reused worker's trials and memory, for one Ray controller: `WorkerPolicy` decides."""

    def __init__(self, policy: WorkerPolicy) -> None:
        self.policy = policy
        self.active = policy.active
        self.workers: dict[Any, _Worker] = {}

    def finished(self, worker: Any, last_result: Mapping[str, Any] | None) -> str | None:
        state = self.workers.setdefault(worker, _Worker())
        state.trials += 1
        rss = (last_result or {}).get(RSS_KEY)
        if state.first_rss is None:
            state.first_rss = rss
        return self.policy.exceeded(trials=state.trials, first_rss=state.first_rss, rss=rss)

    def forget(self, worker: Any) -> None:
        self.workers.pop(worker, None)


@contextlib.contextmanager
def reusing_workers(policy: WorkerPolicy) -> Iterator[None]:
    """Makes the `Tuner.fit` calls inside keep and replace reused workers as ``policy`` says."""
    # Here, not at the top: trial workers import this module, and need none of Ray Tune's driver side.
    from automl.execution._ray_compat import controller_replaced

    with controller_replaced(lambda: _Keeper(policy)):
        yield
