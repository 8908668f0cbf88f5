"""`automl submit` against a real Ray head on 127.0.0.1, started and driven by examples/cluster_submit.py."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl import TuningResult
from automl.cli import main
from tests.trainers.test_stream import write_images

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


def test_file_data_travels_with_the_working_directory_or_is_passed_through(head, tmp_path, capsys):
    job = tmp_path / "job"
    write_images(job / "pics")  # beside the file: uploaded with the job's working directory
    write_images(tmp_path / "shared" / "val", per_class=4, seed=1)  # outside: read where it is (shared here)
    (job / "exp.yaml").write_text(
        "data: {image_directory: pics, validation_directory: ../shared/val, image_size: [8, 8]}\n"
        "space: {preset: mlp}\nnum_trials: 2\nepochs: 1\nscheduler: fifo\nname: files\n"
        f"storage_path: {tmp_path / 'runs'}\ntracking_uri: sqlite:///{tmp_path / 'mlflow.db'}\n"
    )
    assert main(["submit", str(job / "exp.yaml"), "--address", head, "--follow"]) == 0
    assert ": SUCCEEDED" in capsys.readouterr().out
    result = TuningResult.load(tmp_path / "runs" / "files")
    assert list(result.trials["state"]) == ["COMPLETE"] * 2 and result.classes == ("cat", "dog", "owl")
    data = json.loads((result.run_dir / "run.json").read_text())["data"]
    assert data["validation_directory"] == str(tmp_path / "shared" / "val")
    assert not data["image_directory"].startswith(str(job))  # the uploaded copy, on the cluster's side


@pytest.fixture
def team(postgres, tmp_path):
    from tests._servers import running_team_server

    with running_team_server(postgres, tmp_path / "team", name="team_submit") as server:
        yield server


def test_a_job_on_the_team_server_carries_the_password_in_its_environment_only(
    head, team, tmp_path, monkeypatch, capsys
):
    from ray.job_submission import JobSubmissionClient

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", team.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", team.password)
    overrides = [
        f"tracking_uri={team.url}",
        f"storage_path={tmp_path / 'runs'}",
        "name=team-job",
        "num_trials=1",
        "epochs=1",
        "experiment_name=team-job",
    ]
    args = ["submit", str(EXAMPLES / "digits_mlp.yaml"), "--address", head, "--follow"]
    assert main([*args, *(a for o in overrides for a in ("--set", o))]) == 0
    out, err = capsys.readouterr()
    job_id = out.split("Submitted job ", 1)[1].split()[0]
    assert f"{job_id}: SUCCEEDED" in out and team.password not in out + err
    info = JobSubmissionClient(head).get_job_info(job_id)
    assert team.password not in info.entrypoint
    assert info.runtime_env["env_vars"]["MLFLOW_TRACKING_PASSWORD"] == team.password
    admin = MlflowClient(f"http://admin:{team.admin_password}@127.0.0.1:{team.port}")
    (parent,) = admin.search_runs([admin.get_experiment_by_name("team-job").experiment_id], "tags.automl.kind = 'tuning-run'")
    assert parent.info.status == "FINISHED"
