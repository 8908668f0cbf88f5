"""`automl submit` against a real Ray head on 127.0.0.1, started and driven by examples/cluster_submit.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("cluster_submit_example", EXAMPLES / "cluster_submit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def head(example, tmp_path_factory):
    """The example's head: `ray start --head` with its job server on 127.0.0.1, stopped afterwards."""
    address, process = example.start_head(temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield address
    example.stop_head(process)
    assert process.poll() is not None


def test_the_cluster_example_submits_follows_and_reports_status(example, head, tmp_path, capsys):
    db = tmp_path / "mlflow.db"
    overrides = [f"tracking_uri=sqlite:///{db}", f"storage_path={tmp_path / 'runs'}", "name=job-run"]
    example.main(
        ["--address", head, "--trials", "2", "--epochs", "2", *(a for o in overrides for a in ("--set", o))]
    )
    out = capsys.readouterr().out
    job_id = out.split("Submitted job ", 1)[1].split()[0]
    assert f"{job_id}: SUCCEEDED" in out
    assert "Best val_accuracy" in out  # streamed from the job's own output
    assert out.rstrip().splitlines()[-1].startswith(f"{job_id}: SUCCEEDED")  # then `automl status`

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
