"""The user's own Keras objects through a whole run, and a finished run that keeps its result when MLflow fails at the end."""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import pytest
from mlflow.tracking import MlflowClient

import automl
from automl.cli import main
from automl.execution._parent_artifacts import PENDING_FILE as PENDING_ARTIFACTS_FILE
from search_spaces import Int, Space
from tests._keras_objects import SCALE_LAYER

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# A custom layer and loss, registered as Keras asks: the file is shipped to the
# workers by value, so they never import it themselves.
MODELS = """
import keras


""" + SCALE_LAYER + """

@keras.saving.register_keras_serializable(package="e2e")
def smoothed_ce(y_true, y_pred):
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred) * 0.9 + 0.01


@keras.saving.register_keras_serializable(package="e2e")
def macro_error(y_true, y_pred):
    return 1.0 - keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


def build(config):
    inputs = keras.Input(shape=(64,))
    x = Scale(1 / 16)(inputs)
    x = keras.layers.Dense(config["width"], activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer="adam", loss=smoothed_ce, metrics=["accuracy", macro_error])
    return model
"""


def _tune(tmp_path: Path, **kwargs) -> automl.TuningResult:
    (tmp_path / "models.py").write_text(MODELS)
    return automl.tune(
        Space(width=Int(8, 32)),
        build=f"{tmp_path / 'models.py'}:build",
        data="digits",
        num_trials=2,
        epochs=2,
        scheduler="fifo",
        seed=0,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        verbose=0,
        **kwargs,
    )


def _artifacts(client: MlflowClient, run_id: str, path: str = "") -> set[str]:
    return {a.path for a in client.list_artifacts(run_id, path)}


def test_custom_objects_of_a_build_file_reach_mlflow_and_a_custom_metric_is_the_objective(ray_local, tmp_path):
    result = _tune(tmp_path, experiment_name="custom-objects", metric="val_macro_error", mode="min")
    model = result.load_best_model()
    assert any(type(layer).__name__ == "Scale" for layer in model.layers)
    assert model.loss.__name__ == "smoothed_ce"

    client = MlflowClient(result.tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert "automl.artifacts_missing" not in parent.data.tags
    assert "model/MLmodel" in _artifacts(client, result.parent_run_id, "model")
    # The custom metric, logged every epoch like the built-in ones, ranks the trials.
    best_error = {}
    for _, trial in result.trials.iterrows():
        for name in ("macro_error", "val_macro_error", "val_accuracy"):
            assert len(client.get_metric_history(trial["mlflow_run_id"], name)) == 2, name
        history = client.get_metric_history(trial["mlflow_run_id"], "val_macro_error")
        best_error[trial["trial_id"]] = min(m.value for m in history)
    assert result.best_value == pytest.approx(min(best_error.values()))
    assert parent.data.metrics["best_val_macro_error"] == pytest.approx(result.best_value)


class BlocksTheBestModelArtifact(keras.callbacks.Callback):
    """Puts a file where the parent run's ``model`` and ``plots`` artifact folders would go.

    The parent run is the one run of the experiment with artifacts while
    trials run (its ``space.yaml``), so the run's end cannot write either.
    """

    def __init__(self, artifact_root: str) -> None:
        super().__init__()
        self.artifact_root = artifact_root

    def on_train_end(self, logs=None) -> None:
        for directory in Path(self.artifact_root).glob("*/artifacts"):
            if (directory / "space.yaml").exists():
                for name in ("model", "plots"):
                    (directory / name).write_text("not a folder")


def test_a_best_model_mlflow_cannot_store_is_warned_about_the_result_returned_and_sync_logs_it_later(
    ray_local, tmp_path, caplog, capsys
):
    root = tmp_path / "artifacts"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_experiment("blocked", artifact_location=str(root))

    with caplog.at_level(logging.WARNING, logger="automl"):
        result = _tune(
            tmp_path,
            experiment_name="blocked",
            metric="val_accuracy",
            mode="max",
            callbacks=[BlocksTheBestModelArtifact(str(root))],
        )

    assert set(result.trials["state"]) == {"COMPLETE"}
    assert result.load_best_model().count_params() > 0
    assert automl.TuningResult.load(result.run_dir).best_config == result.best_config
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Logging the best model to MLflow run {result.parent_run_id} failed" in m for m in warned)
    assert any(m.startswith("Logging the plots") for m in warned)

    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["automl.artifacts_missing"] == "the best model, the plots"
    assert f"best_{result.metric}" in parent.data.metrics
    assert {"trials.csv", "best_config.json", "space.yaml"} <= _artifacts(client, result.parent_run_id)
    assert (result.run_dir / PENDING_ARTIFACTS_FILE).exists()

    # Once the artifact store takes them, `automl sync` logs what the run could not.
    for directory in root.glob("*/artifacts"):
        for name in ("model", "plots"):
            if (directory / name).is_file():
                (directory / name).unlink()
    assert main(["sync", str(result.run_dir)]) == 0
    assert "logged the best model, the plots" in capsys.readouterr().out
    assert not (result.run_dir / PENDING_ARTIFACTS_FILE).exists()
    assert "automl.artifacts_missing" not in client.get_run(result.parent_run_id).data.tags
    assert "model/MLmodel" in _artifacts(client, result.parent_run_id, "model")
    assert len(_artifacts(client, result.parent_run_id, "plots")) >= 3
