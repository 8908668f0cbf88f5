"""`automl submit` against a real Ray head started by the test on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl._cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """`ray start --head` with its job server on 127.0.0.1, stopped (with its process group) afterwards."""
    ray = Path(sys.executable).parent / "ray"
    dashboard = _free_port()
    process = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={_free_port()}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            "--num-cpus=2",
            "--disable-usage-stats",
            # Ports whose defaults a Ray instance already running here (the session's) holds.
            f"--dashboard-agent-listen-port={_free_port()}",
            f"--dashboard-agent-grpc-port={_free_port()}",
            f"--metrics-export-port={_free_port()}",
            f"--runtime-env-agent-port={_free_port()}",
            f"--ray-client-server-port={_free_port()}",
            f"--temp-dir={tmp_path_factory.mktemp('ray')}",
        ],
        # As on a real cluster, `python` in a job's entrypoint is the cluster's environment.
        env={**os.environ, "PATH": f"{ray.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=2):
                break
        except urllib.error.HTTPError:  # 401: up, and asking for Ray's auth token as it should
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                os.killpg(process.pid, signal.SIGKILL)
                pytest.fail("the Ray head's job server did not come up")
            time.sleep(1)
    yield address
    os.killpg(process.pid, signal.SIGINT)  # `ray start --block` stops its processes on Ctrl-C
    try:
        process.wait(timeout=60)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_submit_follow_status_and_logs(head, tmp_path, capsys):
    experiment = tmp_path / "digits.yaml"
    shutil.copy(EXAMPLE, experiment)
    db = tmp_path / "mlflow.db"
    args = ["submit", str(experiment), "--address", head, "--follow"]
    for override in (
        "num_trials=2",
        "epochs=2",
        f"tracking_uri=sqlite:///{db}",
        f"storage_path={tmp_path / 'runs'}",
        "name=job-run",
    ):
        args += ["--set", override]
    assert main(args) == 0
    out = capsys.readouterr().out
    job_id = out.split("Submitted job ", 1)[1].split()[0]
    assert f"{job_id}: SUCCEEDED" in out
    assert "Best val_accuracy" in out  # streamed from the job's own output

    assert main(["status", job_id, "--address", head]) == 0
    assert "SUCCEEDED" in capsys.readouterr().out
    assert main(["logs", job_id, "--address", head]) == 0
    assert "Best val_accuracy" in capsys.readouterr().out

    client = MlflowClient(f"sqlite:///{db}")
    experiment_id = client.get_experiment_by_name("digits-mlp").experiment_id
    runs = client.search_runs([experiment_id])
    assert len([r for r in runs if "mlflow.parentRunId" in r.data.tags]) == 2
    assert (tmp_path / "runs" / "job-run" / "best_model.keras").exists()


def test_status_of_an_unknown_job(head, capsys):
    assert main(["status", "raysubmit_doesnotexist", "--address", head]) == 2
    assert f"job_id: no job 'raysubmit_doesnotexist' on {head}." in capsys.readouterr().err
