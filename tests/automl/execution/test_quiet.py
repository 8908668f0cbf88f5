"""Other libraries' lines go to automl.log; automl's own stay on the terminal."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

from automl.execution._quiet import LOG_FILE, third_party_lines


def test_ray_s_records_go_to_the_log_and_an_error_also_shows_as_one_line_of_ours(tmp_path, capsys):
    ray_logger = logging.getLogger("ray.tune.tune")
    before = logging.getLogger("ray").handlers[:]
    with third_party_lines(tmp_path, verbose=1):
        ray_logger.warning("Resume experiment with: Tuner.restore(path=...)")
        ray_logger.error("Trial failed\nTraceback ...")
    assert logging.getLogger("ray").handlers == before
    log = (tmp_path / LOG_FILE).read_text()
    assert "Tuner.restore(" in log and "Traceback ..." in log
    err = capsys.readouterr().err
    assert err == f"[automl] Ray reported an error: Trial failed (details in {tmp_path / LOG_FILE})\n"


def test_mlflow_s_records_and_run_links_stay_off_the_terminal(tmp_path, capsys):
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT as NO_LINKS

    before = NO_LINKS.get()
    with third_party_lines(tmp_path, verbose=1):
        assert NO_LINKS.get() is True
        logging.getLogger("mlflow.store.model_registry").info("Waiting up to 300 seconds for model version")
        logging.getLogger("mlflow.tracking").error("API request failed\ndetails")
    assert NO_LINKS.get() == before
    log = (tmp_path / LOG_FILE).read_text()
    assert "Waiting up to 300 seconds" in log and "details" in log
    err = capsys.readouterr().err
    assert err == f"[automl] MLflow reported an error: API request failed (details in {tmp_path / LOG_FILE})\n"


def test_a_new_run_that_never_makes_its_directory_leaves_none_and_earlier_lines_wait_for_it(tmp_path):
    run = tmp_path / "run"
    with third_party_lines(run, verbose=1, new=True):
        logging.getLogger("ray").warning("token authentication is on")
    assert not run.exists()  # a run refused before it started leaves nothing behind
    with third_party_lines(run, verbose=1, new=True):
        logging.getLogger("ray").warning("before the run made its directory")
        run.mkdir()
        logging.getLogger("ray").warning("after")
    log = (run / LOG_FILE).read_text()
    assert log.index("before the run made its directory") < log.index("after")


def test_a_new_run_writes_nothing_into_another_run_s_directory_of_its_name(tmp_path):
    other = tmp_path / "run"
    other.mkdir()  # a run of that name exists: the new one will be refused
    with third_party_lines(other, verbose=1, new=True):
        logging.getLogger("ray").warning("the new run's line")
    assert not (other / LOG_FILE).exists()


def test_at_verbose_2_nothing_is_routed(tmp_path):
    with third_party_lines(tmp_path, verbose=2):
        logging.getLogger("ray").warning("shown")
    assert not (tmp_path / LOG_FILE).exists()


def test_native_stderr_goes_to_the_log_while_python_s_stderr_stays_on_the_terminal(tmp_path):
    code = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from automl.execution._quiet import third_party_lines

        with third_party_lines(Path(sys.argv[1]), verbose=1):
            os.write(2, b"I0000 absl start-up line\\n")
            print("[automl] ours", file=sys.stderr)
        os.write(2, b"after\\n")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[automl] ours\nafter\n"
    assert "I0000 absl start-up line" in (tmp_path / LOG_FILE).read_text()
