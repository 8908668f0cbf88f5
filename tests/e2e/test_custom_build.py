"""A custom build(config) through Ray and MLflow: the Python example, and the YAML file whose function Ray ships by value."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import keras
import pytest
from mlflow.tracking import MlflowClient

import automl
from automl import ConfigError, TuningResult
from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load_example():
    spec = importlib.util.spec_from_file_location("custom_build_example", EXAMPLES / "custom_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_python_example_tunes_the_residual_mlp(ray_local, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["custom_build.py", "--trials", "2", "--epochs", "1"])
    module = _load_example()
    calls = []  # in the driver; the workers' copies count their own
    example_build = module.build

    def build(config):
        calls.append(config)
        return example_build(config)

    monkeypatch.setattr(module, "build", build)
    module.main()
    out = capsys.readouterr().out
    assert "Best val_accuracy" in out
    assert len(calls) == len(module.SPACE.variants())  # the check before Ray, once: the run is planned once
    (run_dir,) = (tmp_path / "automl_runs").iterdir()
    # A Python function is not recorded, so resuming asks for it again.
    assert json.loads((run_dir / "run.json").read_text())["build"].endswith("build")
    with pytest.raises(ConfigError, match=r"^build: this run built its models with .*build; pass it again"):
        automl.resume(run_dir)


def test_yaml_example_runs_the_functions_file_on_the_workers(ray_local, tmp_path, capsys):
    args = ["tune", str(EXAMPLES / "custom_build.yaml"), "--quiet", "--set", "num_trials=2"]
    args += ["--set", "epochs=2", "--set", "name=residual", "--set", f"storage_path={tmp_path}"]
    # Every trial runs both epochs: with ASHA, which of the two is pruned depends on their order.
    args += ["--set", "scheduler=fifo"]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(args) == 0
    result = TuningResult.load(tmp_path / "residual")
    assert set(result.trials["state"]) == {"COMPLETE"}
    model = keras.saving.load_model(result.best_model_path)  # safe_mode on: built-in layers only
    assert any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    assert set(result.best_config) == {
        "width",
        "blocks",
        "activation",
        "dropout",
        "learning_rate",
        "batch_size",
    }

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{result.parent_run_id}'"
    )
    assert len(children) == 2
    for child in children:  # the function's hyperparameters are the params people compare
        assert {"width", "blocks", "activation", "dropout"} <= set(child.data.params)
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 2

    manifest = json.loads((tmp_path / "residual" / "run.json").read_text())
    assert manifest["build"] == f"{EXAMPLES / 'custom_build.py'}:build" and manifest["build_is_ref"]
