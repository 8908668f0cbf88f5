"""A worker process SIGKILLed mid-trial: with retries, the trial continues from its checkpoint."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import Dense, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# The killer sees epochs through MLflow, whose writer batches a run's metrics for up to
# 2 s: several epochs of digits. Enough epochs that the trial is still running when it acts.
EPOCHS = 25


def _kill_worker_after_epoch(uri: str, epoch: int, killed: list[int]) -> None:
    """Waits until the trial's child run has logged ``epoch``, then SIGKILLs its worker process."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        client = MlflowClient(uri)
        try:
            experiment = client.get_experiment_by_name("killed-worker")
            runs = (
                client.search_runs([experiment.experiment_id], "tags.automl.trial_id != ''")
                if experiment
                else []
            )
        except Exception:  # the store is still being created
            runs = []
        for run in runs:
            worker = run.data.tags.get("automl.worker")
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
            if worker and steps and max(steps) >= epoch:
                pid = int(worker.rsplit(":", 1)[1])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.2)


def test_a_killed_worker_resumes_its_trial_from_the_checkpoint(ray_local, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_worker_after_epoch, args=(uri, 3, killed), daemon=True)
    killer.start()
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
        verbose=0,
    )
    killer.join(timeout=5)
    assert killed, "the worker was never killed"
    trial = result.trials.iloc[0]
    assert trial["state"] == "COMPLETE" and trial["epochs"] == EPOCHS
    assert trial["worker"].rsplit(":", 1)[1] != str(killed[0])  # a new worker finished it

    client = MlflowClient(uri)
    run = client.get_run(trial["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["automl.retries"] == "1"
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
    assert sorted(steps) == list(range(1, EPOCHS + 1))  # one point per epoch, none twice

    # Ray's own per-trial record: the retry continued after the checkpoint, not from epoch 1.
    # (On the retry Ray may replace its result.json with the copy in storage, which it refreshes
    # every few minutes, so earlier lines can be missing from it; MLflow has every epoch, above.)
    import json

    lines = (result.run_dir / f"trial_{trial['trial_id']}" / "result.json").read_text().splitlines()
    epochs = [json.loads(line)["epoch"] for line in lines]
    assert epochs.count(1) <= 1 and len(epochs) - len(set(epochs)) <= 1, epochs
    assert max(epochs) == EPOCHS
