"""The background MLflow writer batches per-epoch metrics of a run, keeps each run's order, and journals every write."""

from __future__ import annotations

import time

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from automl.tracking._writer import MlflowWriter, RunRef, replay, unsent
from tests._servers import DelayingProxy, free_port, start_mlflow_server, stop_process_group


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    return uri, client, client.create_experiment("writer")


def _epoch(step):
    return [Metric("val_loss", 1.0 / step, 0, step), Metric("loss", 2.0 / step, 0, step)]


def test_epochs_of_one_run_that_arrive_together_are_sent_as_one_call(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=30)
    run = writer.create_run("trial-a", experiment_id=experiment)
    for step in range(1, 6):
        writer.call("log_batch", run, metrics=_epoch(step))
    start = time.monotonic()
    assert writer.flush(timeout=30)
    assert time.monotonic() - start < 10, "flush sends at once instead of lingering"
    assert writer.calls == 2  # the run, then its five epochs together
    history = client.get_metric_history(run.id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3, 4, 5]
    writer.stop()
    assert unsent(tmp_path / "journal.jsonl") == []  # every write of the batch is acknowledged


def test_a_runs_other_writes_keep_their_place_after_its_metrics(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=30)
    a = writer.create_run("trial-a", experiment_id=experiment)
    b = writer.create_run("trial-b", experiment_id=experiment)
    writer.call("log_batch", a, metrics=_epoch(1))
    writer.call("log_batch", b, metrics=_epoch(1))  # another run's epoch in between is passed over
    writer.call("log_batch", a, metrics=_epoch(2))
    writer.call("log_batch", a, metrics=[], tags=[RunTag("automl.finished_epoch", "2")])
    writer.call("set_terminated", a, status="FINISHED")
    writer.call("log_batch", a, metrics=_epoch(3))  # after the end state: not merged before it
    assert writer.flush(timeout=30)
    writer.stop()
    # a: create, epochs 1-2 and the tag batch merged, set_terminated, epoch 3; b: create, epoch 1
    assert writer.calls == 6
    assert [m.step for m in client.get_metric_history(a.id, "loss")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(b.id, "loss")] == [1]
    assert client.get_run(a.id).info.status == "FINISHED"
    assert client.get_run(a.id).data.tags["automl.finished_epoch"] == "2"


def test_metrics_linger_until_the_window_closes_without_a_flush(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=1.0)
    run = writer.create_run("trial-a", experiment_id=experiment)
    writer.call("log_batch", run, metrics=_epoch(1))
    deadline = time.monotonic() + 30
    while writer.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert writer.pending() == 0  # sent by itself once the window closed
    assert [m.step for m in client.get_metric_history(run.id, "loss")] == [1]
    writer.stop()


@pytest.mark.parametrize("offload", [False, True], ids=["from-this-thread", "from-a-child-process"])
def test_a_runs_params_epochs_and_summary_before_its_end_state_are_one_call(store, tmp_path, offload):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=30, offload=offload)
    run = writer.create_run("trial-a", experiment_id=experiment)
    writer.call("log_batch", run, params=[Param("units", "32"), Param("learning_rate", "0.01")])
    writer.call("log_batch", run, metrics=_epoch(1), tags=[RunTag("automl.worker", "10.0.0.1:11")])
    writer.call("log_batch", run, metrics=_epoch(2), tags=[RunTag("automl.worker", "10.0.0.1:12")])
    writer.call(
        "log_batch",
        run,
        metrics=[Metric("best_val_loss", 0.5, 0, 2)],
        tags=[RunTag("automl.state", "COMPLETE")],
    )
    writer.call("set_terminated", run, status="FINISHED")
    assert writer.flush(timeout=30)
    assert (writer.process is not None) == offload
    writer.stop()
    assert writer.calls == 3  # the run, one batch, its end state
    data = client.get_run(run.id).data
    assert data.params == {"units": "32", "learning_rate": "0.01"}
    assert data.tags["automl.worker"] == "10.0.0.1:12"  # the later of two values, as if sent in turn
    assert data.tags["automl.state"] == "COMPLETE"
    assert [m.step for m in client.get_metric_history(run.id, "loss")] == [1, 2]
    assert data.metrics["best_val_loss"] == 0.5
    assert client.get_run(run.id).info.status == "FINISHED"
    assert unsent(tmp_path / "journal.jsonl") == []


def test_a_write_the_store_refuses_does_not_take_the_rest_of_its_batch_down(store, tmp_path):
    uri, client, experiment = store
    writer = MlflowWriter(uri, journal=tmp_path / "journal.jsonl", linger_s=30)
    run = writer.create_run("trial-a", experiment_id=experiment)
    writer.call("log_batch", run, params=[Param("units", "32")])
    assert writer.flush(timeout=30)
    writer.call("log_batch", run, params=[Param("units", "64")])  # a second value: MLflow refuses it
    writer.call("log_batch", run, metrics=_epoch(1))
    writer.call("log_batch", run, tags=[RunTag("automl.state", "COMPLETE")])
    assert writer.flush(timeout=30)
    writer.stop()
    # The store's refusal is final (through the child process too: test_mlflow_process.py).
    assert writer.retries == 0
    assert writer.dropped == ["trial-a: 1 params"]
    data = client.get_run(run.id).data
    assert data.params == {"units": "32"}
    assert [m.step for m in client.get_metric_history(run.id, "loss")] == [1]
    assert data.tags["automl.state"] == "COMPLETE"
    assert unsent(tmp_path / "journal.jsonl") == []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real `mlflow server` on a sqlite store, for the tests that put a slow proxy in front of it."""
    process = start_mlflow_server(tmp_path_factory.mktemp("server"), port := free_port())
    yield f"http://127.0.0.1:{port}"
    stop_process_group(process)


def _trials(writer, experiment, n):
    runs = [
        writer.create_run(f"trial-{i}", experiment_id=experiment, run_name=f"trial-{i}")
        for i in range(1, n + 1)
    ]
    for run in runs:
        writer.call("set_terminated", run, status="FINISHED")
    return runs


def test_a_slow_store_that_keeps_taking_writes_is_waited_for_past_the_wait(server, tmp_path, caplog):
    experiment = MlflowClient(server).create_experiment("slow")
    with DelayingProxy(server, delay_s=0.25) as proxy:
        writer = MlflowWriter(proxy.url, journal=tmp_path / "journal.jsonl", offload=False)
        runs = _trials(writer, experiment, 6)  # 12 calls of 0.25 s or more: well past the 1 s wait
        start = time.monotonic()
        assert writer.spill(timeout=1.0) == 0
        writer.stop()
    assert time.monotonic() - start > 12 * 0.25  # it did wait past the 1 s
    assert "not sent" not in caplog.text
    assert all(MlflowClient(server).get_run(r.id).info.status == "FINISHED" for r in runs)
    assert unsent(tmp_path / "journal.jsonl") == []


def test_a_store_that_stops_answering_leaves_the_rest_to_the_journal_and_says_why(server, tmp_path, caplog):
    experiment = MlflowClient(server).create_experiment("stuck")
    journal = tmp_path / "journal.jsonl"
    with DelayingProxy(server, delay_s=0.0) as proxy:
        writer = MlflowWriter(proxy.url, journal=journal, offload=False)
        writer.create_run("trial-0", experiment_id=experiment, run_name="trial-0")
        assert writer.flush(timeout=30)
        proxy.delay_s = 4.0  # answers, but later than the writer waits
        _trials(writer, experiment, 3)
        left = writer.spill(timeout=1.0)
        writer.stop()
    assert left == 5  # the call in flight (trial-1's creation) was let finish; the rest are kept
    assert "answered no write for 1s" in caplog.text and "unreachable" not in caplog.text
    assert len(unsent(journal)) == left
    assert replay(journal, server) == left
    client = MlflowClient(server)
    found = sorted((r.info.run_name, r.info.status) for r in client.search_runs([experiment]))
    # each trial once, the replay included, and ended
    assert found == [("trial-0", "RUNNING"), *((f"trial-{i}", "FINISHED") for i in (1, 2, 3))]
    assert unsent(journal) == []


def test_a_call_in_flight_when_the_server_dies_is_retried_by_the_writer_not_inside_mlflow(server, tmp_path):
    experiment = MlflowClient(server).create_experiment("killed")
    with DelayingProxy(server, delay_s=0.0) as proxy:
        # As a run against a tracking server writes: from the child process, one HTTP attempt a call.
        writer = MlflowWriter(proxy.url, journal=tmp_path / "journal.jsonl", offload=True, linger_s=0)
        writer.create_run("trial-0", experiment_id=experiment, run_name="trial-0")
        assert writer.flush(timeout=120)
        proxy.delay_s = 1.0
        sent = proxy.requests
        runs = _trials(writer, experiment, 3)
        _wait_for(lambda: proxy.requests > sent, "the next call to reach the server")
        proxy.kill()  # the call in flight gets no answer; the next ones are refused
    # MLflow's own retries would hold that call for minutes (backing off 4, 8, ... 64 s).
    _wait_for(lambda: writer.retries >= 1, "the writer to see the call fail", timeout=20)
    assert not writer.reachable()
    with DelayingProxy(server, delay_s=0.0, port=proxy.port):  # the server is back
        assert writer.flush(timeout=60)
    writer.stop()
    client = MlflowClient(server)
    assert sorted(r.info.run_name for r in client.search_runs([experiment])) == [f"trial-{i}" for i in range(4)]
    assert all(client.get_run(r.id).info.status == "FINISHED" for r in runs)


def _wait_for(condition, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.05)


def test_a_journal_is_replayed_in_a_few_calls_per_trial_without_duplicating_points(server, tmp_path):
    client = MlflowClient(server)
    experiment = client.create_experiment("replayed")
    journal = tmp_path / "journal.jsonl"
    # The run's end came while the store took no writes: everything stayed in the journal.
    writer = MlflowWriter(f"http://127.0.0.1:{free_port()}", journal=journal, offload=False, linger_s=0)
    earlier = client.create_run(experiment, run_name="trial-0").info.run_id  # created before the outage
    client.log_batch(earlier, metrics=_epoch(1))
    runs = [RunRef("trial-0", earlier)]
    runs += [writer.create_run(f"trial-{i}", experiment_id=experiment, run_name=f"trial-{i}") for i in (1, 2, 3)]
    for run in runs:
        writer.call("log_batch", run, params=[Param("units", "32")])
        for step in (1, 2, 3):  # trial-0's first epoch is in the store already
            writer.call("log_batch", run, metrics=_epoch(step))
        writer.call("log_batch", run, tags=[RunTag("automl.state", "COMPLETE")])
        writer.call("set_terminated", run, status="FINISHED")
    assert writer.spill(timeout=0.5) == 4 * 6 + 3
    writer.stop()

    with DelayingProxy(server, delay_s=0.2) as proxy:
        assert replay(journal, proxy.url) == 4 * 6 + 3
    # Per new trial: a look for an existing run, its creation, one batch, its end state;
    # trial-0 also reads its two metrics' points once.
    assert proxy.requests <= 3 * 4 + 3 + 2
    assert proxy.peak >= 2  # a server gets several runs' calls at once
    for run in client.search_runs([experiment]):
        assert run.info.status == "FINISHED" and run.data.params == {"units": "32"}
        assert run.data.tags["automl.state"] == "COMPLETE"
        for key in ("loss", "val_loss"):
            assert [m.step for m in client.get_metric_history(run.info.run_id, key)] == [1, 2, 3]
    assert not journal.exists()
