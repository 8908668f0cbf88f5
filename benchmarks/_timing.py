"""Timing automl's own pieces from the outside, without changing library code.

`instrumented()` swaps, for the duration of one `automl.tune` call, the names
the run looks up (``MlflowTracker`` in `automl.execution._runner`, ``MlflowClient`` in
`automl.execution._run_record`, and ``Searcher``, its OptunaSearch, in
`automl.execution._tuner`) for subclasses whose methods add their wall time to a
`Ledger`. The subclasses only time; they call the real methods unchanged.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from mlflow.tracking import MlflowClient

import automl.execution._run_record as run_record
import automl.execution._runner as runner
import automl.execution._tuner as tuner
import automl.tracking._tracking as tracking
from automl.execution._searcher import Searcher
from automl.tracking._tracking import MlflowTracker
from automl.tracking._writer import MlflowWriter

# What the driver calls on the MLflow client during a run.
_CLIENT_METHODS = (
    "__init__",
    "get_experiment_by_name",
    "create_experiment",
    "set_experiment_tag",
    "create_run",
    "log_batch",
    "log_text",
    "log_dict",
    "set_terminated",
)
# The Ray Tune callback hooks the tracker implements, plus its end-of-run summary.
_TRACKER_METHODS = (
    "on_trial_start",
    "on_trial_result",
    "on_trial_recover",
    "on_trial_complete",
    "on_trial_error",
    "log_summary",
)
_SEARCHER_METHODS = ("suggest", "on_trial_complete", "on_trial_result")


class Ledger:
    """Seconds and calls per (group, method).

    ``outermost`` sums only calls not made from inside another timed call
    (a tracker hook's MLflow calls count once), so it never double-counts.
    """

    def __init__(self) -> None:
        self.seconds: collections.defaultdict[tuple[str, str], float] = collections.defaultdict(float)
        self.calls: collections.Counter[tuple[str, str]] = collections.Counter()
        self.outermost = 0.0
        self.depth = 0
        self.trackers: list[MlflowTracker] = []

    def add(self, group: str, name: str, elapsed: float) -> None:
        self.seconds[group, name] += elapsed
        self.calls[group, name] += 1
        if self.depth == 0:
            self.outermost += elapsed

    def total(self, group: str, exclude: tuple[str, ...] = ()) -> float:
        return sum(s for (g, n), s in self.seconds.items() if g == group and n not in exclude)

    def count(self, group: str, name: str) -> int:
        return self.calls[group, name]


# The ledger the timed subclasses write to; set by `instrumented()` only.
_active: list[Ledger] = []


def _timed(group: str, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _active:
            return func(*args, **kwargs)
        ledger = _active[-1]
        ledger.depth += 1
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            ledger.depth -= 1
            ledger.add(group, name, time.perf_counter() - start)

    return wrapper


class TimedMlflowClient(MlflowClient):
    pass


class TimedMlflowTracker(MlflowTracker):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if _active:  # so a benchmark can read the records (start times) afterwards
            _active[-1].trackers.append(self)


class TimedOptunaSearch(Searcher):
    pass


for _cls, _group, _names in (
    (TimedMlflowClient, "mlflow", _CLIENT_METHODS),
    (TimedMlflowTracker, "tracker", _TRACKER_METHODS),
    (TimedOptunaSearch, "optuna", _SEARCHER_METHODS),
):
    for _name in _names:
        setattr(_cls, _name, _timed(_group, _name, getattr(_cls.__mro__[1], _name)))


@contextlib.contextmanager
def instrumented() -> Iterator[Ledger]:
    """Times automl's MLflow client calls, tracker hooks and Optuna searcher within."""
    ledger = Ledger()
    swaps = {
        (run_record, "MlflowClient"): TimedMlflowClient,
        (runner, "MlflowTracker"): TimedMlflowTracker,
        (tuner, "Searcher"): TimedOptunaSearch,
    }
    saved = {where: getattr(*where) for where in swaps}
    for (module, name), timed in swaps.items():
        setattr(module, name, timed)
    _active.append(ledger)
    try:
        yield ledger
    finally:
        _active.pop()
        for (module, name), original in saved.items():
            setattr(module, name, original)


class _DiscardingWriter(MlflowWriter):
    """Journals every write as the real writer does, then drops it instead of sending it to MLflow."""

    def _send(self, op: Any) -> bool:
        if op.creates is not None:  # later writes name the run by this id
            op.creates.id = uuid.uuid4().hex
        return True


@contextlib.contextmanager
def mlflow_writes_discarded() -> Iterator[None]:
    """Within, the tracker's writes (child runs, params, per-epoch metrics, states) never reach MLflow.

    Everything else runs unchanged: the tracker's hooks, the journal, and the
    driver's own calls (experiment, parent run, artifacts). The difference to a
    normal run is the cost of writing the trials to the store.
    """
    saved = tracking.MlflowWriter
    tracking.MlflowWriter = _DiscardingWriter  # type: ignore[misc]
    try:
        yield
    finally:
        tracking.MlflowWriter = saved  # type: ignore[misc]
