"""A worker process SIGKILLed mid-trial: with retries, the trial continues from its checkpoint."""

from __future__ import annotations

import json
import os
import signal

import keras
import pytest
from mlflow.tracking import MlflowClient

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
    killing its own worker.
    """

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if epoch == KILLED_AT and not os.path.exists(self.marker):
            with open(self.marker, "w", encoding="utf-8") as file:
                file.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_resumes_its_trial_from_the_checkpoint(ray_local, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    marker = tmp_path / "killed.pid"
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
        callbacks=[KillsItsWorkerOnce(str(marker))],
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

    # Ray's own per-trial record: the retry continued from the newest checkpoint, not from epoch 1.
    # An epoch that did not improve val_accuracy may have written none (checkpoint_interval_s): the
    # retry then redoes the epochs after the one that did. (On the retry Ray may replace its
    # result.json with the copy in storage, which it refreshes every few minutes, so earlier lines
    # can be missing from it; MLflow has every epoch, above.)
    lines = (result.run_dir / f"trial_{trial['trial_id']}" / "result.json").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    before = [r for r in results if r["pid"] == killed_pid]
    after = [r for r in results if r["pid"] != killed_pid]
    shown = [(r["epoch"], r["pid"], r["checkpoint_dir_name"]) for r in results]
    checkpointed = {_index(r): r["epoch"] for r in before if r["checkpoint_dir_name"]}
    first = after[0]
    assert checkpointed and first["epoch"] > max(checkpointed.values()), shown  # not from epoch 1
    # Checkpoints are numbered on across the retry: the one it restored is the one before its first.
    restored = _index(first) - 1 if first["checkpoint_dir_name"] else None
    if restored in checkpointed:  # that line of the killed worker's was kept (see above)
        assert first["epoch"] == checkpointed[restored] + 1, shown
    assert [r["epoch"] for r in after] == list(range(first["epoch"], EPOCHS + 1)), shown


def _index(result: dict) -> int:
    """The number of a result's checkpoint (``checkpoint_000003`` -> 3)."""
    return int(result["checkpoint_dir_name"].rsplit("_", 1)[1])
