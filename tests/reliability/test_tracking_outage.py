"""A tracking server that goes away mid-run: training goes on, nothing is lost or logged twice.

A real `mlflow server` (sqlite backend) is stopped while trials train and
started again on the same port and store; then one is stopped for good, and
what the run kept locally is sent with `automl sync` once it is back.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import automl
from automl.cli import main
from automl.execution._parent_artifacts import PENDING_FILE as PENDING_ARTIFACTS_FILE
from automl.tracking._tracking import WAIT_VARIABLE
from automl.tracking._writer import PENDING_FILE
from search_spaces import Categorical, Dense, LayerStack, Space
from tests._servers import free_port, start_mlflow_server, stop_process_group

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EPOCHS, TRIALS = 6, 3
SPACE = Space(
    layers=LayerStack(Dense(units=Categorical([32, 64]))),
    learning_rate=Categorical([1e-3, 3e-3]),
    batch_size=8,
)


# A callback that holds each trial at the end of its second epoch until the
# server is down, so no trial can end before the outage begins.
GATE = """
import pathlib, time
import keras

class Gate(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        while epoch == 1 and not pathlib.Path({down!r}).exists():
            time.sleep(0.05)

def gate():
    return Gate()
"""


def _run(uri, tmp_path, name, box, callbacks=()):
    box["result"] = automl.tune(
        SPACE,
        data="iris",  # small: the run is mostly the outage and its recovery
        num_trials=TRIALS,
        epochs=EPOCHS,
        patience=EPOCHS,  # every trial runs every epoch: the point counts below are exact
        scheduler="fifo",
        seed=0,
        tracking_uri=uri,
        storage_path=tmp_path / "runs",
        name=name,
        callbacks=list(callbacks),
        verbose=0,
    )


def _points(client, result):
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{result.parent_run_id}'"
    )
    return {
        c.info.run_id: sorted(m.step for m in client.get_metric_history(c.info.run_id, "val_loss"))
        for c in children
    }, children


def _wait_for_first_points(client, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for experiment in client.search_experiments():
            for run in client.search_runs([experiment.experiment_id]):
                if run.data.metrics.get("val_loss") is not None:
                    return
        time.sleep(0.5)
    pytest.fail("no epoch reached MLflow in time")


def _wait_for_an_epoch_kept_since(journal: Path, since: float, timeout=300):
    """Waits until the run's journal holds an epoch's metric the driver took at or after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = journal.read_text().splitlines() if journal.exists() else []
        for entry in map(json.loads, lines):
            metrics = entry.get("kwargs", {}).get("metrics", [])
            if any(m["key"] == "val_loss" and m["timestamp"] / 1000 >= since for m in metrics):
                return
        time.sleep(0.2)
    pytest.fail("no epoch ended while the server was down")


def test_a_server_stopped_and_restarted_mid_run_loses_and_duplicates_nothing(ray_local, tmp_path):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path / "store", port)
    gate, down_flag = tmp_path / "gate.py", tmp_path / "server-down"
    gate.write_text(GATE.format(down=str(down_flag)))
    box: dict = {}
    thread = threading.Thread(target=_run, args=(uri, tmp_path, "outage", box, [f"{gate}:gate"]))
    thread.start()
    try:
        _wait_for_first_points(MlflowClient(uri))
        stop_process_group(server)
        down = time.time()
        down_flag.touch()  # the trials train on; their epochs queue up in the driver
        _wait_for_an_epoch_kept_since(tmp_path / "runs" / "outage" / PENDING_FILE, down)
        up = time.time()
        server = start_mlflow_server(tmp_path / "store", port)
        thread.join(timeout=600)
    finally:
        stop_after = server
    try:
        result = box["result"]
        client = MlflowClient(uri)
        points, children = _points(client, result)
        assert len(children) == TRIALS
        assert all(steps == list(range(1, EPOCHS + 1)) for steps in points.values()), points
        assert {c.info.status for c in children} == {"FINISHED"}
        assert client.get_run(result.parent_run_id).info.status == "FINISHED"
        # Epochs that ended while the server was down were kept and sent afterwards.
        stamps = [
            m.timestamp / 1000 for c in children for m in client.get_metric_history(c.info.run_id, "val_loss")
        ]
        assert any(down <= t <= up for t in stamps), "training must go on while the server is down"
        assert not (result.run_dir / PENDING_FILE).exists()
        print(
            f"outage: {sum(down <= t <= up for t in stamps)} epochs logged while the server was down, 0 lost, 0 duplicated"
        )
    finally:
        stop_process_group(stop_after)


def test_a_server_that_never_comes_back_leaves_the_writes_in_a_file_that_sync_sends(
    ray_local, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv(WAIT_VARIABLE, "3")  # how long the run's end waits for the server (default 60 s)
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_mlflow_server(tmp_path / "store", port)
    box: dict = {}
    thread = threading.Thread(target=_run, args=(uri, tmp_path, "gone", box))
    thread.start()
    _wait_for_first_points(MlflowClient(uri))
    stop_process_group(server)
    thread.join(timeout=900)
    result = box["result"]  # the run itself finished: results are local
    assert list(result.trials["state"]) == ["COMPLETE"] * TRIALS
    pending = result.run_dir / PENDING_FILE
    assert pending.exists() and pending.read_text().strip()
    # The run's end could not log the parent run's artifacts either: they are kept for `automl sync`.
    assert (result.run_dir / PENDING_ARTIFACTS_FILE).exists()

    server = start_mlflow_server(tmp_path / "store", port)
    try:
        assert main(["sync", str(result.run_dir)]) == 0
        out = capsys.readouterr().out
        assert "kept writes" in out and "View run" not in out
        assert "logged the best model, the plots" in out
        assert not pending.exists() and not (result.run_dir / PENDING_ARTIFACTS_FILE).exists()
        client = MlflowClient(uri)
        assert "model/MLmodel" in {a.path for a in client.list_artifacts(result.parent_run_id, "model")}
        plots = {a.path for a in client.list_artifacts(result.parent_run_id, "plots")}
        assert "plots/optimization_history.png" in plots
        points, children = _points(client, result)
        assert len(children) == TRIALS
        assert all(steps == list(range(1, EPOCHS + 1)) for steps in points.values()), points
        assert client.get_run(result.parent_run_id).info.status == "FINISHED"
    finally:
        stop_process_group(server)
