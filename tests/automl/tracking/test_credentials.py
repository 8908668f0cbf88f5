"""A tracking URI's password: out of what is printed and recorded; a store checked before a run starts."""

from __future__ import annotations

import pickle

import pytest

from automl.execution._jobs import _credentials_out
from automl.tracking._credentials import check_store, hide_password, is_local_store, public_uri
from search_spaces import ConfigError, mlp


@pytest.mark.parametrize(
    ("uri", "public"),
    [
        ("http://alice:s3cret@host:5000", "http://alice@host:5000"),
        ("https://alice:p%40ss@host/prefix", "https://alice@host/prefix"),
        ("postgresql://u:pw@127.0.0.1:5432/mlflow?sslmode=require", "postgresql://u@127.0.0.1:5432/mlflow?sslmode=require"),
        ("postgresql+psycopg2://u:pw@db/mlflow", "postgresql+psycopg2://u@db/mlflow"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://alice@host", "http://alice@host"),
        ("sqlite:////tmp/mlflow.db", "sqlite:////tmp/mlflow.db"),
        ("/tmp/mlruns", "/tmp/mlruns"),
    ],
)
def test_public_uri_drops_the_password_and_keeps_the_rest(uri, public):
    assert public_uri(uri) == public


def test_hide_password_in_a_message():
    uri = "http://alice:p%40ss@host"
    message = "API request to http://alice:p%40ss@host/api failed; auth p@ss"
    assert hide_password(message, uri) == "API request to http://alice:***@host/api failed; auth ***"
    assert hide_password("no password here", "http://host") == "no password here"


@pytest.mark.parametrize(
    ("uri", "local"),
    [("sqlite:///x.db", True), ("file:///x", True), ("/x/mlruns", True), ("http://h", False), ("postgresql://h/d", False)],
)
def test_local_stores(uri, local):
    assert is_local_store(uri) is local


def test_an_unreachable_server_is_a_config_error_naming_it_without_the_password():
    from tests._servers import free_port

    port = free_port()
    with pytest.raises(ConfigError, match=rf"tracking_uri: cannot reach the MLflow tracking server at http://a@127.0.0.1:{port} ") as info:
        check_store(f"http://a:topsecret@127.0.0.1:{port}")
    assert "topsecret" not in str(info.value)


def test_a_missing_database_driver_says_what_to_install():
    with pytest.raises(ConfigError, match=r"cannot open mysql://u@h/db: its database driver is missing .*keras-automl\[postgres\]"):
        check_store("mysql://u:pw@h/db")


def test_the_tracker_s_pickle_holds_no_password(tmp_path):
    from automl.tracking._tracking import MlflowTracker, tracking_client

    # A local store to build it with; the URI the writer would use is then set as a server's.
    tracker = MlflowTracker(
        client=tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}"),
        experiment_id="0",
        parent_run_id="p",
        space=mlp(max_layers=1),
        metric="val_loss",
        mode="min",
        epochs=1,
        metric_names=["val_loss"],
        num_trials=1,
        journal=tmp_path / "journal",
        verbose=0,
    )
    tracker._tracking_uri = "postgresql://u:hunter2@127.0.0.1:1/db"
    state = tracker.__getstate__()
    assert state["_tracking_uri"] == "postgresql://u@127.0.0.1:1/db"
    assert b"hunter2" not in pickle.dumps(state)
    tracker._writer.stop()


@pytest.mark.parametrize(
    ("override", "entrypoint", "env"),
    [
        (
            "tracking_uri=http://alice:pw@mlflow.team:5000",
            "tracking_uri=http://mlflow.team:5000",
            {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": "pw"},
        ),
        (
            "tracking_uri=postgresql://bob:p%2Fw@db:5432/mlflow",
            "tracking_uri=postgresql://bob@db:5432/mlflow",
            {"PGPASSWORD": "p/w"},
        ),
        ("tracking_uri=http://mlflow.team:5000", "tracking_uri=http://mlflow.team:5000", {}),
        ("epochs=3", "epochs=3", {}),
    ],
)
def test_a_job_s_override_leaves_its_password_to_the_environment(override, entrypoint, env):
    found: dict[str, str] = {}
    assert _credentials_out(override, found) == entrypoint
    assert found == env


def test_a_job_s_override_with_a_password_no_environment_can_carry_is_refused():
    with pytest.raises(ConfigError, match=r"tracking_uri: .*cannot hold the password of mysql://u@db/x"):
        _credentials_out("tracking_uri=mysql://u:pw@db/x", {})
