"""Helpers for tests that start real servers (Ray head, MLflow) on 127.0.0.1, and find their processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, *, what: str, timeout_s: float = 120) -> None:
    """Polls ``url`` until it answers (any HTTP status counts: 401 is a server asking for a token).

    Fails the test if ``process`` exits first or the time runs out; the caller
    stops the process.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"{what} exited with {process.returncode} before serving {url}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not serve {url} within {timeout_s:.0f} s")
            time.sleep(0.5)


def start_mlflow_server(directory: Path, port: int) -> subprocess.Popen:
    """Starts `mlflow server` on 127.0.0.1:``port`` with a sqlite backend in ``directory``; waits until it serves.

    The same directory and port after a stop bring back the same store.
    Stop it with `stop_process_group`.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{directory / 'backend.db'}",
            "--artifacts-destination",
            str(directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # No GenAI job runners: seven more processes that slow the start and compete with trials.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, what="mlflow server")
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def own_processes(title: str) -> set[int]:
    """This process's descendants whose command line starts with ``title`` (e.g. Ray's ``ray::IDLE``).

    Not `pgrep`: another Ray on the machine (another test run's) has processes
    of the same names.
    """
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError):  # not a process, or one that ended meanwhile
            continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - mine
        mine |= frontier
    found = set()
    for pid in mine:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(title.encode()):
                    found.add(pid)
        except OSError:
            continue
    return found
