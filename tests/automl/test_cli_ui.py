"""`automl ui` on a sqlite store a run may be building at the same moment."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl.tracking._store_template import machine_lock
from tests._servers import free_port, wait_until_serving

LOCKS = Path("/proc/locks")


def _waits_on_a_flock(pid: int) -> bool:
    # Blocked waiters are listed as "N: -> FLOCK  ADVISORY  WRITE PID ...".
    return any(
        "->" in line and line.split("->")[1].split()[3] == str(pid) for line in LOCKS.read_text().splitlines()
    )


@pytest.mark.skipif(not LOCKS.exists(), reason="needs Linux's /proc/locks to see a process wait on a lock")
def test_ui_builds_a_new_store_under_the_lock_runs_build_it_with(tmp_path):
    db = tmp_path / "mlflow.db"
    port = free_port()
    with machine_lock(str(db.resolve())):  # what a run holds while it builds the same file
        ui = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "automl.cli",
                "ui",
                "--tracking-uri",
                f"sqlite:///{db}",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not _waits_on_a_flock(ui.pid):
                assert ui.poll() is None and time.monotonic() < deadline, "automl ui never waited on the lock"
                time.sleep(0.1)
            assert not db.exists()  # nothing built it beside the lock's holder
        except BaseException:
            ui.terminate()  # stops the server it may have started (its own process group) too
            ui.communicate(timeout=30)
            raise
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", ui, what="automl ui", timeout_s=90)
        assert [e.name for e in MlflowClient(f"sqlite:///{db}").search_experiments()] == ["Default"]
    finally:
        ui.terminate()
        ui.communicate(timeout=30)
