"""A new sqlite store is a copy of an empty one built once: the same store MLflow would build."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl.tracking._tracking import tracking_client


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _schema(store: Path) -> tuple[list[tuple[str, str, list[str]]], list[tuple[str]]]:
    """Each table's, index's and trigger's definition, and the recorded revision.

    A definition is compared as its sorted lines: MLflow's migrations rebuild
    some tables with their constraints in set order, which differs between
    processes (string hashing), so two stores MLflow builds differ in it too.
    """
    with closing(sqlite3.connect(store)) as db:
        rows = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        revision = db.execute("SELECT version_num FROM alembic_version").fetchall()
    lines = [
        (kind, name, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
        for kind, name, sql in rows
    ]
    return lines, revision


def _new_store(directory: Path) -> MlflowClient:
    directory.mkdir()
    return tracking_client(f"sqlite:///{directory / 'mlflow.db'}")


def test_a_copied_store_is_the_one_mlflow_builds_with_its_default_experiment_beside_it(cache, tmp_path):
    client = _new_store(tmp_path / "copied")
    (template,) = cache.glob("mlflow-schema-*.db")
    (tmp_path / "built").mkdir()
    built = MlflowClient(f"sqlite:///{tmp_path / 'built' / 'mlflow.db'}")
    built.search_registered_models()  # MLflow builds this one

    assert _schema(tmp_path / "copied" / "mlflow.db") == _schema(tmp_path / "built" / "mlflow.db")
    assert template.name == f"mlflow-schema-{_schema(template)[1][0][0]}.db"
    # The template has no rows: MLflow added the Default experiment on opening the copy.
    default = client.get_experiment("0")
    assert (default.name, default.artifact_location) == (
        "Default",
        built.get_experiment("0").artifact_location,
    )
    with closing(sqlite3.connect(template)) as db:
        assert db.execute("SELECT count(*) FROM experiments").fetchone() == (0,)
    # A working store: runs, metrics and registered models go in and come back.
    experiment = client.create_experiment("e")
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "val_accuracy", 0.5, step=1)
    client.create_registered_model("m")
    assert [m.value for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [0.5]
    assert [m.name for m in client.search_registered_models()] == ["m"]


def test_the_template_is_built_once_and_an_existing_store_is_never_replaced(cache, tmp_path):
    first = _new_store(tmp_path / "one")
    (template,) = cache.glob("mlflow-schema-*.db")
    built = template.stat()
    experiment = first.create_experiment("kept")

    _new_store(tmp_path / "two")
    again = tracking_client(f"sqlite:///{tmp_path / 'one' / 'mlflow.db'}")

    assert (template.stat().st_ino, template.stat().st_mtime_ns) == (built.st_ino, built.st_mtime_ns)
    assert again.get_experiment(experiment).name == "kept"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["mlflow.db"]  # no partial file left


def test_a_broken_template_is_rebuilt(cache, tmp_path):
    _new_store(tmp_path / "one")
    (template,) = cache.glob("mlflow-schema-*.db")
    revision = _schema(template)[1]
    template.write_bytes(b"not a sqlite file")

    client = _new_store(tmp_path / "two")

    assert client.get_experiment("0").name == "Default"
    assert _schema(template)[1] == revision


def test_a_cache_that_cannot_be_written_leaves_the_store_to_mlflow(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "a_file" / "cache"))  # its parent is a file

    client = _new_store(tmp_path / "store")

    assert client.get_experiment("0").name == "Default"
    assert _schema(tmp_path / "store" / "mlflow.db")[1]  # MLflow built and stamped it


HOLDER = """
import sys, time
from automl.tracking._store_template import machine_lock
log = sys.argv[1]
for _ in range(20):
    with machine_lock("one key"):
        with open(log, "a") as out:
            out.write("in\\n")
        time.sleep(0.002)
        with open(log, "a") as out:
            out.write("out\\n")
"""


def test_the_machine_lock_holds_out_other_processes_and_leaves_no_file(tmp_path):
    # Each holder removes the lock file before letting go; those that waited on it lock again.
    log, temp = tmp_path / "log", tmp_path / "temp"
    temp.mkdir()
    holders = [
        subprocess.Popen([sys.executable, "-c", HOLDER, str(log)], env={**os.environ, "TMPDIR": str(temp)})
        for _ in range(3)
    ]
    assert [holder.wait(timeout=120) for holder in holders] == [0, 0, 0]
    assert log.read_text().split() == ["in", "out"] * 60  # one holder at a time
    assert list(temp.iterdir()) == []
