"""A run tracked on a real `mlflow server` (sqlite backend) started by the test on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import mlp
from tests._servers import free_port, wait_until_serving

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("server")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp / 'backend.db'}",
            "--artifacts-destination",
            str(tmp / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{uri}/health", process, what="mlflow server")
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    yield uri
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def test_a_run_tracked_on_a_tracking_server(server, ray_local, tmp_path):
    result = automl.tune(
        mlp(max_layers=2),
        data="digits",
        num_trials=2,
        epochs=2,
        scheduler="fifo",
        seed=0,
        tracking_uri=server,
        experiment_name="served",
        storage_path=tmp_path,
        verbose=0,
    )
    client = MlflowClient(server)
    runs = client.search_runs([result.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert len(children) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"model", "plots", "space.yaml", "trials.csv"} <= artifacts  # uploaded through the server
    versions = client.search_model_versions("name = 'served'")
    assert [v.run_id for v in versions] == [result.parent_run_id]
