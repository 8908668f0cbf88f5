"""Faults of a Ray cluster across hosts (network namespaces): a worker's raylet killed, a worker
joining mid-run, a worker's link cut for longer than Ray's health checks allow and restored.

The driver runs on the head host (`automl.tune(address=...)`); a gate callback holds one trial
at the start of an epoch on a chosen host until the test has done its part, so each fault lands
while that trial runs, whatever the machine's load. The test waits on conditions it polls: the
gate reached, epochs in MLflow, nodes in Ray's State API.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests import _netns
from tests.cluster.conftest import make_cluster

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EPOCHS = 4

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import keras, ray
    import automl
    from search_spaces import Dense, LayerStack, Space

    address, uri, storage, gate, hold_ip, hold_epoch, trials, epochs = sys.argv[1:]

    class Gate(keras.callbacks.Callback):
        # On host `hold_ip`, epoch `hold_epoch` (0-based) says it is there and waits for the
        # test to open the gate (<= 240 s).
        def on_epoch_begin(self, epoch, logs=None):
            if epoch != int(hold_epoch) or ray.util.get_node_ip_address() != hold_ip:
                return
            Path(gate, "reached").touch()
            deadline = time.monotonic() + 240
            while not Path(gate, "open").exists() and time.monotonic() < deadline:
                time.sleep(0.1)

    result = automl.tune(
        Space(layers=LayerStack(Dense(units=16)), learning_rate=1e-3), data="digits",
        num_trials=int(trials), epochs=int(epochs), patience=int(epochs), scheduler="fifo", max_failures=2,
        address=address, tracking_uri=uri, experiment_name="faults", storage_path=storage,
        callbacks=[Gate()], verbose=0,
    )
    trials = []
    for _, row in result.trials.iterrows():
        lines = (result.run_dir / f"trial_{row['trial_id']}" / "result.json").read_text().splitlines()
        trials.append({
            "run_id": row["mlflow_run_id"], "state": row["state"], "epochs": int(row["epochs"]),
            "ray_epochs": [json.loads(line)["epoch"] for line in lines],
        })
    print("SUMMARY", json.dumps(trials))
    """
)


class Study:
    """The fault tests' study, its driver on the head host, started in the background."""

    def __init__(self, cluster: _netns.RayCluster, tmp_path: Path, *, hold: _netns.Host, hold_epoch: int, trials: int):
        self.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        self.gate = tmp_path / "gate"
        self.gate.mkdir()
        assert cluster.head is not None
        self.process = subprocess.Popen(
            cluster.head.command(
                [
                    sys.executable, "-c", SCRIPT,
                    f"{cluster.head.address}:{_netns.GCS_PORT}", self.uri, str(tmp_path / "runs"), str(self.gate),
                    hold.address, str(hold_epoch), str(trials), str(EPOCHS),
                ]
            ),  # fmt: skip
            env=cluster.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def reached(self) -> bool:
        assert self.process.poll() is None, self.process.communicate()[1][-3000:]
        return (self.gate / "reached").exists()

    def open(self) -> None:
        (self.gate / "open").touch()

    def runs_on(self, address: str, min_epoch: int = 1) -> list[str]:
        """The trial runs whose latest worker is on ``address`` and that logged ``min_epoch`` or more."""
        assert self.process.poll() is None, self.process.communicate()[1][-3000:]
        client = MlflowClient(self.uri)
        try:
            experiment = client.get_experiment_by_name("faults")
            runs = client.search_runs([experiment.experiment_id], f"tags.`automl.node_ip` = '{address}'")
        except Exception:  # the store is still being made
            return []
        return [
            r.info.run_id
            for r in runs
            if max((m.step for m in client.get_metric_history(r.info.run_id, "val_accuracy")), default=0) >= min_epoch
        ]

    def summary(self) -> list[dict]:
        out, err = self.process.communicate(timeout=300)
        assert self.process.returncode == 0, err[-3000:]
        (line,) = [line for line in out.splitlines() if line.startswith("SUMMARY ")]
        trials = json.loads(line.removeprefix("SUMMARY "))
        client = MlflowClient(self.uri)
        for trial in trials:
            run = client.get_run(trial["run_id"])
            assert trial["state"] == "COMPLETE" and trial["epochs"] == EPOCHS, trial
            assert run.info.status == "FINISHED"
            history = client.get_metric_history(run.info.run_id, "val_accuracy")
            assert sorted(m.step for m in history) == list(range(1, EPOCHS + 1))  # every epoch once
            trial.update(node_ip=run.data.tags["automl.node_ip"], retries=run.data.tags.get("automl.retries"))
        return trials


# Ray's health checks of a node, shortened so that a killed raylet or a cut link marks it dead
# within seconds (defaults: a check every 3 s, failed after 10 s, dead after 5 failures in a row).
# Not shorter: on a loaded machine a live node must still answer in time.
HEALTH_CHECKS = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1500",
    "RAY_health_check_failure_threshold": "3",
}


def _moved_from_checkpoint(trial: dict, head: _netns.Host) -> None:
    """The trial finished on the head, retried once, from a checkpoint (not epoch 1 again)."""
    assert trial["node_ip"] == head.address
    assert trial["retries"] == "1"
    epochs = trial["ray_epochs"]
    assert epochs.count(1) <= 1 and len(epochs) - len(set(epochs)) <= 1, epochs
    assert max(epochs) == EPOCHS


@pytest.fixture
def held_on_worker(network, tmp_path):
    """A head and a worker; the study's trial on the worker held at epoch 3, its epoch 2 in
    MLflow (so the driver knows its checkpoint). Yields the cluster, the study and that run's id."""
    cluster = make_cluster(network, workers=1, **HEALTH_CHECKS)
    _, worker = network.hosts
    try:
        study = Study(cluster, tmp_path, hold=worker, hold_epoch=2, trials=2)
        _netns.wait_for(study.reached, "the trial on the worker to reach epoch 3", timeout=180)
        (run_id,) = _netns.wait_for(lambda: study.runs_on(worker.address, 2), "epoch 2 on the worker in MLflow")
        yield cluster, study, run_id
    finally:
        cluster.close()


def test_a_worker_raylet_killed_mid_trial_its_trial_resumes_on_the_head(network, held_on_worker):
    cluster, study, run_id = held_on_worker
    head, worker = network.hosts
    subprocess.run(["kill", "-9", str(cluster.raylet_pid(worker))], check=True)

    trials = study.summary()
    (moved,) = [t for t in trials if t["run_id"] == run_id]
    _moved_from_checkpoint(moved, head)


def test_a_worker_joining_mid_run_takes_the_next_trials(network, tmp_path):
    cluster = make_cluster(network, workers=0)
    (head,) = network.hosts
    try:
        # The head's one CPU is held by the first trial until a trial has run on the new worker.
        study = Study(cluster, tmp_path, hold=head, hold_epoch=0, trials=2)
        _netns.wait_for(study.reached, "the first trial to start on the head", timeout=180)
        worker = network.add_host()
        cluster.join(worker)
        cluster.wait_alive({head.address, worker.address})
        _netns.wait_for(lambda: study.runs_on(worker.address), "a trial on the new worker")
        study.open()

        trials = study.summary()
        assert sorted(t["node_ip"] for t in trials) == sorted([head.address, worker.address])
        assert all(t["retries"] is None for t in trials)
    finally:
        cluster.close()


def test_a_worker_cut_off_longer_than_the_health_checks_allow_its_trial_resumes_on_the_head(network, held_on_worker):
    cluster, study, run_id = held_on_worker
    head, worker = network.hosts
    worker.cut()
    _netns.wait_for(lambda: cluster.alive() == {head.address}, "Ray to declare the cut-off worker dead")
    worker.restore()

    trials = study.summary()
    (moved,) = [t for t in trials if t["run_id"] == run_id]
    _moved_from_checkpoint(moved, head)
    # Back on the network, the worker learns it was declared dead: its raylet exits.
    _netns.wait_for(lambda: not _has_raylet(cluster, worker), "the cut-off worker's raylet to exit")
    assert cluster.alive() == {head.address}


def _has_raylet(cluster: _netns.RayCluster, host: _netns.Host) -> bool:
    try:
        cluster.raylet_pid(host)
    except LookupError:
        return False
    return True
