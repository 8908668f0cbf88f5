"""An `automl tune` driver in a subprocess of its own, watched through its MLflow store and stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient


def start_driver(args: Sequence[str], log: Path) -> subprocess.Popen:
    """``python -m automl ARGS`` in a new session (its Ray is its own), stderr to ``log``."""
    with log.open("w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "automl", *args],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def trial_runs(client: MlflowClient, experiment_name: str) -> list[Run]:
    """The experiment's trial runs so far; none while the driver is still making the store."""
    try:
        experiment = client.get_experiment_by_name(experiment_name)
    except Exception:  # the driver is still creating the store's tables
        return []
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], "tags.automl.trial_id != ''")


def wait_for(
    condition: Callable[[], bool], driver: subprocess.Popen, log: Path, *, timeout_s: float = 240
) -> None:
    """Polls ``condition`` while the driver runs; fails the test (killing the driver) if it ends or times out first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline or driver.poll() is not None:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            pytest.fail(f"the driver never got there (exit {driver.wait()}): {log.read_text()}")
        time.sleep(0.2)


def ctrl_c(driver: subprocess.Popen, log: Path) -> None:
    """Ctrl-C to the driver's process group; it ends with 130 once its run is saved for `automl resume`."""
    os.killpg(driver.pid, signal.SIGINT)
    assert driver.wait(timeout=120) == 130, log.read_text()
