"""Trials ranked by their metric: each one's best value and epoch, the best trial, the trials table.

Imports no MLflow and no Ray: a trial worker reads ``RSS_KEY`` from here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from automl._result import TrialState
from trainers import best_of, better_sign

if TYPE_CHECKING:
    from automl.tracking._records import TrialRecord

__all__ = ["RSS_KEY", "Ranking"]

RSS_KEY = "worker_rss_mib"  # in each result a trial reports; the trials table shows its last value


def _last(values: Sequence[float]) -> float:
    return values[-1] if values else math.nan


class Ranking:
    """Scores trial records by ``metric``, optimized in ``mode``; ``objectives`` are further columns of the table."""

    def __init__(self, metric: str, mode: Literal["min", "max"], objectives: Sequence[str] = ()) -> None:
        self.metric = metric
        self.mode = mode
        self.objectives = tuple(objectives)

    def best(self, record: TrialRecord) -> float:
        """The best finite value of the metric over the trial's epochs; NaN while there is none."""
        values = [v for v in record.history.get(self.metric, []) if math.isfinite(v)]
        if not values:
            return math.nan
        return best_of(values, self.mode)

    def follow_best(self, record: TrialRecord, value: float, epoch: int) -> None:
        """Notes ``epoch`` as the trial's best when ``value`` beats its history so far (call before adding it).

        Strictly better only: as Keras's EarlyStopping, the first of equal values is the best epoch.
        """
        best = self.best(record)
        if not math.isfinite(value):
            return
        if not math.isfinite(best) or (value > best if self.mode == "max" else value < best):
            record.best_epoch = epoch

    def best_record(self, records: Iterable[TrialRecord], *, finished: bool = False) -> TrialRecord | None:
        """The trial with the best value of the metric over its epochs, among those that did not fail.

        A failed trial's epochs before its failure may score well, but its
        model is not one to hand over (it raised, ran out of memory, diverged).
        ``finished``: among the trials that ended only, not those still running.
        """
        scored = [
            r
            for r in records
            if r.state is not TrialState.FAILED
            and (r.state.is_finished() or not finished)
            and math.isfinite(self.best(r))
        ]
        if not scored:
            return None
        sign = better_sign(self.mode)
        return max(scored, key=lambda r: sign * self.best(r))

    def dataframe(self, records: Iterable[TrialRecord]) -> pd.DataFrame:
        """One row per trial, in trial-number order."""
        return pd.DataFrame([self._row(record) for record in sorted(records, key=lambda r: r.number)])

    def _row(self, record: TrialRecord) -> dict[str, Any]:
        history = record.history.get(self.metric, [])
        return {
            "trial_id": record.trial_id,
            "number": record.number,
            "state": record.state.value,
            "epochs": record.epochs,
            "duration_s": (record.ended or time.time()) - record.started,
            self.metric: history[-1] if history else math.nan,
            f"best_{self.metric}": self.best(record),
            "best_epoch": record.best_epoch,
            **{name: _last(record.history.get(name, [])) for name in self.objectives},
            "error": record.error,
            "worker": record.worker,
            RSS_KEY: _last(record.history.get(RSS_KEY, [])),  # at its last epoch
            "node": record.node,
            "mlflow_run_id": record.run_id,
            **{f"params.{k}": v for k, v in record.params.items()},
        }

    def summaries(self, records: Iterable[TrialRecord]) -> list[dict[str, Any]]:
        """Per trial: flat params, state, best value and per-epoch history of the metric."""
        return [
            {
                "params": r.params,
                "state": r.state,
                "value": self.best(r),
                "history": r.history.get(self.metric, []),
            }
            for r in sorted(records, key=lambda r: r.number)
        ]
