"""The examples run as scripts (`make demo`'s included) and as YAML files, with a tiny budget, through Ray."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient

from automl import Experiment, TuningResult
from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run_script(name, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--trials", "1", "--epochs", "1"])
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()


def _run_yaml(name, tmp_path):
    args = ["tune", str(EXAMPLES / f"{name}.yaml"), "--quiet", "--set", "num_trials=2", "--set", "epochs=1"]
    args += ["--set", f"name={name}", "--set", f"storage_path={tmp_path}"]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(args) == 0
    result = TuningResult.load(tmp_path / name)
    assert list(result.trials["state"]) == ["COMPLETE"] * 2
    return result, keras.saving.load_model(result.best_model_path)


@pytest.mark.parametrize(
    "name",
    [
        "digits_mlp",
        "digits_cnn",
        "sequence_rnn",
        "diabetes_csv",
        "digits_tensorboard",
        "kerastuner_port",
        "finetune_backbone",
    ],
)
def test_python_example_runs(name, ray_local, tmp_path, monkeypatch, capsys):
    _run_script(name, monkeypatch, tmp_path)
    out = capsys.readouterr().out
    assert "Best val_accuracy" in out
    if name == "diabetes_csv":
        assert "P('low') for the first 3 raw rows: [0." in out
    if name == "digits_tensorboard":
        assert "  automl tensorboard " in out
        assert list(tmp_path.glob("automl_runs/*/trial_*/tensorboard/train/events.out.tfevents*"))
    if name == "finetune_backbone":  # the local weights file it wrote first, in its working directory
        assert (tmp_path / "mobilenet_v3_small.weights.h5").is_file()


def test_mixed_csv_yaml_exports_a_model_that_takes_raw_rows(ray_local, tmp_path, capsys):
    result, model = _run_yaml("diabetes_csv", tmp_path)
    assert [c.name for c in result.columns if c.categorical] == ["sex", "bmi_class"]
    assert result.classes == ("high", "low")
    client = MlflowClient(result.tracking_uri)
    child = result.trials["mlflow_run_id"].iloc[0]
    assert {"val_auc", "val_precision", "val_recall", "auc"} <= set(client.get_run(child).data.metrics)
    logged = client.download_artifacts(result.parent_run_id, "data_columns.json")
    assert json.loads(Path(logged).read_text())["columns"][-1] == {
        "name": "bmi_class",
        "vocabulary": list(result.columns[-1].vocabulary),
    }
    rows = pd.read_csv(EXAMPLES / "data" / "diabetes_mixed.csv").head(4)
    features = rows.drop(columns=["progression"])
    data = Experiment.from_yaml(
        EXAMPLES / "diabetes_csv.yaml"
    ).data.load()  # the run's split and vocabularies
    expected = model.predict(data.encode(features), verbose=0)

    out = tmp_path / "serving"
    assert main(["export", str(result.run_dir), "--format", "savedmodel", "--out", str(out)]) == 0
    assert "It takes raw rows: one input per column" in capsys.readouterr().out
    serving = tf.saved_model.load(str(out))
    raw = {
        name: tf.constant(column.to_numpy()[:, None].astype("float32" if column.dtype.kind == "f" else str))
        for name, column in features.items()
    }
    np.testing.assert_allclose(serving.serve(raw).numpy(), expected, rtol=1e-5)

    assert (
        main(["export", str(result.run_dir), "--format", "keras", "--out", str(tmp_path / "raw.keras")]) == 0
    )
    loaded = keras.saving.load_model(tmp_path / "raw.keras")  # safe_mode on
    assert sorted(i.name for i in loaded.inputs) == sorted(features)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(raw)), expected, rtol=1e-5)


def test_cnn_yaml_reads_digits_as_images(ray_local, tmp_path):
    result, model = _run_yaml("digits_cnn", tmp_path)
    assert model.input_shape == (None, 8, 8, 1)
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in model.layers)
    assert set(result.trials["params.conv_layers.0.pool"]) <= {"max", "average"}


def test_sequence_yaml_trains_recurrent_layers_on_the_committed_file(ray_local, tmp_path):
    _, model = _run_yaml("sequence_rnn", tmp_path)
    assert model.input_shape == (None, 24, 1)
    recurrent = (keras.layers.LSTM, keras.layers.GRU, keras.layers.Bidirectional)
    assert any(isinstance(layer, recurrent) for layer in model.layers)


@pytest.mark.parametrize(
    ("name", "files", "source", "printed", "input_shape"),
    [
        ("images_folder", "digits_png", "image_directory", "classes ('0', '1', '2'", (None, 16, 16, 3)),
        ("tfrecords", "shards", "tfrecord", "multiclass, samples of shape (64,), 10 classes", (None, 64)),
        ("text_folder", "reviews", "text_directory", "classes ('neg', 'pos')", (None,)),
    ],
)
def test_a_file_backed_example_runs_as_a_script_and_as_yaml(
    name, files, source, printed, input_shape, ray_local, tmp_path, monkeypatch, capsys
):
    folder = tmp_path / files
    monkeypatch.chdir(tmp_path)
    argv = [f"{name}.py", "--trials", "1", "--epochs", "1", "--folder", str(folder)]
    monkeypatch.setattr(sys, "argv", argv)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    out = capsys.readouterr().out
    assert printed in out and "Best val_accuracy" in out
    args = ["tune", str(EXAMPLES / f"{name}.yaml"), "--quiet", "--set", "num_trials=2", "--set", "epochs=1"]
    if source == "tfrecord":
        args += [
            "--set",
            f"data.tfrecord={folder}/train-*.tfrecord",
            "--set",
            f"data.validation={folder}/val-*.tfrecord",
        ]
    else:
        args += ["--set", f"data.{source}={folder}"]
    args += ["--set", f"name={name}", "--set", f"storage_path={tmp_path}"]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(args) == 0
    result = TuningResult.load(tmp_path / name)
    assert list(result.trials["state"]) == ["COMPLETE"] * 2
    model = keras.saving.load_model(result.best_model_path, safe_mode=True)
    assert model.input_shape == input_shape
    if name == "images_folder":
        _assert_augments_only_in_training(model)


def _assert_augments_only_in_training(model):
    """The example's random layers are in the saved model: identity at inference, random in training."""
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"RandomRotation", "RandomZoom", "RandomTranslation"} <= kinds
    x = np.random.default_rng(0).uniform(0, 255, size=(4, 16, 16, 3)).astype("float32")
    once = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), once)
    assert not np.allclose(keras.ops.convert_to_numpy(model(x, training=True)), once)


def test_the_custom_loader_example_runs_as_a_script_and_as_yaml(ray_local, tmp_path, monkeypatch, capsys):
    _run_script("custom_loader", monkeypatch, tmp_path)
    out = capsys.readouterr().out
    assert "Best val_accuracy" in out and "best data_noise: " in out
    result, model = _run_yaml("custom_loader", tmp_path)
    assert model.input_shape == (None, 64) and "data_noise" in result.best_config
