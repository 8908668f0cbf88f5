"""A run's directory and parent MLflow run: made once for a new run, reopened for a resumed one (no Ray)."""

from __future__ import annotations

import json

import pytest

from automl._result import MANIFEST_FILE
from automl.execution._run_record import RunRecord
from automl.tracking._tracking import tracking_client
from search_spaces import ConfigError, Float, Space

SPACE = Space(learning_rate=Float(1e-4, 1e-2, log=True))


def _create(tmp_path, name="run-1"):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return RunRecord.create(
        storage_path=tmp_path / "runs",
        name=name,
        client=tracking_client(uri),
        tracking_uri=uri,
        experiment_name="record",
        params={"num_trials": "3"},
        space=SPACE,
    )


def test_a_new_run_gets_its_directory_and_a_parent_run_with_its_params(tmp_path):
    record = _create(tmp_path)
    assert record.run_dir == tmp_path / "runs" / "run-1" and record.run_dir.is_dir()
    parent = record.client.get_run(record.parent_run_id)
    assert parent.info.run_name == "run-1" and parent.data.params == {"num_trials": "3"}
    assert parent.data.tags["automl.run_dir"] == str(record.run_dir)
    record.write_manifest({"name": "run-1"})
    assert json.loads((record.run_dir / MANIFEST_FILE).read_text()) == {"name": "run-1"}


def test_a_second_run_of_the_same_name_is_refused_with_how_to_resume(tmp_path):
    _create(tmp_path)
    with pytest.raises(ConfigError, match=r"already exists; resume it with automl\.resume\("):
        _create(tmp_path)


def test_a_resumed_run_reopens_the_same_parent_run(tmp_path):
    record = _create(tmp_path)
    record.client.set_terminated(record.parent_run_id, status="KILLED")
    manifest = {
        "tracking_uri": record.tracking_uri,
        "experiment_id": record.experiment_id,
        "parent_run_id": record.parent_run_id,
    }
    reopened = RunRecord.reopen(record.run_dir, manifest)
    assert (reopened.run_dir, reopened.parent_run_id) == (record.run_dir, record.parent_run_id)
    assert reopened.client.get_run(record.parent_run_id).info.status == "RUNNING"
