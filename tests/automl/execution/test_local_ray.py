"""Ray's token file: made private when a run created it, named in a warning when others can read it; Ray's shutdown at exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

from automl.execution._local_ray import keep_token_private


def test_a_token_the_run_created_becomes_readable_by_its_owner_only(tmp_path, capsys):
    token = tmp_path / "auth_token"
    token.write_text("t")
    token.chmod(0o644)
    keep_token_private(token, created=True)
    assert token.stat().st_mode & 0o777 == 0o600
    assert capsys.readouterr().err == ""


def test_a_shared_token_that_was_there_before_is_named_not_changed(tmp_path, capsys):
    token = tmp_path / "auth_token"
    token.write_text("t")
    token.chmod(0o640)
    keep_token_private(token, created=False)
    assert token.stat().st_mode & 0o777 == 0o640
    err = capsys.readouterr().err
    assert err.startswith(f"[automl] warning: {token} ") and f"chmod 600 {token}" in err


def test_a_private_or_missing_token_says_nothing(tmp_path, capsys):
    token = tmp_path / "auth_token"
    keep_token_private(token, created=True)
    token.write_text("t")
    token.chmod(0o600)
    keep_token_private(token, created=False)
    assert capsys.readouterr().err == ""


EXITS_AFTER_STARTING_RAY = """
import atexit, sys
import ray
from automl.execution._local_ray import start_local_ray

# Registered before the run starts Ray, so it runs after automl's exit handler (and before Ray's own).
atexit.register(lambda: print("ray running after automl's exit handler:", ray.is_initialized(), flush=True))
start_local_ray(log_to_driver=sys.argv[1] == "logs")
print("started", ray.is_initialized(), flush=True)
"""


@pytest.mark.ray
@pytest.mark.parametrize("logs", [False, True])
def test_a_process_that_started_ray_without_worker_logs_shuts_it_down_first_at_exit(logs):
    out = subprocess.run(
        [sys.executable, "-c", EXITS_AFTER_STARTING_RAY, "logs" if logs else "quiet"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == [
        "started True",
        # With the workers' logs on, Ray's own handler (and its wait for their last lines) shuts it down.
        f"ray running after automl's exit handler: {logs}",
    ]
    assert "Traceback" not in out.stderr and "Error" not in out.stderr, out.stderr[-3000:]
