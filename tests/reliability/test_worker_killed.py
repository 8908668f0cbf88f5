"""A worker process SIGKILLed mid-trial: with retries, the trial continues from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import keras
import pytest
from mlflow.tracking import MlflowClient
from ray import tune

import automl
from search_spaces import Dense, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EPOCHS = 8
KILLED_AT = 3  # epochs the first attempt finishes and reports before its process dies


class KillsItsWorkerOnce(keras.callbacks.Callback):
    """SIGKILLs the worker process it runs in as epoch ``KILLED_AT + 1`` begins, once.

    From inside the trial, so the kill lands mid-trial however fast epochs
    run (a killer watching MLflow from outside saw epochs up to 2 s late, by
    which time a 25-epoch digits trial had ended). The marker file, written
    before the kill, holds the killed process's id and stops the retry from
    killing its own worker. Each attempt also writes to ``journal`` the
    checkpoint Ray handed it and the epochs it began: Ray's own result.json
    is no witness, as a retry may replace it with an older copy from storage.
    """

    def __init__(self, marker: str, journal: str) -> None:
        super().__init__()
        self.marker = marker
        self.journal = journal

    def _write(self, **entry: object) -> None:
        with open(self.journal, "a", encoding="utf-8") as file:
            file.write(json.dumps({"pid": os.getpid(), **entry}) + "\n")

    def on_train_begin(self, logs: dict | None = None) -> None:
        checkpoint = tune.get_checkpoint()
        done = None
        if checkpoint is not None:
            with checkpoint.as_directory() as directory:
                done = json.loads((Path(directory) / "state.json").read_text())["epoch"]
        self._write(restored_epochs_done=done)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._write(begins=epoch)
        if epoch == KILLED_AT and not os.path.exists(self.marker):
            with open(self.marker, "w", encoding="utf-8") as file:
                file.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_resumes_its_trial_from_the_checkpoint(ray_local, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    marker = tmp_path / "killed.pid"
    journal = tmp_path / "attempts.jsonl"
    result = automl.tune(
        Space(layers=LayerStack(Dense(units=32)), learning_rate=1e-3),
        data="digits",
        num_trials=1,
        epochs=EPOCHS,
        patience=EPOCHS,
        scheduler="fifo",
        max_failures=2,
        tracking_uri=uri,
        experiment_name="killed-worker",
        storage_path=tmp_path / "runs",
        callbacks=[KillsItsWorkerOnce(str(marker), str(journal))],
        verbose=0,
    )
    assert marker.exists(), "the worker was never killed"
    killed_pid = int(marker.read_text())
    trial = result.trials.iloc[0]
    assert trial["state"] == "COMPLETE" and trial["epochs"] == EPOCHS
    assert trial["worker"].rsplit(":", 1)[1] != str(killed_pid)  # a new worker finished it

    client = MlflowClient(uri)
    run = client.get_run(trial["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["automl.retries"] == "1"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))  # one point per epoch, none twice

    # Each attempt, from its own journal: the killed one began epochs 0..KILLED_AT; the retry was
    # handed a checkpoint of the killed one's (not none: it did not start over) and began at the
    # epoch after it, then ran each later epoch once.
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    killed = [e for e in entries if e["pid"] == killed_pid]
    retry = [e for e in entries if e["pid"] != killed_pid]
    assert [e["begins"] for e in killed if "begins" in e] == list(range(KILLED_AT + 1)), entries
    done = retry[0]["restored_epochs_done"]
    assert done is not None and 1 <= done <= KILLED_AT, entries
    assert [e["begins"] for e in retry if "begins" in e] == list(range(done, EPOCHS)), entries
