"""The best few configs of a real run, and the best one retrained on all its rows (issue #46)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import automl
from automl.cli import main
from search_spaces import Categorical, Dense, Float, Int, LayerStack, Space
from trainers import load_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TRIALS, EPOCHS = 3, 3
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "top-k-and-retrain.md"


@pytest.fixture(scope="module")
def result(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("top")
    space = Space(
        # Up to two layers: a one-layer trial has NaN for the second layer's units in the table.
        layers=LayerStack(Dense(units=Int(16, 64, log=True), dropout=Float(0.0, 0.3)), max_layers=2),
        learning_rate=Float(1e-3, 1e-2, log=True),
        batch_size=Categorical([32, 64]),
    )
    return automl.tune(
        space,
        data="digits",  # recorded in run.json: retrain loads it again
        metric="val_accuracy",
        mode="max",
        num_trials=TRIALS,
        epochs=EPOCHS,
        scheduler="fifo",
        seed=0,
        points_to_evaluate=[space.default_config()],  # one layer
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        storage_path=tmp / "runs",
        name="top-run",
        verbose=0,
    )


def _history(client: MlflowClient, run_id: str, name: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)]


def _retrain_runs(result, rank: int) -> list:
    client = MlflowClient(result.tracking_uri)
    return client.search_runs(
        [result.experiment_id],
        filter_string=(
            f"tags.mlflow.parentRunId = '{result.parent_run_id}' and tags.`automl.kind` = 'retrain' "
            f"and tags.`automl.retrain_rank` = '{rank}'"
        ),
    )


def test_best_epoch_is_the_first_epoch_with_the_best_value_mlflow_recorded(result):
    client = MlflowClient(result.tracking_uri)
    for row in result.trials.itertuples():
        values = _history(client, row.mlflow_run_id, "val_accuracy")
        assert len(values) == EPOCHS
        assert row.best_epoch == int(np.argmax(values)) + 1
    assert "best_epoch" in automl.TuningResult.load(result.run_dir).trials


def test_top_gives_the_best_trials_with_typed_configs_and_kept_models(result):
    top = result.top(2)
    assert [t.score for t in top] == sorted(result.trials["best_val_accuracy"], reverse=True)[:2]
    assert top[0].config == result.best_config and top[0].score == result.best_value
    for trial in top:
        assert all(type(layer["units"]) is int for layer in trial.config["layers"])
        assert type(trial.config["batch_size"]) is int
        assert 1 <= trial.best_epoch <= trial.epochs == EPOCHS
        assert trial.model_path is not None and trial.model_path.name == "best.keras"
        assert trial.model_path.is_relative_to(result.run_dir)
    assert automl.TuningResult.load(result.run_dir).top(2) == top


def test_retrain_fits_the_best_config_on_all_rows_and_records_a_child_run(result):
    best = result.top(1)[0]
    model = result.retrain()
    data = load_sklearn("digits")
    scores = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)
    assert math.isfinite(scores["accuracy"]) and scores["accuracy"] > 0.5  # trained on these rows
    assert (result.run_dir / "retrained_rank1.keras").exists()
    (run,) = _retrain_runs(result, 1)
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.parentRunId"] == result.parent_run_id
    flat = result.space.flatten(best.config)
    assert run.data.params == {k: "None" if v is None else str(v) for k, v in flat.items()}
    client = MlflowClient(result.tracking_uri)
    assert len(_history(client, run.info.run_id, "loss")) == best.best_epoch
    assert len(_history(client, run.info.run_id, "accuracy")) == best.best_epoch
    assert not [name for name in run.data.metrics if name.startswith("val_")]
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["retrained_rank1.keras"]
    # The tuning run's own trials are untouched: a resumed driver skips the retrain run.
    assert len(result.trials) == TRIALS


def test_the_command_line_prints_the_top_trials_and_retrains(result, capsys):
    assert main(["best", str(result.run_dir)]) == 0
    assert capsys.readouterr().out == automl.TuningResult.load(result.run_dir).summary() + "\n"
    assert main(["best", str(result.run_dir), "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    top = result.top(2)
    assert out[0] == "Top 2 trials by best val_accuracy (max):"
    assert out[1] == (
        f"1. trial {top[0].number}: val_accuracy={top[0].score:.4f}, "
        f"best epoch {top[0].best_epoch} of {top[0].epochs}"
    )
    assert out[3].startswith(f"2. trial {top[1].number}: ")
    assert main(["best", str(result.run_dir), "--top", "0"]) == 2
    assert "error: --top: expected an int >= 1" in capsys.readouterr().err
    assert main(["retrain", str(result.run_dir), "--rank", "2", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    path = result.run_dir / "retrained_rank2.keras"
    assert f"Model: {path}\n" in out and path.exists()
    (run,) = _retrain_runs(result, 2)
    assert f"MLflow run: {run.info.run_id} " in out
    assert len(_history(MlflowClient(result.tracking_uri), run.info.run_id, "loss")) == 1


def test_the_guide_example_runs_on_a_finished_run(result, capsys):
    (block,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S)
    assert "result.top(3)" in block and "result.retrain()" in block
    exec(compile(block, str(GUIDE), "exec"), {"result": result})
    assert len(capsys.readouterr().out.splitlines()) == TRIALS
