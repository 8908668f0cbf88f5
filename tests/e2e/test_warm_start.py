"""Warm start through Ray: an earlier run's trials and known scores seed the next run's sampler."""

from __future__ import annotations

import pickle

import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import Categorical, Dense, Int, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

SPACE = Space(
    layers=LayerStack(Dense(units=Int(8, 32)), max_layers=2),
    learning_rate=Categorical([3e-3, 1e-2]),
    batch_size=64,
)
KNOWN = {
    "layers": [{"type": "dense", "units": 20, "activation": "relu", "dropout": 0.0}],
    "learning_rate": 1e-2,
    "batch_size": 64,
}


def _tune(tmp_path, name, **kwargs):
    return automl.tune(
        SPACE,
        data="iris",
        num_trials=2,
        epochs=1,
        seed=0,
        scheduler="fifo",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        name=name,
        verbose=0,
        **kwargs,
    )


def test_an_earlier_run_and_known_scores_seed_the_sampler(ray_local, tmp_path):
    first = _tune(tmp_path, "first")
    second = _tune(
        tmp_path, "second", warm_start=first.run_dir, evaluated_points=[{"config": KNOWN, "value": 0.99}]
    )

    assert len(second.trials) == 2, "known points use none of the trial budget"
    client = MlflowClient(second.tracking_uri)
    assert client.get_run(second.parent_run_id).data.params["evaluated_points"] == "3"
    children = client.search_runs(
        [second.experiment_id], f"tags.mlflow.parentRunId = '{second.parent_run_id}'"
    )
    assert len(children) == 2, "known points are not trained again, so they get no MLflow run"

    # The searcher Ray saved holds the optuna study: the known score, the first run's 2, then its own 2.
    (state,) = (second.run_dir).glob("searcher-state-*.pkl")
    with state.open("rb") as f:  # written by this test's own run
        searcher = pickle.load(f)
    study = searcher["_ot_study"] if isinstance(searcher, dict) else searcher._ot_study
    values = [t.value for t in study.trials]
    assert values[0] == pytest.approx(0.99)
    assert sorted(values[1:3]) == pytest.approx(sorted(first.trials["best_val_accuracy"]))
    assert len(study.trials) == 5
