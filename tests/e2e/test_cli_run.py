"""The command line end to end: tune the example file, read the best, export, open the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from automl.cli import main
from tests._servers import free_port, wait_until_serving
from trainers import load_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.yaml"


@pytest.fixture(scope="module")
def run_dir(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    overrides = {
        "num_trials": 2,
        "epochs": 2,
        "storage_path": str(tmp / "runs"),
        "tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}",
        "name": "cli-run",
    }
    args = ["tune", str(EXAMPLE), "--quiet"]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    assert main(args) == 0
    return tmp / "runs" / "cli-run"


def test_tune_writes_a_result_that_best_reads(run_dir, capsys):
    assert (run_dir / "result.json").exists() and (run_dir / "trials.csv").exists()
    assert main(["best", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Best val_accuracy: " in out and "best_model.keras" in out


def test_each_trial_has_ray_s_result_files_but_no_tensorboard_files(run_dir):
    trials = pd.read_csv(run_dir / "trials.csv")
    assert len(trials) == 2
    for trial_id, epochs in zip(trials["trial_id"], trials["epochs"], strict=True):
        trial_dir = run_dir / f"trial_{trial_id}"
        assert len((trial_dir / "result.json").read_text().splitlines()) == epochs  # a line per report
        assert (trial_dir / "progress.csv").exists()
        assert not list(trial_dir.glob("events.out.tfevents*"))
    assert "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS" not in os.environ  # set for the fit only


def test_export_keras_and_savedmodel(run_dir, tmp_path):
    x = load_sklearn("digits").x_val[:3]
    assert main(["export", str(run_dir), "--format", "keras", "--out", str(tmp_path / "m.keras")]) == 0
    expected = keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0)
    assert main(["export", str(run_dir), "--format", "savedmodel", "--out", str(tmp_path / "served")]) == 0
    served = tf.saved_model.load(str(tmp_path / "served"))
    np.testing.assert_allclose(served.serve(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_export_keras_needs_the_suffix(run_dir, tmp_path, capsys):
    assert main(["export", str(run_dir), "--out", str(tmp_path / "model.h5")]) == 2
    assert "a keras export is a `.keras` file" in capsys.readouterr().err


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of sockets listening on ``port``, from /proc (IPv4 and IPv6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def test_ui_serves_the_runs_page_on_loopback_only(run_dir):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "ui", str(run_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, what="automl ui", timeout_s=90)
        # 0100007F is 127.0.0.1 in /proc's little-endian hex: nothing listens on 0.0.0.0 or ::.
        assert _listening_addresses(port) == {"0100007F"}
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert "/#/experiments/" in out and "workflowType=machine_learning" in out
