"""The user's callbacks in a whole run: relative paths land in each trial's directory and in its MLflow run."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl import TuningResult
from automl.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.ray]

CALLBACKS = """
import keras

def logs():
    return [keras.callbacks.CSVLogger("epochs.csv"), keras.callbacks.TensorBoard("tb", write_graph=False)]
"""

EXPERIMENT = """
data: {sklearn: digits}
space: {preset: mlp}
num_trials: 2
epochs: 2
scheduler: fifo
seed: 0
callbacks: [callbacks.py:logs]
"""


def test_callbacks_from_an_experiment_file_write_into_the_trials_directories_and_mlflow(ray_local, tmp_path):
    (tmp_path / "callbacks.py").write_text(CALLBACKS)
    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cwd = os.getcwd()
    args = ["tune", str(tmp_path / "exp.yaml"), "--quiet", "--set", "name=cb", "--set", f"tracking_uri={uri}"]
    assert main([*args, "--set", f"storage_path={tmp_path / 'runs'}"]) == 0
    assert os.getcwd() == cwd

    result = TuningResult.load(tmp_path / "runs" / "cb")
    client = MlflowClient(uri)
    for _, trial in result.trials.iterrows():
        directory = result.run_dir / f"trial_{trial['trial_id']}"
        with (directory / "epochs.csv").open() as f:
            assert [int(row["epoch"]) for row in csv.DictReader(f)] == [0, 1]
        assert any((directory / "tb" / "train").iterdir())
        attached = {a.path for a in client.list_artifacts(trial["mlflow_run_id"], "files")}
        assert attached == {"files/epochs.csv", "files/tb"}
        events = client.list_artifacts(trial["mlflow_run_id"], "files/tb/validation")
        assert [Path(a.path).name.startswith("events.out.tfevents") for a in events] == [True]
    assert not list(Path(cwd).glob("epochs.csv"))
