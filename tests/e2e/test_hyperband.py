"""HyperBand end to end on 2 CPUs: a bracket pauses its trials at a milestone, keeps the best, stops the rest."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

import automl
from automl.execution._hyperband import bracket_sizes
from search_spaces import Categorical, Dense, Float, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EPOCHS, MILESTONE = 6, 2
FIRST, SECOND = bracket_sizes(EPOCHS)  # 3 trials that run every epoch; 5 cut at epoch 2 to the best 2
KEPT = 2


def test_a_bracket_stops_the_trials_its_milestone_leaves_behind_though_two_run_at_a_time(ray_local, tmp_path):
    # Ray's own HyperBand counted only the trials still in a bracket: two at a time, its first
    # bracket (no stopping) never held 3, every trial joined it, and none was ever stopped.
    run = automl.tune(
        Space(
            layers=LayerStack(Dense(units=Categorical([8, 32])), max_layers=1),
            learning_rate=Float(1e-4, 1e-1, log=True),
            batch_size=16,
        ),
        data="iris",
        metric="val_loss",
        mode="min",
        num_trials=FIRST + SECOND,
        epochs=EPOCHS,
        patience=EPOCHS,  # no early stopping: a trial ends at the epoch cap or by the scheduler
        scheduler="hyperband",
        seed=0,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        verbose=0,
    )
    assert (FIRST, SECOND) == (3, 5)
    trials = run.trials.sort_values("number")
    assert list(trials["state"][:FIRST]) == ["COMPLETE"] * FIRST
    second = trials[FIRST:]
    assert sorted(second["state"]) == ["COMPLETE"] * KEPT + ["PRUNED"] * (SECOND - KEPT)
    assert set(trials.loc[trials["state"] == "COMPLETE", "epochs"]) == {EPOCHS}
    assert set(second.loc[second["state"] == "PRUNED", "epochs"]) == {MILESTONE}

    client = MlflowClient(run.tracking_uri)
    at_milestone: dict[str, list[float]] = {"COMPLETE": [], "PRUNED": []}
    for row in second.itertuples():
        history = client.get_metric_history(row.mlflow_run_id, "val_loss")
        mlflow_run = client.get_run(row.mlflow_run_id)
        at_milestone[row.state].append(next(m.value for m in history if m.step == MILESTONE))
        if row.state == "COMPLETE":
            # Paused at the milestone, then on from its checkpoint: every epoch once.
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
            assert mlflow_run.info.status == "FINISHED"
        else:
            assert sorted(m.step for m in history) == list(range(1, MILESTONE + 1))
            assert mlflow_run.info.status == "KILLED"
            assert mlflow_run.data.tags["automl.pruned_at_epoch"] == str(MILESTONE)
    assert max(at_milestone["COMPLETE"]) <= min(at_milestone["PRUNED"])  # it kept the best

    # What `automl.resume` would read: every trial saved finished. Ray refreshed a trial's saved
    # state only when it stopped an actor; the stopped trials, paused, stayed PAUSED there,
    # and a resumed run trained them again.
    (state_file,) = run.run_dir.glob("experiment_state-*.json")
    saved = {
        json.loads(trial)["trial_id"]: json.loads(trial)["status"]
        for trial, _ in json.loads(state_file.read_text())["trial_data"]
    }
    assert saved == dict.fromkeys(trials["trial_id"], "TERMINATED")
