"""Two objectives end to end: accuracy against parameter count, from the Python example and the YAML file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl import TuningResult
from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _dominated(row, others):
    return any(
        o["val_accuracy"] >= row["val_accuracy"]
        and o["params"] <= row["params"]
        and (o["val_accuracy"], o["params"]) != (row["val_accuracy"], row["params"])
        for _, o in others.iterrows()
    )


def test_python_example_prints_the_pareto_front(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["two_objectives.py", "--trials", "3", "--epochs", "1"])
    spec = importlib.util.spec_from_file_location("two_objectives", EXAMPLES / "two_objectives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    out = capsys.readouterr().out
    assert "Pareto front (max val_accuracy, min params):" in out
    assert "trials on the Pareto front" in out


def test_yaml_example_keeps_the_front_in_the_run_and_in_mlflow(ray_local, tmp_path, capsys):
    args = [
        "tune",
        str(EXAMPLES / "two_objectives.yaml"),
        "--quiet",
        "--set",
        "num_trials=4",
        "--set",
        "epochs=2",
    ]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}", "--set", f"storage_path={tmp_path}"]
    args += ["--set", "name=front"]
    assert main(args) == 0
    result = TuningResult.load(tmp_path / "front")
    front, trials = result.pareto_front, result.trials
    assert result.objectives == (("val_accuracy", "max"), ("params", "min"))
    assert len(front) >= 1 and set(front["trial_id"]) <= set(trials["trial_id"])
    done = trials[trials["state"] == "COMPLETE"]
    for _, row in done.iterrows():  # on the front exactly when no other trial dominates it
        assert (row["trial_id"] in set(front["trial_id"])) == (not _dominated(row, done))
    # The model handed over is the front's best on the first objective, never a dominated trial's.
    chosen = front.iloc[0]
    assert result.load_best_model().count_params() == chosen["params"]
    assert result.best_value == pytest.approx(chosen["best_val_accuracy"])
    client = MlflowClient(result.tracking_uri)
    tagged = client.search_runs([result.experiment_id], "tags.`automl.pareto_front` = 'true'")
    assert {r.info.run_id for r in tagged} == set(front["mlflow_run_id"])
    assert "pareto_front.csv" in {a.path for a in client.list_artifacts(result.parent_run_id)}
    # The parameter count is logged every epoch, like the trainer's metrics.
    child = tagged[0]
    assert [m.step for m in client.get_metric_history(child.info.run_id, "params")] == [1, 2]
