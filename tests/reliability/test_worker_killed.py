"""A worker process SIGKILLed mid-trial: with retries, the trial continues from its checkpoint."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

import automl
from automl._tracking import tracking_client
from search_spaces import Dense, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# The killer sees epochs through MLflow, whose writer batches a run's metrics for up to
# 2 s: several epochs of digits. Enough epochs that the trial is still running when it acts.
EPOCHS = 25


def _kill_worker_after_epoch(uri: str, epoch: int, killed: list[int]) -> None:
    """Waits until the trial's child run has logged ``epoch``, then SIGKILLs its worker process."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            # As the run opens it: a new sqlite store is built under a lock, not by both at once.
            client = tracking_client(uri)
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

    # Ray's own per-trial record: the retry continued from the newest checkpoint, not from epoch 1.
    # An epoch that did not improve val_accuracy may have written none (checkpoint_interval_s): the
    # retry then redoes the epochs after the one that did. (On the retry Ray may replace its
    # result.json with the copy in storage, which it refreshes every few minutes, so earlier lines
    # can be missing from it; MLflow has every epoch, above.)
    lines = (result.run_dir / f"trial_{trial['trial_id']}" / "result.json").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    before = [r for r in results if r["pid"] == killed[0]]
    after = [r for r in results if r["pid"] != killed[0]]
    checkpointed = [r["epoch"] for r in before if r["checkpoint_dir_name"]]
    assert checkpointed and after[0]["epoch"] == checkpointed[-1] + 1, [
        (r["epoch"], r["pid"], r["checkpoint_dir_name"]) for r in results
    ]
    assert [r["epoch"] for r in after] == list(range(checkpointed[-1] + 1, EPOCHS + 1))
