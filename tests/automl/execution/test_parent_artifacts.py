"""The parent run's end-of-run artifacts kept when they could not be logged, and logged later by `log_pending` (no Ray)."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pandas as pd
import pytest

from automl._result import TuningResult
from automl.execution._flavor_info import read_flavor_info
from automl.execution._parent_artifacts import (
    BEST_MODEL,
    EXAMPLE_FILE,
    MISSING_TAG,
    PENDING_FILE,
    PLOTS,
    ParentArtifacts,
    log_pending,
)
from automl.tracking._plots import study_to_json
from automl.tracking._tracking import tracking_client
from search_spaces import Categorical, Space
from tests.automl.execution.test_flavor_info import _fitted

SPACE = Space(width=Categorical([4, 8]))


def _study() -> dict:
    study = optuna.create_study(direction="minimize", study_name="val_loss")
    for number, value in enumerate([0.9, 0.7, 0.8]):
        study.add_trial(
            optuna.trial.create_trial(
                params={"width": [4, 8][number % 2]},
                distributions={"width": optuna.distributions.CategoricalDistribution([4, 8])},
                value=value,
                intermediate_values={1: value + 0.1, 2: value},
            )
        )
    return study_to_json(study)


@pytest.fixture
def run(tmp_path):
    """A finished run's result on disk, its parent run in a sqlite store, and the best model's flavor info."""
    _, example, checkpoint = _fitted(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking_client(uri)
    experiment = client.create_experiment("deferred")
    parent = client.create_run(experiment).info.run_id
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (tmp_path / "best.keras").rename(run_dir / "best_model.keras")
    result = TuningResult(
        best_config={"width": 8},
        best_value=0.7,
        metric="val_loss",
        mode="min",
        trials=pd.DataFrame({"trial_id": ["a", "b", "c"], "number": [0, 1, 2], "state": ["COMPLETE"] * 3}),
        best_model_path=run_dir / "best_model.keras",
        run_dir=run_dir,
        tracking_uri=uri,
        experiment_id=experiment,
        parent_run_id=parent,
        space=SPACE,
    )
    result.save()
    return client, result, example, read_flavor_info(checkpoint)


def _artifacts(run, log_plots) -> ParentArtifacts:
    client, result, example, flavor = run
    return ParentArtifacts(
        client, result, registered_model_name="deferred", flavor=flavor, example=example, log_plots=log_plots
    )


def _paths(client, run_id, path):
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_steps_that_fail_are_tagged_kept_and_logged_by_log_pending(run):
    client, result, example, _ = run

    def plots_fail():
        raise OSError("the artifact store is full")

    artifacts = _artifacts(run, plots_fail)
    failed = artifacts.log()
    assert failed == [PLOTS]
    parent = result.parent_run_id
    assert client.get_run(parent).data.tags[MISSING_TAG] == PLOTS
    assert client.get_run(parent).data.tags["automl.registered_model"] == "deferred/1"

    artifacts.keep_pending(failed, study=_study(), metric="val_loss")
    kept = json.loads((result.run_dir / PENDING_FILE).read_text())
    assert kept["steps"] == [PLOTS] and kept["registered_model_name"] == "deferred"
    np.testing.assert_array_equal(np.load(result.run_dir / EXAMPLE_FILE, allow_pickle=False), example)

    assert log_pending(result.run_dir, result.tracking_uri) == ([PLOTS], [])
    assert {"plots/optimization_history.png", "plots/intermediate_values.png"} <= _paths(client, parent, "plots")
    assert MISSING_TAG not in client.get_run(parent).data.tags
    assert not (result.run_dir / PENDING_FILE).exists() and not (result.run_dir / EXAMPLE_FILE).exists()
    assert log_pending(result.run_dir, result.tracking_uri) is None
    # The best model was logged once, by the run's end: no second registry version.
    assert len(client.search_model_versions("name = 'deferred'")) == 1


def test_a_store_that_took_no_writes_at_the_runs_end_gets_every_step_from_log_pending(run):
    client, result, example, flavor = run

    def never_called():
        raise AssertionError("the run's end drew no plots")

    artifacts = _artifacts(run, never_called)
    artifacts.keep_pending(None, study=_study(), metric="val_loss")

    assert log_pending(result.run_dir, result.tracking_uri) == ([BEST_MODEL, PLOTS], [])
    parent = result.parent_run_id
    assert "model/MLmodel" in _paths(client, parent, "model")
    assert client.get_run(parent).data.tags["automl.registered_model"] == "deferred/1"
    assert client.get_model_version("deferred", "1").run_id == parent
    assert "plots/param_importances.png" in _paths(client, parent, "plots")


def test_a_step_that_fails_again_stays_pending_and_named_in_the_tag(run):
    client, result, _, _ = run
    artifacts = _artifacts(run, lambda: None)
    artifacts.keep_pending([PLOTS], study=None, metric="val_loss")  # a run whose study could not be made

    assert log_pending(result.run_dir, result.tracking_uri) == ([], [PLOTS])
    assert json.loads((result.run_dir / PENDING_FILE).read_text())["steps"] == [PLOTS]
    assert client.get_run(result.parent_run_id).data.tags[MISSING_TAG] == PLOTS
