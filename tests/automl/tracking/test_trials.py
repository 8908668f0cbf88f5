"""The trials' records and their MLflow runs, driven by Ray's events as plain values (no Ray)."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from automl._result import TrialState
from automl.tracking._ranking import Ranking
from automl.tracking._records import TrialRecord
from automl.tracking._reload import load_records
from automl.tracking._trial_runs import TrialRuns
from automl.tracking._trials import Trials
from automl.tracking._writer import MlflowWriter

_WHERE = {"node_ip": "10.0.0.1", "pid": 11, "node_id": "node-1"}


def _trials(tmp_path, ended: list[TrialRecord]) -> tuple[Trials, MlflowWriter, MlflowClient, str, str]:
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("trials")
    parent = client.create_run(experiment).info.run_id
    writer = MlflowWriter(client.tracking_uri, journal=tmp_path / "journal.jsonl", linger_s=0)
    runs = TrialRuns(writer, experiment_id=experiment, parent_run_id=parent, metric="val_accuracy")
    trials = Trials(
        runs,
        Ranking("val_accuracy", "max"),
        flat_keys=["units"],
        metric_names=["val_accuracy"],
        mutated=False,
        on_end=ended.append,
    )
    return trials, writer, client, experiment, parent


def test_a_trial_that_ends_by_itself_completes_and_one_the_scheduler_stops_is_pruned(tmp_path):
    ended: list[TrialRecord] = []
    trials, writer, client, experiment, parent = _trials(tmp_path, ended)
    for trial_id, units in (("a", 32), ("b", 64)):
        trials.start(trial_id, {"units": units}, {"CPU": 1})
    trials.result("a", {"epoch": 1, "val_accuracy": 0.7, **_WHERE}, config={"units": 32}, source="a")
    last = {"epoch": 2, "val_accuracy": 0.7, "trial_finished": True, "done": True, **_WHERE}
    trials.result("a", last, config={"units": 32}, source="a")
    trials.result("b", {"epoch": 1, "val_accuracy": 0.6, "done": True, **_WHERE}, config={"units": 64}, source="b")
    trials.complete("a", paused=False, trial_dir=None)
    trials.complete("b", paused=False, trial_dir=None)
    assert [(r.trial_id, r.state) for r in ended] == [("a", TrialState.COMPLETE), ("b", TrialState.PRUNED)]
    assert writer.flush(timeout=60)
    writer.stop()

    a, b = (client.get_run(trials.records[t].run_id) for t in ("a", "b"))
    assert (a.info.status, a.data.tags["automl.state"], a.data.params) == ("FINISHED", "COMPLETE", {"units": "32"})
    assert a.data.metrics["best_val_accuracy"] == 0.7 and a.data.tags["automl.worker"] == "10.0.0.1:11"
    assert (b.info.status, b.data.tags["automl.pruned_at_epoch"]) == ("KILLED", "1")
    # A resumed driver gets the same records back from the store.
    loaded = load_records(
        client,
        experiment_id=experiment,
        parent_run_id=parent,
        metric_names=["val_accuracy"],
        ranking=Ranking("val_accuracy", "max"),
    )
    summary = {k: (r.number, r.state, r.epochs, r.best_epoch, r.worker, r.params) for k, r in loaded.items()}
    assert summary == {
        "a": (1, TrialState.COMPLETE, 2, 1, "10.0.0.1:11", {"units": 32}),
        "b": (2, TrialState.PRUNED, 1, 1, "10.0.0.1:11", {"units": 64}),
    }


def test_trials_unknown_to_a_resumed_run_are_deleted_and_the_others_numbered_without_gaps(tmp_path):
    trials, writer, client, _, parent = _trials(tmp_path, [])
    for trial_id in ("a", "b", "c"):
        trials.start(trial_id, {"units": 32}, {"CPU": 1})
    assert writer.flush(timeout=60)  # as on resume, where the runs come from the store
    orphan = trials.records["b"].run
    trials.keep_only({"a", "c"})
    assert {k: r.number for k, r in trials.records.items()} == {"a": 1, "c": 2}
    assert writer.flush(timeout=60)
    writer.stop()
    assert client.get_run(orphan.id).info.lifecycle_stage == "deleted"
    assert client.get_run(trials.records["c"].run_id).data.tags["mlflow.runName"] == "trial-002"
    assert f"automl.deleted.{orphan.id}" in client.get_run(parent).data.tags
