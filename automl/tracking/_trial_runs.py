"""What happens to a trial, as writes to its nested MLflow run."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import DatasetInput, Metric, Param, RunTag

from automl._result import TrialState
from automl._trial_names import TENSORBOARD_DIR, TRIAL_NAME_FILE, trial_run_name
from automl.tracking._ops import RunRef
from automl.tracking._records import TrialRecord
from automl.tracking._writer import MlflowWriter

__all__ = ["TrialRuns", "param_batches"]

_BATCH_LIMIT = 100  # params per log_batch call accepted by every MLflow store


def param_batches(params: Mapping[str, Any]) -> list[list[Param]]:
    """A flat config as MLflow params (``None`` as ``"None"``), in batches every store accepts."""
    items = [Param(k, "None" if v is None else str(v)) for k, v in params.items()]
    return [items[start : start + _BATCH_LIMIT] for start in range(0, len(items), _BATCH_LIMIT)]


# What Ray Tune writes into a trial's directory itself; other files there came from the trial's callbacks.
_RAY_TRIAL_FILES = frozenset({"params.json", "params.pkl", "progress.csv", "result.json", "error.txt", "error.pkl"})
_OWN_TRIAL_FILES = _RAY_TRIAL_FILES | {TRIAL_NAME_FILE}  # and the run's: the trial's name
_CHECKPOINT_PREFIX = "checkpoint_"


# A trial's end state as its MLflow run's status.
_RUN_STATUS = {
    TrialState.COMPLETE: "FINISHED",
    TrialState.PRUNED: "KILLED",
    TrialState.STOPPED: "KILLED",
    TrialState.INTERRUPTED: "KILLED",
}


class TrialRuns:
    """Writes each trial's nested MLflow run through the writer: its creation, epochs, tags and end.

    MLflow itself holds the trial → run mapping: each child run is tagged with
    its trial id, number and typed params, so a resumed run finds and reuses
    its children (`automl.tracking._reload`).

    Args:
        writer: Sends the writes.
        experiment_id: Experiment of the parent run.
        parent_run_id: The tuning run's MLflow run; trials are nested under it.
        metric: Optimized metric; each trial's best value is logged as ``best_<metric>``.
        mutated: Params a PBT scheduler changes while trials train: each is
            also logged every epoch as the metric ``config.<key>``.
        tensorboard_artifacts: Whether a trial's TensorBoard event files
            (``tensorboard=True``) are attached to its run, under ``tensorboard/``.
    """

    def __init__(
        self,
        writer: MlflowWriter,
        *,
        experiment_id: str,
        parent_run_id: str,
        metric: str,
        mutated: Sequence[str] = (),
        tensorboard_artifacts: bool = False,
        dataset: DatasetInput | None = None,
    ) -> None:
        self._writer = writer
        self._dataset = dataset
        self._tensorboard_artifacts = tensorboard_artifacts
        self._experiment_id = experiment_id
        self.parent = RunRef("parent", parent_run_id)
        self._metric = metric
        self._mutated = tuple(mutated)

    def create(self, trial_id: str, number: int, params: Mapping[str, Any], resources: Mapping[str, Any]) -> RunRef:
        """A new child run, tagged so that a resumed driver finds it, with the trial's params."""
        run = self._writer.create_run(
            trial_id,
            experiment_id=self._experiment_id,
            run_name=trial_run_name(number),
            tags={
                "mlflow.parentRunId": self.parent.id,
                "automl.trial_id": trial_id,
                "automl.trial_number": str(number),
                "automl.resources": json.dumps(resources),
                "automl.params": json.dumps(params),  # typed, for a resumed driver
            },
        )
        for batch in param_batches(params):
            self._writer.call("log_batch", run, params=batch)
        if self._dataset is not None:
            self._writer.call("log_inputs", run, datasets=[self._dataset])
        return run

    def reopen(self, record: TrialRecord) -> None:
        self._writer.call("update_run", record.run, status="RUNNING")

    def epoch(self, record: TrialRecord, epoch: int, values: Mapping[str, float], *, moved: bool) -> None:
        """One epoch's metrics (and the mutated params' values); the trial's worker if ``moved``; its
        last epoch if the trainer said so."""
        now = int(time.time() * 1000)
        metrics = [Metric(name, value, now, epoch) for name, value in values.items()]
        metrics.extend(Metric(f"config.{key}", float(record.params[key]), now, epoch) for key in self._mutated)
        tags = self._worker_tags(record) if moved else []
        if record.ended_by_itself:  # kept with the last epoch: a restored trial Ray restarts ends COMPLETE
            tags.append(RunTag("automl.finished_epoch", str(epoch)))
        self._writer.call("log_batch", record.run, metrics=metrics, tags=tags)

    def moved(self, record: TrialRecord) -> None:
        """Tags saying which worker runs the trial (first result, a retry)."""
        self._writer.call("log_batch", record.run, tags=self._worker_tags(record))

    @staticmethod
    def _worker_tags(record: TrialRecord) -> list[RunTag]:
        return [
            RunTag("automl.worker", str(record.worker)),
            RunTag("automl.node_ip", str(record.worker).rsplit(":", 1)[0]),
            RunTag("automl.node_id", str(record.node)),
        ]

    def exploited(self, record: TrialRecord, epoch: int, source: str) -> None:
        """PBT gave the trial ``source``'s checkpoint and a new config; its params stay its first config."""
        tags = [
            RunTag("automl.params", json.dumps(record.params)),
            RunTag("automl.pbt_exploits", str(record.exploits)),
            RunTag("automl.pbt_last_exploit", f"at epoch {epoch - 1}: {source}"),
        ]
        self._writer.call("log_batch", record.run, tags=tags)

    def retried(self, record: TrialRecord, failures: int) -> None:
        self._writer.call("set_tag", record.run, key="automl.retries", value=str(failures))

    def traceback(self, record: TrialRecord, text: str) -> None:
        self._writer.call("log_text", record.run, text=text, artifact_file="error.txt")

    def ended(self, record: TrialRecord, best: float) -> None:
        """The trial's end state, its best value and why it ended; then the run's own status."""
        tags = [RunTag("automl.state", record.state.value)]
        if record.state is TrialState.PRUNED:
            tags.append(RunTag("automl.pruned_at_epoch", str(record.epochs)))
        if record.state is TrialState.STOPPED:
            tags.append(RunTag("automl.stopped", f"by the run's time budget at epoch {record.epochs}"))
        if record.error:
            tags.append(RunTag("automl.error", record.error[:5000]))
        ended = int((record.ended or time.time()) * 1000)
        metrics = [Metric(f"best_{self._metric}", best, ended, record.epochs)] if math.isfinite(best) else []
        self._writer.call("log_batch", record.run, metrics=metrics, tags=tags)
        self._writer.call("set_terminated", record.run, status=_RUN_STATUS.get(record.state, "FAILED"))

    def attach_files(self, record: TrialRecord, trial_dir: str | None) -> None:
        """Attaches what the trial's callbacks wrote into its directory to its MLflow run, under ``files/``.

        The trial runs in its directory (`automl.execution._trainable.in_trial_dir`);
        Ray's own files, the checkpoints and the trial's name there are left
        out, and so are its TensorBoard event files unless they were asked
        for: those go under ``tensorboard/``.
        """
        if not trial_dir or not os.path.isdir(trial_dir):
            return
        for root, folders, files in os.walk(trial_dir):
            here = Path(root).relative_to(trial_dir)
            if here == Path("."):
                folders[:] = [f for f in folders if not f.startswith(_CHECKPOINT_PREFIX) and f != TENSORBOARD_DIR]
                files = [f for f in files if f not in _OWN_TRIAL_FILES]
            for name in sorted(files):
                artifact_path = "files" if here == Path(".") else f"files/{here.as_posix()}"
                self._writer.call(
                    "log_artifact", record.run, local_path=os.path.join(root, name), artifact_path=artifact_path
                )
        events = os.path.join(trial_dir, TENSORBOARD_DIR)
        if self._tensorboard_artifacts and os.path.isdir(events):
            self._writer.call("log_artifacts", record.run, local_dir=events, artifact_path=TENSORBOARD_DIR)

    def deleted(self, record: TrialRecord, why: str) -> None:
        """Deletes the trial's run (MLflow keeps it restorable) and says why on the parent."""
        self._writer.call("delete_run", record.run)
        self._writer.call("set_tag", self.parent, key=f"automl.deleted.{record.run_id}", value=why)

    def renumbered(self, record: TrialRecord) -> None:
        self._writer.call("set_tag", record.run, key="automl.trial_number", value=str(record.number))
        self._writer.call("set_tag", record.run, key="mlflow.runName", value=trial_run_name(record.number))

    def summary(
        self, counts: Mapping[str, int], best: float | None, table: str, best_config: Mapping[str, Any] | None
    ) -> None:
        """The run's summary on the parent: trials per state, the best value, the trials table and best config."""
        now = int(time.time() * 1000)
        metrics = [Metric(f"trials_{state.lower()}", float(n), now, 0) for state, n in counts.items()]
        if best is not None:
            metrics.append(Metric(f"best_{self._metric}", best, now, 0))
        self._writer.call("log_batch", self.parent, metrics=metrics)
        self._writer.call("log_text", self.parent, text=table, artifact_file="trials.csv")
        if best_config is not None:
            self._writer.call("log_dict", self.parent, dictionary=dict(best_config), artifact_file="best_config.json")

    def terminate_parent(self, status: str) -> None:
        self._writer.call("set_terminated", self.parent, status=status)
