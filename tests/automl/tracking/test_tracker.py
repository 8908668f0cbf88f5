"""The tracker and its store: Ray pickles the tracker into a run's experiment state, a resumed run unpickles it."""

from __future__ import annotations

import logging
import pickle

import pytest
from mlflow.tracking import MlflowClient

from automl.tracking._tracking import OFFLOAD_MIN_TRIALS, MlflowTracker, tracking_client
from search_spaces import mlp


def _tracker(tmp_path, verbose: int, num_trials: int = 3) -> MlflowTracker:
    return MlflowTracker(
        client=MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"),
        experiment_id="0",
        parent_run_id="parent",
        space=mlp(),
        metric="val_accuracy",
        mode="max",
        epochs=2,
        metric_names=["val_accuracy"],
        num_trials=num_trials,
        journal=tmp_path / "pending.jsonl",
        verbose=verbose,
    )


def test_verbosity_survives_the_pickle(tmp_path):
    tracker = _tracker(tmp_path, verbose=0)
    restored = pickle.loads(pickle.dumps(tracker))
    assert restored.verbose == 0
    for each in (tracker, restored):
        each._writer.stop()


@pytest.mark.parametrize(
    ("num_trials", "helper"),
    [(OFFLOAD_MIN_TRIALS - 1, False), (OFFLOAD_MIN_TRIALS, True)],
    ids=["fewer", "enough"],
)
def test_only_a_run_of_many_trials_moves_its_mlflow_calls_to_a_helper_process(tmp_path, num_trials, helper):
    # The helper's start pays for itself over a few hundred short trials, not over a few dozen.
    tracker = _tracker(tmp_path, verbose=0, num_trials=num_trials)
    restored = pickle.loads(pickle.dumps(tracker))  # a resumed run decides the same way
    experiment = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").create_experiment("many")
    for each in (tracker, restored):
        writer = each._writer
        for i in range(15):  # 30 calls back to back: as crowding as calls get
            run = writer.create_run(f"trial-{i}", experiment_id=experiment)
            writer.call("set_terminated", run, status="FINISHED")
        assert writer.flush(timeout=120)
        assert (writer.process is not None) == helper
        writer.stop()


def test_a_new_sqlite_store_is_built_without_info_lines_and_mlflow_s_level_comes_back(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(tmp_path / "cache"))  # builds the empty store's template too
    log = logging.getLogger("mlflow.store.db.utils")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        tracking_client(f"sqlite:///{tmp_path / 'quiet.db'}").search_experiments()
        assert (tmp_path / "quiet.db").exists() and seen == []
        assert list((tmp_path / "cache").glob("mlflow-schema-*.db"))
        assert log.level == logging.INFO
        MlflowClient(f"sqlite:///{tmp_path / 'loud.db'}").search_experiments()  # the check above can fail
        assert any("Creating initial MLflow database tables" in r.getMessage() for r in seen)
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def test_every_hook_of_ray_s_console_is_silenced(capsys):
    # Some of Ray's console hooks print whatever the verbosity (on_trial_error did, and failed
    # the run): each hook its reporter adds to Callback must be replaced.
    from ray.tune.callback import Callback
    from ray.tune.experimental.output import ProgressReporter

    from automl.execution._ray_compat import _NoRayConsole

    hooks = [
        name
        for name in dir(ProgressReporter)
        if (name.startswith("on_") or name in ("experiment_started", "print_heartbeat"))
        and getattr(ProgressReporter, name) is not getattr(Callback, name, None)
    ]
    assert "on_trial_error" in hooks
    console = _NoRayConsole()
    for name in hooks:
        assert getattr(_NoRayConsole, name) is _NoRayConsole._silent, name
        getattr(console, name)(iteration=1, trials=[], trial=None, result={})
    assert capsys.readouterr().out == ""


def _record(trial_id: str, number: int, state=None, history=None, took: float | None = None):
    from automl._result import TrialState
    from automl.tracking._ops import RunRef
    from automl.tracking._records import TrialRecord

    record = TrialRecord(trial_id, number, RunRef(trial_id), {}, started=0.0, history=history or {})
    record.state = state or TrialState.RUNNING
    record.ended = took
    return record


class _RayTrial:  # what the tracker reads of Ray's trials at each step: their status
    def __init__(self, status: str) -> None:
        self.status = status


def test_a_status_line_comes_after_a_stretch_with_no_line(tmp_path, capsys):
    from automl._result import TrialState

    tracker = _tracker(tmp_path, verbose=1)
    done = _record("a", 1, TrialState.COMPLETE, {"val_accuracy": [0.5, 0.8]}, took=10.0)
    tracker.records = {"a": done, "b": _record("b", 2)}
    tracker.on_step_end(iteration=1, trials=[])  # Ray's loop, right after the tracker started
    assert capsys.readouterr().out == ""
    tracker.status_every_s = 0.0
    tracker.on_step_end(iteration=2, trials=[])
    line = capsys.readouterr().out
    assert line.startswith("[automl] 1/3 done (1 complete), 1 running, best val_accuracy=0.8000 | elapsed ")
    assert line.rstrip().endswith("s left")
    tracker.verbose = 0
    tracker.on_step_end(iteration=3, trials=[])
    assert capsys.readouterr().out == ""
    tracker._writer.stop()


def test_progress_counts_finished_trials_for_the_best_and_paused_ones_apart(tmp_path, capsys):
    from automl._result import TrialState

    tracker = _tracker(tmp_path, verbose=1, num_trials=6)
    tracker.status_every_s = 0.0
    tracker.records = {
        "a": _record("a", 1, TrialState.PRUNED, {"val_accuracy": [0.6]}, took=5.0),
        # Running trials' epochs so far are not a result yet.
        "b": _record("b", 2, history={"val_accuracy": [0.9]}),
        "c": _record("c", 3, history={"val_accuracy": [0.7]}),
        "d": _record("d", 4),
    }
    ray_trials = [_RayTrial(s) for s in ("TERMINATED", "RUNNING", "RUNNING", "PAUSED", "PENDING")]
    tracker.on_step_end(iteration=1, trials=ray_trials)
    line = capsys.readouterr().out
    assert line.startswith("[automl] 1/6 done (1 pruned), 2 running, 1 paused, best val_accuracy=0.6000 | ")
    # One trial finished while two ran at once: too few to estimate from.
    assert line.rstrip().endswith("s") and "left" not in line
    tracker._writer.stop()


def test_time_left_comes_from_finished_trials_durations_and_the_slots(tmp_path):
    from automl._result import TrialState

    tracker = _tracker(tmp_path, verbose=1, num_trials=10)
    tracker.progress.slots = 2  # two trials ran at once
    tracker.records = {
        "a": _record("a", 1, TrialState.COMPLETE, took=30.0),
        "b": _record("b", 2, TrialState.PRUNED, took=10.0),
    }
    # 8 trials left, two at a time, 20 s each on average: 4 rounds of 20 s.
    assert tracker.progress.clock(tracker.records).endswith("~80s left")
    tracker.progress.time_budget_s = 50.0
    tracker.progress.started -= 20  # 20 s in: the budget ends the run in 30 s
    assert tracker.progress.clock(tracker.records).endswith("~30s left")
    tracker._writer.stop()


def test_the_trials_table_has_each_trial_s_first_best_epoch_from_the_store(tmp_path):
    # A resumed driver rebuilds its records from MLflow: the best epoch comes back from the metric's steps.
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("best-epoch")
    parent = client.create_run(experiment).info.run_id
    histories = {"a": [0.5, 0.8, 0.8, 0.7], "b": [float("nan"), 0.6], "c": [float("nan")]}
    for number, (trial_id, values) in enumerate(histories.items()):
        tags = {
            "mlflow.parentRunId": parent,
            "automl.trial_id": trial_id,
            "automl.trial_number": str(number),
            "automl.params": "{}",
            "automl.state": "COMPLETE",
        }
        child = client.create_run(experiment, tags=tags).info.run_id
        for step, value in enumerate(values, start=1):
            client.log_metric(child, "val_accuracy", value, step=step)
        client.set_terminated(child)
    tracker = MlflowTracker(
        client=client,
        experiment_id=experiment,
        parent_run_id=parent,
        space=mlp(),
        metric="val_accuracy",
        mode="max",
        epochs=4,
        metric_names=["val_accuracy"],
        num_trials=3,
        journal=tmp_path / "pending.jsonl",
        verbose=0,
    )
    tracker.load()
    frame = tracker.dataframe()
    tracker._writer.stop()
    assert frame.set_index("trial_id")["best_epoch"].to_dict() == {"a": 2, "b": 2, "c": 0}


def test_runs_opening_one_new_experiment_at_once_on_a_database_store_all_get_it_tagged(postgres):
    # On PostgreSQL two runs that start together both insert the experiment's kind tag, and the
    # database refuses the second (UniqueViolation): that run used to fail before its first trial.
    import concurrent.futures
    import threading

    from automl.tracking._tracking import _EXPERIMENT_KIND, open_experiment

    uri = postgres.database("opening", user="opening_owner", password="opening-pass")
    MlflowClient(uri).search_experiments()  # builds the tables once, as the first run would
    runs = 8
    for attempt in range(4):
        name, barrier = f"study-{attempt}", threading.Barrier(runs)

        def open_at_once(name=name, barrier=barrier):
            client = MlflowClient(uri)
            barrier.wait()
            return open_experiment(client, name)

        with concurrent.futures.ThreadPoolExecutor(runs) as pool:
            ids = [f.result() for f in [pool.submit(open_at_once) for _ in range(runs)]]
        assert len(set(ids)) == 1
        key, value = _EXPERIMENT_KIND
        assert MlflowClient(uri).get_experiment(ids[0]).tags[key] == value
