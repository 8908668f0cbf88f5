"""Reused workers are replaced by fresh processes when the recycling policy says so."""

from __future__ import annotations

import collections
import gc
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import keras
import pytest
from ray import tune
from ray.tune.search.optuna import OptunaSearch
from ray.tune.stopper import Stopper

import automl
from automl.execution._workers import WorkerPolicy, reusing_workers, worker_rss_mib
from search_spaces import Dense, LayerStack, Space
from tests._servers import own_processes


def test_policy_replaces_a_worker_after_its_trial_count_or_memory_growth():
    policy = WorkerPolicy(max_trials=3, max_memory_growth=0.1)
    assert policy.exceeded(trials=2, first_rss=800.0, rss=870.0) is None
    assert "ran 3 trials (max_trials_per_worker=3)" in policy.exceeded(trials=3, first_rss=800.0, rss=800.0)
    assert "grew +11% since its first trial, 800 -> 888 MiB" in policy.exceeded(
        trials=2, first_rss=800.0, rss=888.0
    )
    # Without a memory figure (a trial that failed before reporting) only the count applies.
    assert policy.exceeded(trials=2, first_rss=None, rss=900.0) is None
    unlimited = WorkerPolicy(max_trials=None, max_memory_growth=None)
    assert not unlimited.active
    assert unlimited.exceeded(trials=1000, first_rss=1.0, rss=1e6) is None


def test_worker_memory_is_this_process_resident_set():
    before = worker_rss_mib()
    block = bytearray(64 * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])  # touch every page so it is resident
    assert worker_rss_mib() - before > 48
    del block


_previous_model = None  # in a trial's worker: a weak reference to the model of the trial before


class HeapRecorder(keras.callbacks.Callback):
    """Writes, as each trial starts in its worker, what the collector sees there."""

    def __init__(self, directory):
        super().__init__()
        self.directory = str(directory)

    def on_train_begin(self, logs=None):
        # The trainer's clear_session() has run its full collection by now.
        seen = {"pid": os.getpid(), "frozen": gc.get_freeze_count(), "previous_model_alive": None}
        if _previous_model is not None:
            seen["previous_model_alive"] = _previous_model() is not None
        with open(os.path.join(self.directory, f"{time.time_ns()}.json"), "w") as out:
            json.dump(seen, out)

    def on_train_end(self, logs=None):
        global _previous_model
        _previous_model = weakref.ref(self.model)


@pytest.mark.slow
@pytest.mark.ray
def test_a_worker_is_reused_until_it_ran_its_share_of_trials(ray_local, tmp_path):
    (tmp_path / "heap").mkdir()
    result = automl.tune(
        Space(layers=LayerStack(Dense(units=16), max_layers=1), learning_rate=1e-2, batch_size=128),
        data="digits",
        num_trials=3,
        epochs=1,
        scheduler="fifo",
        max_concurrent_trials=1,
        max_trials_per_worker=2,
        max_worker_memory_growth=None,
        callbacks=[HeapRecorder(tmp_path / "heap")],
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        verbose=0,
    )
    trials = result.trials.sort_values("number")
    assert list(trials["state"]) == ["COMPLETE"] * 3
    assert (trials["worker_rss_mib"] > 100).all()  # each trial's worker, with TensorFlow loaded
    first, second, third = trials["worker"]
    # One at a time: trial 2 reuses trial 1's process; after its 2 trials, trial 3 gets a fresh one.
    assert second == first
    assert third != second
    # Each worker froze what its imports made before its first model, so the full collection
    # of every trial's clear_session() skips those objects, yet still frees the model before.
    seen = [json.loads(p.read_text()) for p in sorted((tmp_path / "heap").iterdir())]
    assert [s["previous_model_alive"] for s in seen] == [None, False, None]
    assert seen[0]["pid"] == seen[1]["pid"] != seen[2]["pid"]
    assert all(s["frozen"] > 100_000 for s in seen)  # TensorFlow's, Keras's and Ray's module state


# A fresh driver: the idle workers Ray starts at ray.init are there to be taken.
FIRST_TRIAL_SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import automl
    import automl.tracking._artifacts as artifacts
    from automl.planning._experiment import _start_ray
    from search_spaces import mlp
    from tests._servers import own_processes

    imports_on = []  # the threads that imported TensorFlow ahead for the end of the run
    ahead = artifacts._import_for_artifacts
    def recorded():
        imports_on.append(threading.current_thread().name)
        ahead()
    artifacts._import_for_artifacts = recorded

    _start_ray(None, verbose=0)  # as automl.tune starts local Ray
    deadline, idle = time.monotonic() + 60, []
    while not idle and time.monotonic() < deadline:
        time.sleep(0.2)
        idle = [str(pid) for pid in own_processes("ray::IDLE")]
    result = automl.tune(
        mlp(max_layers=1), data="digits", num_trials=1, epochs=1, scheduler="fifo",
        tracking_uri=sys.argv[1], storage_path=sys.argv[2], verbose=0,
    )
    print(json.dumps({"idle": idle, "worker": result.trials["worker"].iloc[0], "imports_on": imports_on}))
    """
)


@pytest.mark.slow
@pytest.mark.ray
def test_the_first_trial_runs_in_a_worker_ray_started_ahead(tmp_path):
    # Ray Tune gives trial actors a runtime_env of their own, and such an actor never takes
    # an idle worker: it waits for a new process. automl's trial actors have none.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            FIRST_TRIAL_SCRIPT,
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["idle"], "Ray started no idle worker within 60 s"
    assert seen["worker"].split(":")[1] in seen["idle"], seen
    # The same fresh driver: its last trial's start set off the end-of-run imports, once.
    assert seen["imports_on"] == ["automl-imports"], seen


def _trial_processes() -> set[int]:
    return own_processes("ray::ImplicitFunc")


def _short_trial(config: dict) -> None:
    time.sleep(0.05)  # shorter than a worker process takes to start
    tune.report({"pid": os.getpid(), "score": config["x"]})


class _UntilBothProcessesRanTrials(Stopper):
    """Ends an endless run once two processes each ran ``trials`` trials, or at ``timeout``.

    How many trials pass before the second process is up depends on the machine (it imports
    this module, so TensorFlow); a fixed trial count ran out before it on a slow one.
    """

    def __init__(self, trials: int, timeout: float) -> None:
        self.trials, self.deadline = trials, time.monotonic() + timeout
        self.per_pid: collections.Counter[int] = collections.Counter()

    def __call__(self, trial_id: str, result: dict) -> bool:
        self.per_pid[result["pid"]] += 1
        return False

    def stop_all(self) -> bool:
        both = len(self.per_pid) >= 2 and min(self.per_pid.values()) >= self.trials
        return both or time.monotonic() > self.deadline


def _both_cpus_free(timeout: float) -> bool:
    import ray

    deadline = time.monotonic() + timeout
    while ray.available_resources().get("CPU") != 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    return ray.available_resources().get("CPU") == 2


def _what_ray_holds() -> str:
    import ray

    groups = [(g["state"], g["bundles"]) for g in ray.util.placement_group_table().values()]
    live = [g for g in groups if g[0] != "REMOVED"]
    return f"available {ray.available_resources()}; placement groups not removed: {live}"


@pytest.mark.ray
def test_trials_shorter_than_a_process_start_run_two_at_a_time_in_two_processes(ray_local, tmp_path, caplog):
    # The searcher hands out one trial at a time, as in automl. Ray staged the next trial and
    # asked a new process for it; a running trial ended first, its process took the staged
    # trial, and Ray removed the new one before it was up. Every trial paid a process start
    # and the run never had its second worker.

    # A CPU an earlier test's run still holds would leave the second worker no room at all.
    assert _both_cpus_free(timeout=30), _what_ray_holds()
    caplog.set_level(logging.DEBUG, logger="automl.execution._workers")  # what became of each spare
    before, seen, done = _trial_processes(), set(), threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.update(_trial_processes() - before)
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    stopper = _UntilBothProcessesRanTrials(trials=15, timeout=120)
    try:
        with reusing_workers(WorkerPolicy(max_trials=None, max_memory_growth=None)):
            grid = tune.Tuner(
                _short_trial,
                param_space={"x": tune.uniform(0, 1)},
                tune_config=tune.TuneConfig(
                    num_samples=-1,  # until the stopper ends the run
                    max_concurrent_trials=2,
                    reuse_actors=True,
                    search_alg=OptunaSearch(metric="score", mode="max", seed=0),
                ),
                run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopper, verbose=0),
            ).fit()
    finally:
        done.set()
        watcher.join()
    assert not grid.errors
    pids = grid.get_dataframe()["pid"].dropna()  # trials the stop found staged ran nothing
    spares = [r.getMessage() for r in caplog.records if r.name == "automl.execution._workers"]
    why = f"trials per process {pids.value_counts().to_dict()}, processes seen {seen}, spares {spares}"
    assert pids.nunique() == 2, f"{why}; {_what_ray_holds()}"
    assert min(stopper.per_pid.values()) >= 15, stopper.per_pid
    assert len(seen) == 2, why  # no process started that never ran a trial
    # The spare Ray would have removed is gone with the run: both CPUs are free again.
    assert _both_cpus_free(timeout=10), _what_ray_holds()
