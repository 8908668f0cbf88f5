"""Helpers for tests that start real servers (Ray head, MLflow) on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request

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
