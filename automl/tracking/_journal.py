"""The writer's journal: every write as a JSON line before it is sent, acknowledged once it was; replay of the rest."""

from __future__ import annotations

import collections
import concurrent.futures
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from automl._environ import no_run_links
from automl.tracking._credentials import is_tracking_server
from automl.tracking._mlflow_process import entity, plain
from automl.tracking._ops import Op, RunRef, batch_from, merged

__all__ = ["PENDING_FILE", "Journal", "existing_run", "replay", "unsent"]

logger = logging.getLogger(__name__)

PENDING_FILE = "mlflow_journal.jsonl"
_REPLAY_THREADS = 4  # calls at once to a tracking server (MLflow's server runs 4 workers by default)


class Journal:
    """Appends one writer's entries to the run's journal (several writers may share it).

    A write's entry comes before it is sent, its acknowledgement once it was.
    The writer calls both under its lock; a killed process keeps what it wrote.
    """

    def __init__(self, path: Path, *, writer_id: str) -> None:
        self.path = path
        self._writer_id = writer_id

    def written(self, op: Op) -> None:
        ref = op.creates or op.run
        self._append(
            {
                "w": self._writer_id,
                "seq": op.seq,
                "method": op.method,
                "run_key": ref.key if ref else None,
                "run_id": ref.id if ref else None,
                "kwargs": plain(op.kwargs),
            }
        )

    def acked(self, op: Op) -> None:
        ack: dict[str, Any] = {"w": self._writer_id, "ack": op.seq}
        if op.creates is not None:  # later entries name the run by key only
            ack.update(run_key=op.creates.key, run_id=op.creates.id)
        self._append(ack)

    def _append(self, entry: Mapping[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


def _read(journal: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The journal's unacknowledged writes, in order, and the run ids of the runs it created."""
    if not journal.exists():
        return [], {}
    entries = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    acked = {(e["w"], e["ack"]) for e in entries if "ack" in e}
    created = {e["run_key"]: e["run_id"] for e in entries if "ack" in e and e.get("run_id")}
    return [e for e in entries if "seq" in e and (e["w"], e["seq"]) not in acked], created


def unsent(journal: Path) -> list[dict[str, Any]]:
    """The journal's writes that were never acknowledged, in order."""
    return _read(journal)[0]


def replay(journal: str | Path, tracking_uri: str) -> int:
    """Sends the writes a journal holds unacknowledged; returns how many were sent.

    Runs created here get the writes addressed to them; a trial's run that
    exists already (its creation was sent, not acknowledged) is reused, and
    metric points the store already holds are not sent twice. A run's
    consecutive ``log_batch`` writes go as one call, as the writer sends them,
    so a study's journal costs a few calls per trial, not one per epoch; a
    tracking server gets several runs' calls at once. The journal is removed
    once everything was sent.

    Raises:
        MlflowException: The store is unreachable; the journal stays.
    """
    path = Path(journal)
    client = MlflowClient(tracking_uri)
    pending, ids = _read(path)
    by_run: dict[str, collections.deque[Op]] = {}  # runs are independent; each keeps its order
    refs: dict[str, RunRef] = {}
    for record in pending:
        key = record["run_key"]
        ref = refs.setdefault(key, RunRef(key, record["run_id"] or ids.get(key)))
        kwargs = {k: entity(v) for k, v in record["kwargs"].items()}
        creates = record["method"] == "create_run"
        op = Op(record["method"], None if creates else ref, kwargs, creates=ref if creates else None)
        by_run.setdefault(key, collections.deque()).append(op)
    # A tracking server answers several calls at once (its workers): runs go side by side.
    # A sqlite file takes one writer at a time, so there they go one after another.
    threads = _REPLAY_THREADS if is_tracking_server(tracking_uri) else 1
    # no_run_links: a run link per trial would flood the terminal.
    with no_run_links(), concurrent.futures.ThreadPoolExecutor(threads) as pool:
        sent = sum(pool.map(lambda ops: _replay_run(client, ops), by_run.values()))
    path.unlink(missing_ok=True)
    return sent


def _replay_run(client: MlflowClient, ops: collections.deque[Op]) -> int:
    """Sends one run's kept writes in order; returns how many."""
    sent = 0
    made_here = False  # a run this replay created holds no points yet
    while ops:
        parts = batch_from(ops, ops[0])
        for _ in parts:
            ops.popleft()
        op = merged(parts) if len(parts) > 1 else parts[0]
        if op.creates is not None:
            found = existing_run(client, op.kwargs)
            made_here = found is None
            op.creates.id = found or client.create_run(**op.kwargs).info.run_id
        elif op.run is None or op.run.id is None:  # its creation was refused by the store
            logger.warning("replay: no MLflow run for %s; skipped", op.describe())
            continue
        else:
            if op.method == "log_batch" and op.kwargs.get("metrics") and not made_here:
                op.kwargs["metrics"] = _new_points(client, op.run.id, op.kwargs["metrics"])
            getattr(client, op.method)(op.run.id, **op.kwargs)
        sent += len(parts)
    return sent


def existing_run(client: MlflowClient, create_kwargs: Mapping[str, Any]) -> str | None:
    tags = create_kwargs.get("tags") or {}
    if "automl.trial_id" not in tags or "mlflow.parentRunId" not in tags:
        return None
    runs = client.search_runs(
        [create_kwargs["experiment_id"]],
        filter_string=(
            f"tags.mlflow.parentRunId = '{tags['mlflow.parentRunId']}' "
            f"and tags.automl.trial_id = '{tags['automl.trial_id']}'"
        ),
    )
    return runs[0].info.run_id if runs else None


def _new_points(client: MlflowClient, run_id: str, metrics: list[Metric]) -> list[Metric]:
    have: Mapping[str, set[tuple[int, float]]] = collections.defaultdict(set)
    for key in {m.key for m in metrics}:
        have[key].update((m.step, m.value) for m in client.get_metric_history(run_id, key))  # type: ignore[attr-defined]
    return [m for m in metrics if (m.step, m.value) not in have[m.key]]
