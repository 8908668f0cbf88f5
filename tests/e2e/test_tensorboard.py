"""Per-trial TensorBoard in a whole run: event files per trial, read back with TensorBoard's reader and served by `automl tensorboard`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import keras
import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import mlp
from tests._servers import free_port, stop_process_group, wait_until_serving
from tests.e2e.test_loopback import _listening, _process_tree
from tests.trainers.test_epoch_summaries import scalars

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EPOCHS = 2


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tb")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    result = automl.tune(
        mlp(),
        data="digits",
        num_trials=2,
        epochs=EPOCHS,
        scheduler="fifo",  # both trials run every epoch
        seed=0,
        tensorboard=True,
        log_tensorboard_to_mlflow=True,
        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp / "shared"), write_graph=False)],
        tracking_uri=uri,
        storage_path=tmp / "runs",
        name="tb",
        verbose=0,
    )
    client = MlflowClient(uri)
    names = {
        row["trial_id"]: client.get_run(row["mlflow_run_id"]).info.run_name
        for _, row in result.trials.iterrows()
    }
    return result, client, names, tmp


def test_each_trial_writes_its_epoch_scalars_into_its_directory_as_mlflow_records_them(run):
    result, client, names, _ = run
    assert sorted(names.values()) == ["trial-001", "trial-002"]
    for _, row in result.trials.iterrows():
        events = result.run_dir / f"trial_{row['trial_id']}" / "tensorboard"
        losses = scalars(events / "train")["epoch_loss"]
        accuracy = scalars(events / "validation")["epoch_accuracy"]
        logged = {m.step: m.value for m in client.get_metric_history(row["mlflow_run_id"], "loss")}
        val_logged = {
            m.step: m.value for m in client.get_metric_history(row["mlflow_run_id"], "val_accuracy")
        }
        assert [step for step, _ in losses] == list(range(1, EPOCHS + 1)) == sorted(logged)
        assert [value for _, value in losses] == pytest.approx([logged[s] for s in sorted(logged)])
        assert [value for _, value in accuracy] == pytest.approx([val_logged[s] for s in sorted(val_logged)])


def test_the_users_tensorboard_callback_writes_one_directory_per_trial_named_as_in_mlflow(run):
    _, _, names, tmp = run
    shared = tmp / "shared"
    assert sorted(p.name for p in shared.iterdir()) == sorted(names.values())
    for name in names.values():
        assert [step for step, _ in scalars(shared / name / "train")["epoch_loss"]] == [
            0,
            1,
        ]  # Keras counts from 0


def test_the_event_files_are_attached_to_each_trials_mlflow_run_when_asked(run):
    result, client, _, _ = run
    for run_id in result.trials["mlflow_run_id"]:
        attached = {a.path for a in client.list_artifacts(run_id, "tensorboard")}
        assert attached == {"tensorboard/train", "tensorboard/validation"}
        top = {a.path for a in client.list_artifacts(run_id)}
        assert "files" not in top  # neither the event files again nor the trial's name file


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def test_automl_tensorboard_serves_the_trials_under_their_mlflow_names(run, tmp_path):
    result, _, names, _ = run
    port = free_port()
    log = (tmp_path / "tensorboard.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "automl.cli", "tensorboard", str(result.run_dir), "--port", str(port)],
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/data/runs", process, what="automl tensorboard")
        expected = {f"{name}/{part}" for name in names.values() for part in ("train", "validation")}
        deadline = time.monotonic() + 60
        while (
            set(_get(f"{base}/data/runs")) != expected
        ):  # TensorBoard loads the logs after it starts serving
            assert time.monotonic() < deadline, _get(f"{base}/data/runs")
            time.sleep(0.5)
        query = urllib.parse.urlencode({"run": "trial-001/train", "tag": "epoch_loss"})
        points = _get(f"{base}/data/plugin/scalars/scalars?{query}")
        assert [step for _, step, _ in points] == list(range(1, EPOCHS + 1))
        listening = _listening(_process_tree(process.pid))
        assert f"127.0.0.1:{port}" in listening
        assert all(address.startswith("127.0.0.1:") for address in listening), listening
    finally:
        stop_process_group(process)
        log.close()
