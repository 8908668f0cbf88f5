"""A KerasTuner HyperModel run unchanged through Optuna's TPE, Ray Tune's ASHA and MLflow."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import automl
from automl import TuningResult
from search_spaces import HyperParameters
from tests._driver import ctrl_c, start_driver, trial_runs, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.ray]


class MLPHyperModel(keras_tuner.HyperModel):
    """A getting-started hypermodel whose fit chooses the batch size, as KerasTuner's docs show."""

    def build(self, hp):
        assert isinstance(hp, keras_tuner.HyperParameters)  # KerasTuner is imported: its type checks hold
        model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Rescaling(1 / 16)])
        for i in range(hp.Int("num_layers", 1, 2)):
            model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 64, step=16), activation="relu"))
        if hp.Boolean("dropout"):
            model.add(keras.layers.Dropout(hp.Float("rate", 0.1, 0.3, step=0.1)))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(
            optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)


def test_tpe_and_asha_run_a_kerastuner_hypermodel(ray_local, tmp_path, capsys):
    result = automl.tune(
        hypermodel=MLPHyperModel(),
        data="digits",
        num_trials=3,
        epochs=2,
        sampler="tpe",
        scheduler={"name": "asha", "grace_period": 1},
        seed=0,
        storage_path=tmp_path,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        name="kt",
        verbose=0,
    )
    assert set(result.trials["state"]) <= {"COMPLETE", "PRUNED"}
    best = result.best_hyperparameters
    assert isinstance(best, HyperParameters)
    values = best.values
    assert {f"units_{i}" for i in range(values["num_layers"])} == {
        k for k in values if k.startswith("units_")
    }
    assert ("rate" in values) == values["dropout"] and values["batch_size"] in (32, 64)
    assert best.get("batch_size") == values["batch_size"] == result.best_config["batch_size"]

    # The learning rate the hypermodel compiled with is the sampled one.
    (model, *others) = result.get_best_models(2)
    assert len(others) <= 1 and all(isinstance(m, keras.Model) for m in (model, *others))
    rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    assert rate == pytest.approx(values["learning_rate"], rel=1e-6)

    # Each trial's MLflow run holds the values it declared, under KerasTuner's names.
    client = MlflowClient(result.tracking_uri)
    for _, row in result.trials.iterrows():
        params = client.get_run(row["mlflow_run_id"]).data.params
        assert {"num_layers", "units_0", "dropout", "learning_rate", "batch_size"} <= set(params)
        assert ("units_1" in params) == (params["num_layers"] == "2")

    capsys.readouterr()
    result.results_summary(num_trials=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:4] == [
        "Results summary",
        f"Results in {result.run_dir}",
        "Showing 2 best trials",
        'Objective(name="val_accuracy", direction="max")',
    ]
    assert lines[5].startswith("Trial ") and lines[6] == "Hyperparameters:"
    assert f"Score: {result.best_value}" in lines

    loaded = TuningResult.load(result.run_dir)
    assert loaded.top(1)[0].config["num_layers"] == values["num_layers"]
    assert np.isfinite(loaded.best_value)


def test_hyperband_pauses_and_continues_a_hypermodel_trial_through_its_fit(ray_local, tmp_path):
    """A paused trial continues from its checkpoint: the restored model, the user's fit from the next epoch."""
    result = automl.tune(
        hypermodel=MLPHyperModel,  # a subclass: made with no arguments
        data="digits",
        num_trials=5,  # HyperBand's brackets for 3 epochs: 2 trials run through, 3 are cut at the milestone to 1
        epochs=3,
        patience=3,  # no early stopping: a trial ends at the epoch cap or by the scheduler
        scheduler="hyperband",
        seed=0,
        storage_path=tmp_path,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        verbose=0,
    )
    trials = result.trials
    assert sorted(trials["state"]) == ["COMPLETE"] * 3 + ["PRUNED"] * 2
    assert set(trials.loc[trials["state"] == "COMPLETE", "epochs"]) == {3}
    client = MlflowClient(result.tracking_uri)
    for run_id in trials.loc[trials["state"] == "COMPLETE", "mlflow_run_id"]:
        steps = [m.step for m in client.get_metric_history(run_id, "val_accuracy")]
        assert sorted(steps) == [1, 2, 3]  # every epoch once, the paused one's included


_MODELS = """
import keras


def build_model(hp):
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Rescaling(1 / 16)])
    for i in range(hp.Int("num_layers", 1, 2)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 32, step=16), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=hp.Choice("optimizer", ["adam", "sgd"]), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model
"""


def test_ctrl_c_then_resume_finishes_a_hypermodel_run_from_its_experiment_file(ray_local, tmp_path):
    """`automl resume` loads the hypermodel again from the file the run recorded."""
    (tmp_path / "models.py").write_text(_MODELS)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "experiment.yaml").write_text(
        "hypermodel: models.py:build_model\ndata: {sklearn: digits}\nnum_trials: 4\nepochs: 6\npatience: 6\n"
        f"scheduler: fifo\nseed: 0\nmax_concurrent_trials: 1\nname: stopped\nexperiment_name: kt-resume\n"
        f"tracking_uri: {uri}\nstorage_path: {tmp_path / 'runs'}\n"
    )
    log = tmp_path / "driver.err"
    driver = start_driver(["tune", str(tmp_path / "experiment.yaml"), "--quiet"], log)
    client = MlflowClient(uri)

    def finished() -> int:
        return sum(r.info.status == "FINISHED" for r in trial_runs(client, "kt-resume"))

    wait_for(lambda: finished() >= 1, driver, log)
    ctrl_c(driver, log)
    assert finished() < 4

    result = automl.resume(tmp_path / "runs" / "stopped", verbose=0)
    assert len(result.trials) == 4 and set(result.trials["state"]) == {"COMPLETE"}
    values = result.best_hyperparameters.values
    assert {f"units_{i}" for i in range(values["num_layers"])} == {
        k for k in values if k.startswith("units_")
    }
    # One child run per trial, every epoch once: the interrupted trial continued, none ran twice.
    runs = client.search_runs([result.experiment_id], "tags.automl.trial_id != ''")
    assert sorted(r.data.tags["automl.trial_id"] for r in runs) == sorted(result.trials["trial_id"])
    for run in runs:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, len(steps) + 1))
