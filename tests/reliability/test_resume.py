"""A driver killed mid-run: `automl.resume` finishes it; no trial lost, re-run or duplicated."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from ray import tune

import automl
from automl.execution._workers import WorkerPolicy, reusing_workers
from automl.tracking._tracking import tracking_client
from automl.tracking._writer import PENDING_FILE, unsent

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TRIALS, EPOCHS = 5, 8

DRIVER = textwrap.dedent(
    """
    import sys
    import automl
    from search_spaces import mlp

    automl.tune(
        mlp(max_layers=2), data="digits", num_trials={trials}, epochs={epochs}, patience={epochs},
        scheduler="fifo", seed=0, max_concurrent_trials=2, name="killed", experiment_name="resume",
        tracking_uri=sys.argv[1], storage_path=sys.argv[2], verbose=0,
    )
    """
).format(trials=TRIALS, epochs=EPOCHS)


def _states(uri: str) -> dict[str, str]:
    """Trial id → MLflow status of its child run (RUNNING, FINISHED, ...)."""
    try:
        client = tracking_client(uri)  # as the driver opens it: a new store is built under a lock
        experiment = client.get_experiment_by_name("resume")
    except Exception:  # the driver is still creating the store's tables
        return {}
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.automl.trial_id != ''")
    return {r.data.tags["automl.trial_id"]: r.info.status for r in runs}


def _unsent_trials(run_dir) -> set[str]:
    """Trials whose run creation the driver journaled but had not sent when it was killed."""
    creations = [e for e in unsent(run_dir / PENDING_FILE) if e["method"] == "create_run"]
    return {
        e["kwargs"]["tags"]["automl.trial_id"] for e in creations if "automl.trial_id" in e["kwargs"]["tags"]
    }


# Trials a stop caught running: left RUNNING by a killed driver, KILLED (automl.state INTERRUPTED)
# after Ctrl-C. Under fifo with no time budget, nothing else ends a run KILLED.
CAUGHT = {"RUNNING", "KILLED"}


@dataclasses.dataclass(frozen=True)
class Stopped:
    run_dir: Path
    uri: str
    states: dict[str, str]  # trial id -> MLflow status of its run, right after the stop
    before: dict[str, tuple[str, int | None]]  # run id -> (status, end time), right after the stop
    signal: int
    returncode: int
    stderr: str


@pytest.fixture(scope="module", params=[signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def killed(request, tmp_path_factory):
    """Starts a tuning run in its own process and stops it once a trial is done.

    SIGKILL to the process group kills the driver and its Ray; SIGINT to it is Ctrl-C
    in a terminal: Ray saves its state, the driver closes the runs and says how to resume.
    """
    tmp = tmp_path_factory.mktemp("resume")
    uri, storage = f"sqlite:///{tmp / 'mlflow.db'}", tmp / "runs"
    err = tmp / "driver.err"
    with err.open("w") as stderr:
        driver = subprocess.Popen(
            [sys.executable, "-c", DRIVER, uri, str(storage)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    run_dir = storage / "killed"
    deadline = time.monotonic() + 240
    while "FINISHED" not in _states(uri).values():
        if time.monotonic() > deadline or driver.poll() is not None:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            pytest.fail(f"the driver did not finish a trial in time (exit {driver.poll()})")
        time.sleep(0.2)
    time.sleep(1.5)  # let the running trials get a few epochs in
    os.killpg(driver.pid, request.param)
    try:
        driver.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(driver.pid, signal.SIGKILL)
        pytest.fail("the driver did not stop within 120 s of Ctrl-C")
    client = MlflowClient(uri)
    before = {
        r.info.run_id: (r.info.status, r.info.end_time)
        for r in client.search_runs([client.get_experiment_by_name("resume").experiment_id])
    }
    # A creation still queued in the writer at the kill is in the journal only;
    # resume replays it, and deletes it too if Ray never recorded the trial.
    states = {trial: "UNSENT" for trial in _unsent_trials(run_dir)} | _states(uri)
    return Stopped(run_dir, uri, states, before, request.param, driver.returncode, err.read_text())


@pytest.fixture(scope="module")
def resumed_with_output(killed, ray_local):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = automl.resume(killed.run_dir, verbose=1)
    return result, out.getvalue()


@pytest.fixture(scope="module")
def resumed(resumed_with_output):
    return resumed_with_output[0]


def test_the_kill_happened_mid_run(killed):
    states = killed.states
    assert "FINISHED" in states.values()
    assert len(states) < TRIALS or CAUGHT & set(states.values())
    # The parent at least: left RUNNING by a kill, KILLED after Ctrl-C.
    assert ("RUNNING" if killed.signal == signal.SIGKILL else "KILLED") in {
        s for s, _ in killed.before.values()
    }


def test_ctrl_c_ends_the_driver_saying_how_to_resume(killed):
    if killed.signal != signal.SIGINT:
        pytest.skip("a killed driver says nothing")
    assert killed.returncode != 0
    assert f"continue the run with automl.resume({str(killed.run_dir)!r})" in killed.stderr
    client = MlflowClient(killed.uri)
    caught = [
        r
        for r in client.search_runs([client.get_experiment_by_name("resume").experiment_id])
        if r.info.status == "KILLED" and "automl.trial_id" in r.data.tags
    ]
    assert all(r.data.tags["automl.state"] == "INTERRUPTED" for r in caught)


def test_resume_finishes_the_budget_without_duplicates(resumed):
    trials = resumed.trials
    assert len(trials) == TRIALS
    assert trials["trial_id"].is_unique and list(trials["number"]) == list(range(1, TRIALS + 1))
    assert set(trials["state"]) == {"COMPLETE"}
    assert resumed.best_model_path.exists()


def test_resume_says_where_the_run_is_and_prints_only_automl_s_lines(killed, resumed_with_output):
    _, out = resumed_with_output
    lines = [line for line in out.splitlines() if line]
    assert lines[0] == f"[automl] resuming run {killed.run_dir.name}"
    assert lines[1].startswith(f"[automl] run directory {killed.run_dir} | MLflow experiment 'resume' at ")
    # Ray restores its callbacks from the interrupted driver's pickle (verbose=0 there):
    # its console stays replaced, and the restored tracker prints as resume() asks.
    assert all(line.startswith("[automl] ") for line in lines), out
    assert any(line.startswith("[automl] trial ") for line in lines), out


def test_finished_trials_were_not_rerun(killed, resumed):
    client = MlflowClient(killed.uri)
    finished = [t for t, s in killed.states.items() if s == "FINISHED"]
    done = resumed.trials[resumed.trials["trial_id"].isin(finished)]
    for run_id in done["mlflow_run_id"]:
        run = client.get_run(run_id)
        assert (run.info.status, run.info.end_time) == killed.before[run_id]


def test_running_trials_continued_from_their_checkpoints(killed, resumed):
    # A trial the driver started after Ray's last experiment-state snapshot is unknown
    # to the resumed run (Ray runs a new one instead); the others continue.
    known = set(resumed.trials["trial_id"])
    interrupted = [t for t, s in killed.states.items() if s in CAUGHT and t in known]
    for trial_id in interrupted:
        # Ray's own record of the trial: one row per reported epoch, naming the
        # checkpoint the epoch wrote, if any (not every epoch writes one).
        lines = (killed.run_dir / f"trial_{trial_id}" / "result.json").read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        epochs = [row["epoch"] for row in rows]
        cut = next((i for i in range(1, len(epochs)) if epochs[i] <= epochs[i - 1]), len(epochs))
        assert epochs[:cut] == list(range(1, cut + 1)), epochs
        if cut == len(epochs):  # no epoch redone: none reported before the stop, or its last
            assert epochs[-1] == EPOCHS, epochs
            continue
        restart = epochs[cut]
        assert epochs[cut:] == list(range(restart, EPOCHS + 1)), epochs
        saved = [row["epoch"] for row in rows[:cut] if row["checkpoint_dir_name"]]
        # It continues after a checkpoint it reported, never from epoch 1 once it has
        # one: the newest in Ray's last state, or the newest still complete
        # (`_usable_checkpoint`). After Ctrl-C, Ray's last state has the newest reported.
        assert restart - 1 in saved, (epochs, saved)
        if killed.signal == signal.SIGINT:
            assert restart - 1 == saved[-1], (epochs, saved)


def _counting_trainable(config: dict) -> None:
    """Reports epochs 1-5, each with a checkpoint holding its number; resumes after it."""
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as saved:
            start = int(Path(saved, "epoch").read_text())
    for epoch in range(start + 1, 6):
        Path(config["began"], f"{start}-{epoch}").touch()  # which run trained which epoch
        with tempfile.TemporaryDirectory() as out:
            Path(out, "epoch").write_text(str(epoch))
            tune.report(
                {"epoch": epoch, "restored_from": start}, checkpoint=tune.Checkpoint.from_directory(out)
            )


class _CtrlCWhileHandling(tune.Callback):
    """Presses Ctrl-C while the driver handles the first run's result of ``epoch``."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if result["epoch"] == self.epoch and result["restored_from"] == 0:
            os.kill(os.getpid(), signal.SIGINT)  # Ray's handler: the run ends after this step


def test_ctrl_c_right_after_a_reported_checkpoint_resumes_from_that_checkpoint(ray_local, tmp_path):
    # Ray registers a reported checkpoint when the trial's separate save task returns, a step
    # after the result. Ctrl-C in that step ended the run with the save pending: the state
    # named the checkpoint before, and the resumed trial redid epoch 3 (plain Ray Tune does).
    (tmp_path / "began").mkdir()
    policy = WorkerPolicy(max_trials=None, max_memory_growth=None)
    with reusing_workers(policy):
        stopped = tune.Tuner(
            _counting_trainable,
            param_space={"began": str(tmp_path / "began")},
            run_config=tune.RunConfig(
                name="stopped", storage_path=str(tmp_path), callbacks=[_CtrlCWhileHandling(3)], verbose=0
            ),
        ).fit()
    assert stopped[0].metrics["epoch"] == 3
    with reusing_workers(policy):
        resumed = tune.Tuner.restore(str(tmp_path / "stopped"), _counting_trainable).fit()
    epochs = resumed[0].metrics_dataframe[["epoch", "restored_from"]].itertuples(index=False)
    assert [tuple(row) for row in epochs] == [(1, 0), (2, 0), (3, 0), (4, 3), (5, 3)]
    # Once stopped, the trial trained no epoch past its last report (its save came in, then it was stopped).
    assert sorted(p.name for p in (tmp_path / "began").iterdir()) == ["0-1", "0-2", "0-3", "3-4", "3-5"]


def test_runs_of_trials_ray_never_recorded_are_deleted_not_duplicated(killed, resumed):
    orphans = set(killed.states) - set(resumed.trials["trial_id"])
    client = MlflowClient(resumed.tracking_uri)
    deleted = client.search_runs([resumed.experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert {r.data.tags["automl.trial_id"] for r in deleted} == orphans
    notes = client.get_run(resumed.parent_run_id).data.tags
    assert all(f"automl.deleted.{r.info.run_id}" in notes for r in deleted)


def test_mlflow_has_one_run_per_trial_and_one_point_per_epoch(resumed):
    client = MlflowClient(resumed.tracking_uri)
    runs = client.search_runs([resumed.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == resumed.parent_run_id]
    assert len(children) == TRIALS
    assert {r.info.status for r in runs} == {"FINISHED"}  # no run left RUNNING, parent included
    epochs = dict(zip(resumed.trials["mlflow_run_id"], resumed.trials["epochs"], strict=True))
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == list(range(1, epochs[child.info.run_id] + 1))


def test_resume_refuses_directories_it_did_not_make(tmp_path):
    with pytest.raises(automl.ConfigError, match=r"^run_dir: .* holds no readable run\.json"):
        automl.resume(tmp_path)


def test_resume_refuses_a_directory_others_can_write(killed, tmp_path):
    run_dir = killed.run_dir
    mode = run_dir.stat().st_mode
    run_dir.chmod(mode | 0o002)
    try:
        with pytest.raises(automl.ConfigError, match=r"is writable by other users .*refusing to restore"):
            automl.resume(run_dir)
    finally:
        run_dir.chmod(mode)
