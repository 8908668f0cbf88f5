"""The writes the MLflow writer queues: whom they address, and how several become one ``log_batch``."""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Iterable
from typing import Any

from mlflow.entities import Param, RunTag

__all__ = ["Op", "RunRef", "batch_from", "merged"]

# MLflow's limits for one log_batch: entities in all, and of each kind.
_MAX_BATCH = {"total": 1000, "metrics": 1000, "params": 100, "tags": 100}
_KINDS = ("metrics", "params", "tags")


class RunRef:
    """The id of an MLflow run that the writer may not have created yet.

    Args:
        key: A local name for the run (e.g. the Ray trial id), used in the
            pending file before the run exists.
        run_id: The id, when the run already exists. Defaults to `None`.
    """

    def __init__(self, key: str, run_id: str | None = None) -> None:
        self.key = key
        self.id = run_id

    def __repr__(self) -> str:
        return f"RunRef({self.key!r}, {self.id!r})"


@dataclasses.dataclass
class Op:
    """One write: an MlflowClient method, the run it addresses, its arguments."""

    method: str  # an MlflowClient method
    run: RunRef | None  # the run it writes to (None: create_run, which fills ``creates``)
    kwargs: dict[str, Any]
    creates: RunRef | None = None
    seq: int = 0  # its number in this writer's journal entries
    queued_at: float = dataclasses.field(default_factory=time.monotonic)
    attempts: int = 0

    @property
    def batchable(self) -> bool:
        """A log_batch: merged with the same run's next ones, up to its next other write."""
        return self.method == "log_batch" and set(self.kwargs) <= set(_KINDS)

    def counts(self) -> dict[str, int]:
        sizes = {kind: len(self.kwargs.get(kind) or ()) for kind in _KINDS}
        return {**sizes, "total": sum(sizes.values())}

    def describe(self) -> str:
        what = {"log_batch": self._batch_size(), "create_run": "the run itself"}.get(self.method, self.method)
        return f"{self.run.key if self.run else self.creates.key if self.creates else '?'}: {what}"

    def _batch_size(self) -> str:
        parts = [
            f"{len(self.kwargs.get(k) or [])} {k}"
            for k in ("metrics", "params", "tags")
            if self.kwargs.get(k)
        ]
        return ", ".join(parts) or "an empty batch"


def merged(parts: list[Op]) -> Op:
    """One log_batch doing what several do in turn: metrics in order, a tag's last value, a param's first."""
    metrics = [m for part in parts for m in part.kwargs.get("metrics") or ()]
    params: dict[str, Param] = {}
    tags: dict[str, RunTag] = {}
    for part in parts:
        for param in part.kwargs.get("params") or ():
            params.setdefault(param.key, param)  # a second value is refused either way
        for tag in part.kwargs.get("tags") or ():
            tags.pop(tag.key, None)
            tags[tag.key] = tag
    kwargs = {"metrics": metrics, "params": list(params.values()), "tags": list(tags.values())}
    return Op("log_batch", parts[0].run, kwargs, seq=parts[0].seq)


def batch_from(queue: Iterable[Op], head: Op) -> list[Op]:
    """The head of ``queue`` and the log_batch writes to its run queued after it, up to the first other write to that run."""
    if not head.batchable:
        return [head]
    parts, counts = [head], head.counts()
    for op in itertools.islice(queue, 1, None):
        if op.run is not head.run:
            continue
        more = op.counts()
        if not op.batchable or any(counts[k] + more[k] > limit for k, limit in _MAX_BATCH.items()):
            break  # keeps this run's writes in order (e.g. its end state after its last epoch)
        parts.append(op)
        counts = {k: counts[k] + more[k] for k in counts}
    return parts
