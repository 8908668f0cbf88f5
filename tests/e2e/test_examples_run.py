"""The image and sequence examples run as scripts and as YAML files, with a tiny budget, through Ray."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import keras
import pytest

from automl import TuningResult
from automl._cli import main

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


@pytest.mark.parametrize("name", ["digits_cnn", "sequence_rnn"])
def test_python_example_runs(name, ray_local, tmp_path, monkeypatch, capsys):
    _run_script(name, monkeypatch, tmp_path)
    assert "Best val_accuracy" in capsys.readouterr().out


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
