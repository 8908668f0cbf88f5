"""A node removed from a two-node Ray cluster mid-run: its trial goes on elsewhere from its checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# The remover sees epochs through MLflow, whose writer batches a run's metrics for up to
# 2 s: more than the rest of a digits trial. The trial on the added node waits for it at
# epoch 4 (HoldsOnTheAddedNode), so it is still running when the node goes.
EPOCHS = 8

# Its own process, like tests/reliability/test_cluster.py: a driver joins one cluster at a time.
SCRIPT = textwrap.dedent(
    """
    import json, sys, threading, time
    import keras, ray
    from mlflow.tracking import MlflowClient
    from ray.cluster_utils import Cluster
    import automl
    from automl.tracking._tracking import tracking_client
    from search_spaces import Dense, LayerStack, Space

    uri, storage, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    removed = {}

    def remove_after_epoch(epoch):
        # Waits until a trial on the added node has logged `epoch`, then removes the node.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                client = tracking_client(uri)  # as the run opens it: a new store is built under a lock
                experiment = client.get_experiment_by_name("node-removed")
                runs = client.search_runs([experiment.experiment_id], "tags.automl.trial_id != ''") if experiment else []
            except Exception:  # the store is still being created
                runs = []
            for run in runs:
                steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
                if run.data.tags.get("automl.node_id") == node.node_id and steps and max(steps) >= epoch:
                    removed.update(run_id=run.info.run_id, epoch=max(steps))
                    cluster.remove_node(node, allow_graceful=False)
                    return
            time.sleep(0.2)

    class HoldsOnTheAddedNode(keras.callbacks.Callback):
        # Epoch 4 of the trial on the added node waits for the removal (<= 60 s), which MLflow's
        # writer shows the remover up to 2 s after epoch 3: the trial cannot end before it.
        def __init__(self, node_id):
            super().__init__()
            self.node_id = node_id

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 3 and ray.get_runtime_context().get_node_id() == self.node_id:
                time.sleep(60)

    remover = threading.Thread(target=remove_after_epoch, args=(3,), daemon=True)
    remover.start()
    try:
        result = automl.tune(
            Space(layers=LayerStack(Dense(units=32)), learning_rate=1e-3), data="digits",
            num_trials=2, epochs=epochs, patience=epochs, scheduler="fifo", max_failures=2,
            address=cluster.address, tracking_uri=uri, experiment_name="node-removed",
            storage_path=storage, callbacks=[HoldsOnTheAddedNode(node.node_id)], verbose=0,
        )
        remover.join(timeout=5)
        client = MlflowClient(uri)
        trials = []
        for _, row in result.trials.iterrows():
            run = client.get_run(row["mlflow_run_id"])
            lines = (result.run_dir / f"trial_{row['trial_id']}" / "result.json").read_text().splitlines()
            trials.append({
                "run_id": row["mlflow_run_id"], "state": row["state"], "epochs": int(row["epochs"]),
                "node": row["node"], "status": run.info.status, "retries": run.data.tags.get("automl.retries"),
                "steps": sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")),
                "ray_epochs": [json.loads(line)["epoch"] for line in lines],
            })
        print("SUMMARY", json.dumps({"removed": removed, "node": node.node_id, "trials": trials}))
    finally:
        ray.shutdown()
        cluster.shutdown()
    """
)


def test_a_removed_nodes_trial_finishes_on_the_other_node_from_its_checkpoint(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            str(tmp_path / "runs"),
            str(EPOCHS),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("SUMMARY ")]
    summary = json.loads(line.removeprefix("SUMMARY "))
    removed = summary["removed"]
    assert removed, "no trial ran on the added node long enough to remove it"
    for trial in summary["trials"]:
        assert trial["state"] == "COMPLETE" and trial["epochs"] == EPOCHS
        assert trial["status"] == "FINISHED"
        assert trial["steps"] == list(range(1, EPOCHS + 1))  # one MLflow point per epoch, none twice
    (moved,) = [t for t in summary["trials"] if t["run_id"] == removed["run_id"]]
    assert moved["node"] != summary["node"]  # it finished on the head node
    assert moved["retries"] == "1"
    # Ray's record of the trial: after the removal it went on from a checkpoint, not from epoch 1,
    # redoing at most the epoch that was running. (On the restart Ray may replace its result.json
    # with the copy in storage, which it refreshes every few minutes, so earlier lines can be
    # missing from it; MLflow has every epoch, checked above.)
    epochs = moved["ray_epochs"]
    assert epochs.count(1) <= 1 and len(epochs) - len(set(epochs)) <= 1, epochs
    assert max(epochs) == EPOCHS
