"""A team's MLflow server: PostgreSQL behind it, artifacts proxied, basic auth, a non-admin account."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient

from automl.cli import main
from tests._servers import free_port, running_team_server

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.yaml"


@pytest.fixture(scope="module")
def team(postgres, tmp_path_factory):
    with running_team_server(postgres, tmp_path_factory.mktemp("team"), name="team_e2e") as server:
        yield server


def _cli_tune(tmp_path: Path, *overrides: str) -> list[str]:
    args = ["tune", str(EXAMPLE), "--quiet", "--set", "num_trials=2", "--set", "epochs=2"]
    args += ["--set", f"storage_path={tmp_path / 'runs'}", "--set", "name=team-run"]
    for override in overrides:
        args += ["--set", override]
    return args


def _files_holding(directory: Path, secret: str) -> list[Path]:
    """Every file under ``directory`` whose bytes hold ``secret`` (Ray's pickles and logs included)."""
    return [p for p in directory.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.slow
@pytest.mark.ray
def test_a_run_on_the_team_server_as_a_non_admin_never_records_the_password(team, ray_local, tmp_path, capfd):
    # The password inside the URI: the riskiest way to give it, which must still stay out of every record.
    uri = f"http://{team.user}:{team.password}@127.0.0.1:{team.port}"
    assert main(_cli_tune(tmp_path, f"tracking_uri={uri}", "experiment_name=team-digits", "scheduler=fifo")) == 0
    out, err = capfd.readouterr()
    assert team.password not in out + err
    run_dir = tmp_path / "runs" / "team-run"
    assert (run_dir / "automl.log").exists()
    assert _files_holding(run_dir, team.password) == []
    assert f"127.0.0.1:{team.port}" in (run_dir / "run.json").read_text()  # the URI is recorded, without it

    admin = MlflowClient(f"http://admin:{team.admin_password}@127.0.0.1:{team.port}")
    experiment = admin.get_experiment_by_name("team-digits")
    runs = admin.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("automl.kind") == "tuning-run"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        recorded = [*run.data.params.values(), *run.data.tags.values()]
        assert not [v for v in recorded if team.password in v], run.info.run_id
    assert {"model", "space.yaml", "trials.csv"} <= {a.path for a in admin.list_artifacts(parent.info.run_id)}
    (version,) = admin.search_model_versions("name = 'team-digits'")
    assert version.run_id == parent.info.run_id
    # Artifacts went through the server (--serve-artifacts) into its directory.
    assert list((team.directory / "artifacts").rglob("trials.csv"))


def test_a_wrong_password_is_one_line_before_ray_starts(team, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", team.user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-" + team.password)
    assert main(_cli_tune(tmp_path, f"tracking_uri={team.url}")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and team.password not in err
    assert f"the MLflow tracking server at {team.url} refused the credentials (HTTP 401)" in err
    assert "MLFLOW_TRACKING_PASSWORD" in err
    assert not ray.is_initialized()


def test_a_password_in_the_uri_that_the_server_refuses_is_not_printed(team, tmp_path, capsys):
    wrong = "wrong-" + team.password
    assert main(_cli_tune(tmp_path, f"tracking_uri=http://{team.user}:{wrong}@127.0.0.1:{team.port}")) == 2
    err = capsys.readouterr().err
    assert f"http://{team.user}@127.0.0.1:{team.port} refused the credentials" in err and wrong not in err


def test_a_postgresql_store_that_is_down_is_named_without_its_password(tmp_path, capsys):
    port = free_port()  # nothing listens there
    uri = f"postgresql://alice:pg-secret-123@127.0.0.1:{port}/mlflow"
    assert main(_cli_tune(tmp_path, f"tracking_uri={uri}")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pg-secret-123" not in err
    assert f"cannot open the tracking database postgresql://alice@127.0.0.1:{port}/mlflow:" in err
    assert "Connection refused" in err or "connection refused" in err.lower()
    assert not ray.is_initialized()


def test_a_postgresql_store_that_refuses_the_password(postgres, tmp_path, capsys):
    postgres.database("refusing", user="bob", password="right-pass")
    uri = f"postgresql://bob:wrong-pass@127.0.0.1:{postgres.port}/refusing"
    assert main(_cli_tune(tmp_path, f"tracking_uri={uri}")) == 2
    err = capsys.readouterr().err
    assert "wrong-pass" not in err and 'password authentication failed for user "bob"' in err
    assert f"postgresql://bob@127.0.0.1:{postgres.port}/refusing" in err
