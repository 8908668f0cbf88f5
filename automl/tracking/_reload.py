"""The trials' records rebuilt from MLflow, for the driver of a resumed run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from mlflow.tracking import MlflowClient

from automl._result import TrialState
from automl.tracking._ops import RunRef
from automl.tracking._ranking import Ranking
from automl.tracking._records import TrialRecord

__all__ = ["load_records"]


def load_records(
    client: MlflowClient,
    *,
    experiment_id: str,
    parent_run_id: str,
    metric_names: Sequence[str],
    ranking: Ranking,
) -> dict[str, TrialRecord]:
    """The records of the trials whose child runs the parent holds, with each one's metric history."""
    records = {}
    for run in _children(client, experiment_id, parent_run_id):
        record = _record(run)
        if record is None:
            continue
        for name in metric_names:
            points = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
            if points:
                record.history[name] = []
                for point in points:
                    if name == ranking.metric:
                        ranking.follow_best(record, point.value, point.step)
                    record.history[name].append(point.value)
                record.epochs = max(record.epochs, points[-1].step)
        records[record.trial_id] = record
    return records


def _record(run: Any) -> TrialRecord | None:
    """A child run's record from its tags, without its metrics; None for a run the tracker did not make."""
    tags = run.data.tags
    if "automl.trial_id" not in tags:
        return None
    # Interrupted trials continue on resume, like those a killed driver left RUNNING.
    running = run.info.status == "RUNNING" or tags.get("automl.state") == TrialState.INTERRUPTED.value
    return TrialRecord(
        trial_id=tags["automl.trial_id"],
        number=int(tags["automl.trial_number"]),
        run=RunRef(tags["automl.trial_id"], run.info.run_id),
        params=json.loads(tags["automl.params"]),
        started=run.info.start_time / 1000,
        state=TrialState.RUNNING if running else TrialState(tags.get("automl.state", "FAILED")),
        ended=None if running or run.info.end_time is None else run.info.end_time / 1000,
        error=tags.get("automl.error"),
        worker=tags.get("automl.worker"),
        node=tags.get("automl.node_id"),
        ended_by_itself="automl.finished_epoch" in tags,
        exploits=int(tags.get("automl.pbt_exploits", 0)),
    )


def _children(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Any]:
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs
