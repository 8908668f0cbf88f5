"""A whole tuning run through a real local Ray, checked in the real MLflow store."""

from __future__ import annotations

import re

import keras
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

import automl
from automl.tracking._plots import PlotProcess
from automl.tracking._tracking import MlflowTracker
from search_spaces import Dense, Float, Int, LayerStack, Space
from trainers import load_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TRIALS, EPOCHS = 3, 2
FIRST = {
    "layers": [{"type": "dense", "units": 32, "activation": "relu", "dropout": 0.1}],
    "learning_rate": 5e-3,
    "batch_size": 64,
}


def _space() -> Space:
    return Space(
        layers=LayerStack(
            Dense(units=Int(16, 64, log=True), dropout=Float(0.0, 0.3)), min_layers=1, max_layers=3
        ),
        learning_rate=Float(1e-3, 1e-2, log=True),
        batch_size=64,
    )


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    data = load_sklearn("digits")
    start = PlotProcess.start

    def recorded(self: PlotProcess) -> None:
        start(self)
        PLOT_PROCESSES.append(self._process)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PlotProcess, "start", recorded)
        result = _tune(tmp, data)
    return result, data


PLOT_PROCESSES: list = []  # the plot processes the run started


def _tune(tmp, data):
    return automl.tune(
        _space(),
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=TRIALS,
        epochs=EPOCHS,
        scheduler="fifo",  # every trial runs all epochs, so the counts below are exact
        seed=0,
        points_to_evaluate=[FIRST],
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        experiment_name="e2e",
        registered_model_name="e2e-best",
        storage_path=tmp / "runs",
        name="e2e-run",
        verbose=0,
    )


def test_result_holds_every_trial_and_the_best(run):
    result, _ = run
    trials = result.trials
    assert len(trials) == TRIALS
    assert set(trials["state"]) == {"COMPLETE"}
    assert list(trials["epochs"]) == [EPOCHS] * TRIALS
    assert result.best_value == trials["best_val_accuracy"].max()
    best_row = trials.loc[trials["best_val_accuracy"].idxmax()]
    assert best_row["params.layers.depth"] == len(result.best_config["layers"])
    assert {"duration_s", "val_accuracy", "params.learning_rate"} <= set(trials.columns)


def test_points_to_evaluate_run_first(run):
    result, _ = run
    first = result.trials.iloc[0]
    assert first["params.layers.depth"] == 1
    assert first["params.layers.0.units"] == 32
    assert first["params.learning_rate"] == pytest.approx(5e-3)


def test_workers_are_reused_across_trials(run):
    result, _ = run
    # 3 trials on 2 CPUs with 1 CPU each: reused actors mean at most 2 worker processes.
    assert 1 <= result.trials["worker"].nunique() <= 2


def test_best_model_loads_and_predicts(run):
    result, data = run
    model = keras.saving.load_model(result.best_model_path)
    assert model.predict(data.x_val[:5], verbose=0).shape == (5, 10)
    accuracy = model.evaluate(data.x_val, data.y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(result.best_value, abs=1e-6)


def test_mlflow_has_one_parent_and_a_nested_child_per_trial(run):
    result, _ = run
    client = MlflowClient(result.tracking_uri)
    experiment = client.get_experiment(result.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([result.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert [p.info.run_id for p in parents] == [result.parent_run_id]
    assert len(children) == TRIALS
    assert {c.info.status for c in children} == {"FINISHED"}
    assert parents[0].info.status == "FINISHED"

    # Identical param keys across children, so the compare view lines them up.
    keys = {frozenset(c.data.params) for c in children}
    assert len(keys) == 1
    assert {"layers.depth", "layers.0.units", "layers.2.units", "learning_rate", "batch_size"} <= next(
        iter(keys)
    )

    for child in children:
        for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
            history = client.get_metric_history(child.info.run_id, metric)
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))
        assert "best_val_accuracy" in child.data.metrics

    parent = parents[0]
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(result.best_value)
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"space.yaml", "trials.csv", "best_config.json"} <= artifacts


def test_parent_run_holds_the_plots_and_the_git_commit(run):
    result, _ = run
    client = MlflowClient(result.tracking_uri)
    plots = {a.path for a in client.list_artifacts(result.parent_run_id, "plots")}
    # Importances need trials that differ; with 3 trials every plot can be drawn.
    assert {
        "plots/optimization_history.png",
        "plots/parallel_coordinate.png",
        "plots/intermediate_values.png",
        "plots/param_importances.png",
    } <= plots
    # Drawn by the process the last trial's start launched, which had ended when tune() returned.
    (process,) = PLOT_PROCESSES
    assert process.returncode == 0
    tags = client.get_run(result.parent_run_id).data.tags
    assert len(tags.get("mlflow.source.git.commit", "")) == 40  # the tests run inside the repository


def test_best_model_is_registered_and_the_version_predicts(run):
    result, data = run
    import mlflow.pyfunc

    client = MlflowClient(result.tracking_uri)
    versions = client.search_model_versions("name = 'e2e-best'")
    assert [v.run_id for v in versions] == [result.parent_run_id]
    mlflow.set_tracking_uri(result.tracking_uri)  # the pyfunc loader resolves models:/ through it
    model = mlflow.pyfunc.load_model(f"models:/e2e-best/{versions[0].version}")
    predictions = model.predict(data.x_val[:4])
    assert predictions.shape == (4, 10)
    assert model.metadata.signature is not None


def test_a_seeded_run_of_one_trial_at_a_time_repeats_itself(ray_local, tmp_path, capsys, monkeypatch):
    def trials(name, verbose):
        result = automl.tune(
            _space(),
            data=load_sklearn("digits"),
            metric="val_accuracy",
            mode="max",
            num_trials=TRIALS,
            epochs=EPOCHS,
            seed=1,  # the sampler's, and each fit's: weights, dropout, batch order
            max_concurrent_trials=1,
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            experiment_name="repeat",
            storage_path=tmp_path / "runs",
            name=name,
            verbose=verbose,
        )
        params = [c for c in result.trials.columns if c.startswith("params.")]
        return result.trials[[*params, "state", "epochs", "val_accuracy", "best_val_accuracy"]]

    first = trials("first", verbose=0)
    assert capsys.readouterr().out == ""  # quiet: not even Ray's experiment box
    # A status line after each second with no line: Ray's loop calls the tracker in between.
    monkeypatch.setattr(MlflowTracker, "status_every_s", 1.0)
    # ASHA's choice of what to prune depends on the scores too, so the states repeat only if they do.
    pd.testing.assert_frame_equal(trials("again", verbose=1), first)
    assert first["best_val_accuracy"].nunique() > 1

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"[automl] run again: {TRIALS} trials of up to {EPOCHS} epochs, 1 at a time (cpu=1 each); "
        "sampler TPESampler, scheduler asha"
    )
    assert lines[1].startswith(
        f"[automl] run directory {tmp_path / 'runs' / 'again'} | MLflow experiment 'repeat'"
    )
    assert all(line.startswith("[automl] ") for line in lines[2:]), lines  # no table, box or hint of Ray's
    progress = [line for line in lines[2:] if line.startswith("[automl] trial ")]
    assert len(progress) == TRIALS, lines  # one per trial
    assert f"| {TRIALS}/{TRIALS} done" in progress[-1]
    status = [line for line in lines[2:] if not line.startswith("[automl] trial ")]
    assert status, lines  # the first trial's worker alone takes seconds to start
    shape = re.compile(rf"\[automl\] \d/{TRIALS} done.* \| elapsed \d+s.*")
    assert all(shape.fullmatch(line) for line in status), status
    assert any(", 1 running" in line for line in status), status
