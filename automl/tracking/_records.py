"""A trial as the tracker knows it: the record it keeps in memory and rebuilds from MLflow."""

from __future__ import annotations

import dataclasses
from typing import Any

from automl._result import TrialState
from automl.tracking._ops import RunRef

__all__ = ["TrialRecord"]


@dataclasses.dataclass
class TrialRecord:
    trial_id: str
    number: int
    run: RunRef  # the child run; its id is known once the writer has created it
    params: dict[str, Any]
    started: float
    history: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    epochs: int = 0
    best_epoch: int = 0  # the first epoch with the best value of the metric; 0 while none is finite
    state: TrialState = TrialState.RUNNING
    ended: float | None = None
    error: str | None = None
    worker: str | None = None  # node_ip:pid of the Ray worker that ran it
    node: str | None = None  # Ray node id
    ended_by_itself: bool = False  # the trainer said its last epoch was the last
    exploits: int = 0  # times PBT gave it a better trial's checkpoint and a mutated config

    @property
    def run_id(self) -> str | None:
        return self.run.id
