"""A backbone search with fine-tuning, from an experiment file through the command line to the export."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from automl import TuningResult
from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_yaml_fine_tunes_in_two_phases_and_exports_a_model_that_takes_raw_pixels(ray_local, tmp_path):
    args = ["tune", str(EXAMPLES / "finetune_backbone.yaml"), "--quiet", "--set", "num_trials=1"]
    args += ["--set", "epochs=2", "--set", "name=backbone", "--set", f"storage_path={tmp_path}"]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(args) == 0
    result = TuningResult.load(tmp_path / "backbone")
    assert list(result.trials["state"]) == ["COMPLETE"]
    assert list(result.trials["epochs"]) == [2]  # one epoch counter across both phases

    client = MlflowClient(result.tracking_uri)
    run_id = result.trials["mlflow_run_id"].iloc[0]
    phases = client.get_metric_history(run_id, "phase")
    assert sorted((m.step, m.value) for m in phases) == [(1, 1.0), (2, 2.0)]
    assert client.get_run(run_id).data.params["layers.0.name"] == "MobileNetV3Small"

    out = tmp_path / "exported.keras"
    assert main(["export", str(result.run_dir), "--format", "keras", "--out", str(out)]) == 0
    exported = keras.saving.load_model(out, safe_mode=True)
    backbone = exported.get_layer("backbone")
    assert any(isinstance(layer, keras.layers.Rescaling) for layer in backbone.layers)  # its preprocessing
    images = np.load(EXAMPLES / "data" / "backbone_images.npz")["x"][:4].astype("float32")
    best = keras.saving.load_model(result.best_model_path)
    np.testing.assert_allclose(exported.predict(images, verbose=0), best.predict(images, verbose=0), rtol=1e-5)
