"""The writer's calls move to a child process when they crowd the driver, and no write is lost on the way."""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import automl
from automl.tracking._mlflow_process import ClientProcess, ClientProcessError, _import_root
from automl.tracking._sender import _OFFLOAD_MIN_CALLS
from automl.tracking._writer import MlflowWriter, unsent


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("offload")


def _trial(writer, key, experiment, step=1):
    run = writer.create_run(key, experiment_id=experiment)
    writer.call("log_batch", run, params=[Param("units", "32")], metrics=[Metric("loss", 0.5, 0, step)])
    writer.call("set_terminated", run, status="FINISHED")
    return run


def _more_trials_until(done, writer, experiment, runs, timeout=60):
    """Sends one more trial at a time until ``done()`` (a child starting or failing meanwhile)."""
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        runs.append(_trial(writer, f"trial-{len(runs)}", experiment))
        assert writer.flush(timeout=60)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_back_to_back_calls_move_to_a_child_process_and_reach_the_store(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=0)
    runs = [_trial(writer, f"trial-{i}", experiment) for i in range(30)]  # 90 calls, nothing between them
    assert writer.flush(timeout=120)
    assert writer.process is not None, "calls taking most of a core should leave the driver's thread"
    # The writer did not wait for the child: the calls went on from its thread while it started.
    assert writer._sender.calls_here > _OFFLOAD_MIN_CALLS + 5
    pid = writer.process.pid
    _more_trials_until(lambda: writer.calls_offloaded > 0, writer, experiment, runs)  # until it is up
    assert writer.calls_offloaded > 0
    assert _alive(pid)
    writer.stop()
    assert not _alive(pid)  # stopped with the writer
    assert not (tmp_path / "mlflow_client_process.log").exists()  # it had nothing to say
    assert writer.retries == 0
    for run in runs:
        stored = client.get_run(run.id)
        assert stored.info.status == "FINISHED"
        assert stored.data.params == {"units": "32"}
    assert len(client.search_runs([experiment])) == len(runs)  # each run created once
    assert unsent(tmp_path / "journal.jsonl") == []


def test_calls_spread_out_stay_in_the_writers_thread(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=0)
    # 24 calls, one trial every 0.75 s: a few % of a core, well under the 15% that offloads
    # even when a busy machine makes each sqlite call costlier (at 0.3 s apart it came near).
    for i in range(8):
        _trial(writer, f"trial-{i}", experiment)
        time.sleep(0.75)
    assert writer.flush(timeout=60)
    writer.stop()
    assert writer.process is None
    assert len(client.search_runs([experiment])) == 8


def test_a_killed_child_process_loses_no_write(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=0, offload=True)
    first = _trial(writer, "trial-a", experiment)
    assert writer.flush(timeout=120)
    os.kill(writer.process.pid, signal.SIGKILL)
    second = _trial(writer, "trial-b", experiment)
    assert writer.flush(timeout=60)
    writer.stop()
    assert writer.process is None  # it went on from its own thread
    assert writer.retries >= 1
    for run in (first, second):
        assert client.get_run(run.id).info.status == "FINISHED"
    assert unsent(tmp_path / "journal.jsonl") == []


# The real child, run by a stand-in interpreter that exits right after it made a trial's run:
# the store has it, the writer never heard of it.
DIES_AFTER_CREATE = """
import os, sys
import automl.tracking._mlflow_process as child

answer = child._answer
def answer_unless_a_run_was_made(replies, reply):
    if isinstance(reply.get("result"), str):  # create_run's id
        os._exit(1)
    answer(replies, reply)
child._answer = answer_unless_a_run_was_made
child.main(os.environ[child._URI_VARIABLE])
"""


def test_a_run_made_by_a_child_that_died_before_answering_is_not_made_twice(store, tmp_path, monkeypatch):
    uri, client, experiment = store
    parent = client.create_run(experiment).info.run_id
    interpreter = tmp_path / "python"
    interpreter.write_text(f"#!{sys.executable}\n{DIES_AFTER_CREATE}")
    interpreter.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(interpreter))  # what the child is started with
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=0, offload=True)
    tags = {"mlflow.parentRunId": parent, "automl.trial_id": "trial-a"}
    run = writer.create_run("trial-a", experiment_id=experiment, tags=tags)
    writer.call("set_terminated", run, status="FINISHED")
    assert writer.flush(timeout=120)
    writer.stop()
    assert writer.process is None and writer.retries == 1  # retried once, from the writer's thread
    children = client.search_runs([experiment], "tags.automl.trial_id = 'trial-a'")
    assert [c.info.run_id for c in children] == [run.id]
    assert children[0].info.status == "FINISHED"


def test_the_child_process_ends_with_a_killed_driver_and_ignores_ctrl_c(store, tmp_path):
    uri, _, _ = store
    # A driver as small as can be: it starts the child as ClientProcess does and waits.
    driver = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, subprocess, sys, time
                child = subprocess.Popen(
                    [sys.executable, "-m", "automl.tracking._mlflow_process"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    env={{**os.environ, "AUTOML_MLFLOW_PROCESS_URI": {uri!r}}},
                )
                child.stdout.readline()  # ready
                print(child.pid, flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid = int(driver.stdout.readline())
        os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert _alive(pid), "Ctrl-C reaches the whole process group; the driver decides when writing ends"
        driver.kill()
        driver.wait()
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid), "the child should exit once its driver's end of the pipe closes"
    finally:
        driver.kill()
        driver.stdout.close()


def test_a_child_started_without_waiting_says_when_it_is_up(store, tmp_path, monkeypatch):
    uri, client, experiment = store
    child = ClientProcess(uri, log_file=tmp_path / "child.log", wait=False)
    try:
        assert not child.ready()  # importing MLflow takes it a second or more
        assert child.ready(timeout=120)
        assert child.call("create_run", None, experiment_id=experiment)
    finally:
        child.close()
    assert len(client.search_runs([experiment])) == 1
    monkeypatch.setattr(sys, "executable", "/bin/true")
    gone = ClientProcess(uri, log_file=tmp_path / "gone.log", wait=False)
    try:
        with pytest.raises(ClientProcessError, match="exited"):
            gone.ready(timeout=60)
        with pytest.raises(ClientProcessError, match="exited"):  # a call says so too
            gone.call("create_run", None, experiment_id=experiment)
    finally:
        gone.close()


def test_the_stores_refusal_comes_back_with_its_error_code(store, tmp_path):
    uri, client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    child = ClientProcess(uri, log_file=tmp_path / "child.log")
    try:
        child.call("log_batch", run_id, params=[Param("units", "32")])
        with pytest.raises(Exception, match="Changing param values is not allowed") as refused:
            child.call("log_batch", run_id, params=[Param("units", "64")])
        assert refused.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(RuntimeError, match="no_such_method"):
            child.call("no_such_method", run_id)
    finally:
        child.close()
    assert client.get_run(run_id).data.params == {"units": "32"}


@pytest.mark.parametrize("executable", ["/bin/echo", "/bin/true"], ids=["talks-nonsense", "exits-at-once"])
@pytest.mark.parametrize(
    ("offload", "trials"), [(True, 3), (None, 30)], ids=["asked", "started-when-crowded"]
)
def test_a_helper_that_cannot_start_leaves_the_writes_in_the_writers_thread(
    store, tmp_path, monkeypatch, executable, offload, trials
):
    # Asked for, the writer waits for the child's start; started when the calls crowd the
    # driver, it goes on from its thread and finds out at a later call.
    uri, client, experiment = store
    monkeypatch.setattr(sys, "executable", executable)  # what the child is started with
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=0, offload=offload)
    runs = [_trial(writer, f"trial-{i}", experiment) for i in range(trials)]
    assert writer.flush(timeout=60)
    _more_trials_until(lambda: writer.process is None, writer, experiment, runs)  # a later call finds out
    writer.stop()
    assert writer.process is None
    assert writer.retries == 0  # tried once, then never again
    assert writer.calls_offloaded == 0
    assert [client.get_run(run.id).info.status for run in runs] == ["FINISHED"] * len(runs)


def test_the_child_imports_the_drivers_automl_and_leaves_site_folders_in_their_place(monkeypatch):
    root = Path(automl.__file__).resolve().parent.parent
    assert _import_root() == str(root)  # a checkout or an editable install: first on the child's path
    monkeypatch.setattr(site, "getsitepackages", lambda: [str(root)])  # as if installed into site-packages
    assert _import_root() is None
