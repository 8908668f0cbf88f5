"""`automl submit` against a real Ray head started by the test on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl._cli import main
from tests._servers import free_port, wait_until_serving

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.yaml"


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    """`ray start --head` with its job server on 127.0.0.1, stopped (with its process group) afterwards."""
    ray = Path(sys.executable).parent / "ray"
    dashboard = free_port()
    process = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={free_port()}",
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            "--num-cpus=2",
            "--disable-usage-stats",
            # Ports whose defaults a Ray instance already running here (the session's) holds.
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--temp-dir={tmp_path_factory.mktemp('ray')}",
        ],
        # As on a real cluster, `python` in a job's entrypoint is the cluster's environment.
        env={**os.environ, "PATH": f"{ray.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        wait_until_serving(f"{address}/api/version", process, what="the Ray head's job server")
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
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
