"""A backbone search with fine-tuning, from an experiment file through the command line to the export."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from automl import TuningResult
from automl.cli import main
from tests._driver import ctrl_c, start_driver, trial_runs, wait_for

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
    np.testing.assert_allclose(
        exported.predict(images, verbose=0), best.predict(images, verbose=0), rtol=1e-5
    )


# Holds each trial at the start of its third epoch (in phase 2, its second epoch reported) until the
# test lets it go: the Ctrl-C then always comes mid-phase-2, whatever the machine's speed.
_HOLD = """
import os
import time
from pathlib import Path

import keras

HERE = Path({here!r})  # the test's directory: where the markers are


class HoldInPhaseTwo(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch != 2 or (HERE / "release").exists():
            return
        (HERE / f"held-{{os.getpid()}}").touch()
        deadline = time.monotonic() + 120
        while not (HERE / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


def make():
    return [HoldInPhaseTwo()]
"""


def _phases(client, run_id):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, "phase"))


def test_ctrl_c_mid_phase_two_then_resume_continues_in_phase_two(ray_local, tmp_path):
    """`automl tune` of a backbone file stopped with Ctrl-C in phase 2, then `automl resume`."""
    shutil.copyfile(EXAMPLES / "data" / "backbone_images.npz", tmp_path / "images.npz")  # 60 images, 32x32
    (tmp_path / "hold.py").write_text(_HOLD.format(here=str(tmp_path)))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    (tmp_path / "experiment.yaml").write_text(
        "data: {npz: images.npz}\n"
        "space:\n"
        "  layers:\n"
        "    type: stack\n"
        "    layers:\n"
        "      - {type: backbone, name: MobileNetV3Small, weights: null, pooling: avg, head_epochs: 1,\n"
        "         fine_tune_at: 0.8, fine_tune_lr_factor: {type: float, low: 0.05, high: 0.2}}\n"
        "  learning_rate: 0.003\n"
        "  batch_size: 16\n"
        "callbacks: [hold.py:make]\n"
        # The training loss: it falls every epoch here (the validation loss stays at ln 3 with a random
        # backbone), so phase 2's first epoch writes a checkpoint, which the resume continues from.
        "metric: loss\nmode: min\n"
        "num_trials: 2\nepochs: 3\npatience: 3\nscheduler: fifo\nseed: 0\nmax_concurrent_trials: 2\n"
        f"name: stopped\nexperiment_name: backbone-resume\ntracking_uri: {uri}\n"
        f"storage_path: {tmp_path / 'runs'}\n"
    )
    log = tmp_path / "driver.err"
    driver = start_driver(["tune", str(tmp_path / "experiment.yaml"), "--quiet"], log)
    client = MlflowClient(uri)

    def both_held_in_phase_two() -> bool:
        runs = trial_runs(client, "backbone-resume")
        in_two = [r for r in runs if (2, 2.0) in _phases(client, r.info.run_id)]
        return len(list(tmp_path.glob("held-*"))) == 2 and len(in_two) == 2

    wait_for(both_held_in_phase_two, driver, log)
    ctrl_c(driver, log)
    (tmp_path / "release").touch()
    run_dir = tmp_path / "runs" / "stopped"
    for run in trial_runs(client, "backbone-resume"):
        assert run.info.status != "FINISHED" and _phases(client, run.info.run_id) == [(1, 1.0), (2, 2.0)]

    assert main(["resume", str(run_dir), "--quiet"]) == 0
    result = TuningResult.load(run_dir)
    assert list(result.trials["state"]) == ["COMPLETE", "COMPLETE"]
    runs = trial_runs(client, "backbone-resume")
    assert sorted(r.data.tags["automl.trial_id"] for r in runs) == sorted(result.trials["trial_id"])
    for run in runs:  # every epoch once in MLflow, in its phase
        assert run.info.status == "FINISHED"
        assert _phases(client, run.info.run_id) == [(1, 1.0), (2, 2.0), (3, 2.0)]
        assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "loss")) == [1, 2, 3]

    for trial_id in result.trials["trial_id"]:
        # Ray's record of the trial: epoch 2 wrote a checkpoint (in phase 2), and the resumed fit went
        # on from it with epoch 3, not from epoch 1's checkpoint.
        trial_dir = run_dir / f"trial_{trial_id}"
        rows = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]
        assert [(row["epoch"], row["phase"]) for row in rows] == [(1, 1.0), (2, 2.0), (3, 2.0)]
        assert rows[1]["checkpoint_dir_name"]
        # Phase 2 went on with the optimizer it had (not compiled again on resume): its step count holds
        # both phase-2 epochs, 3 batches of 16 each from the 48 training images.
        last = keras.saving.load_model(trial_dir / rows[-1]["checkpoint_dir_name"] / "last.keras")
        assert int(keras.ops.convert_to_numpy(last.optimizer.iterations)) == 2 * 3
