"""Ray's token file: made private when a run created it, named in a warning when others can read it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from automl.execution._local_ray import PRELOAD_ENV, keep_token_private


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


@pytest.mark.ray
def test_the_workers_of_a_local_ray_import_keras_before_their_first_trial(tmp_path):
    # In its own process: the pytest process may hold another Ray. The driver itself never imports Keras here.
    driver = textwrap.dedent(
        """
        import os, sys
        import ray
        from automl.execution._local_ray import PRELOAD_ENV, start_local_ray

        start_local_ray(log_to_driver=False)

        @ray.remote(num_cpus=1)
        class Trial:
            def modules(self):
                return sorted(m for m in ("keras", "tensorflow") if m in sys.modules)

        print(ray.get(Trial.remote().modules.remote()), "keras" in sys.modules, PRELOAD_ENV in os.environ)
        ray.shutdown()
        """
    )
    (tmp_path / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if k != PRELOAD_ENV}
    done = subprocess.run(
        [sys.executable, "-c", driver],
        env={**env, "HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.split("\n")[-2] == "['keras', 'tensorflow'] False False"
    )  # and the setting is not left behind
