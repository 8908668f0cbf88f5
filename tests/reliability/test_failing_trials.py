"""Trials that fail: each ends FAILED with its reason, the others are unaffected, the run finishes."""

from __future__ import annotations

import keras
import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import Categorical, Dense, LayerStack, Space

pytestmark = [pytest.mark.slow, pytest.mark.ray]

EXPLODING_LR = 0.0123  # the learning rate at which the injected callback raises


class RaiseAtLearningRate(keras.callbacks.Callback):
    """Raises in the trial whose learning rate is ``EXPLODING_LR``: a bug in user code."""

    def on_epoch_end(self, epoch, logs=None):
        if abs(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)) - EXPLODING_LR) < 1e-9:
            raise RuntimeError("injected failure in a user callback")


def _config(optimizer, learning_rate):
    return {
        "layers": [{"type": "dense", "units": 16, "activation": "relu", "dropout": 0.0}],
        "optimizer": optimizer,
        "learning_rate": learning_rate,
    }


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(__import__(__name__))  # workers can't import tests/
    tmp = tmp_path_factory.mktemp("failing")
    space = Space(
        layers=LayerStack(Dense(units=16)),
        optimizer=Categorical(["adam", "sgd"]),
        learning_rate=Categorical([0.003, EXPLODING_LR, 1e30]),
    )
    healthy = [_config("adam", 0.003), _config("sgd", 0.003)]
    failing = [_config("adam", EXPLODING_LR), _config("sgd", 1e30)]  # raises; loss becomes NaN
    result = automl.tune(
        space,
        data="digits",
        num_trials=4,
        epochs=3,
        scheduler="fifo",
        points_to_evaluate=[healthy[0], failing[0], failing[1], healthy[1]],
        callbacks=[RaiseAtLearningRate()],
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        storage_path=tmp / "runs",
        experiment_name="failing",
        verbose=0,
    )
    return result


def test_failed_trials_are_recorded_with_their_reason(run):
    trials = run.trials.set_index("number")
    assert list(trials["state"]) == ["COMPLETE", "FAILED", "FAILED", "COMPLETE"]
    assert "injected failure in a user callback" in trials.loc[2, "error"]
    assert "TerminateOnNaN stopped the fit" in trials.loc[3, "error"]
    assert trials.loc[3, "epochs"] == 1  # the NaN trial stopped within its first epoch


def test_the_others_finish_and_the_best_comes_from_them(run):
    trials = run.trials
    healthy = trials[trials["state"] == "COMPLETE"]
    assert list(healthy["epochs"]) == [3, 3]
    assert run.best_value == healthy["best_val_accuracy"].max()
    assert run.best_config["learning_rate"] == 0.003


def test_mlflow_marks_them_failed_with_the_error(run):
    client = MlflowClient(run.tracking_uri)
    children = client.search_runs(
        [run.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.parent_run_id}'"
    )
    by_state = {}
    for child in children:
        by_state.setdefault(child.info.status, []).append(child)
    assert {k: len(v) for k, v in by_state.items()} == {"FINISHED": 2, "FAILED": 2}
    errors = sorted(c.data.tags["automl.error"] for c in by_state["FAILED"])
    assert any("injected failure" in e for e in errors) and any("TerminateOnNaN" in e for e in errors)
    parent = client.get_run(run.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_failed"] == 2 and parent.data.metrics["trials_complete"] == 2


def test_time_budget_stops_the_run_and_labels_what_it_stopped(ray_local, tmp_path):
    result = automl.tune(
        Space(layers=LayerStack(Dense(units=16)), learning_rate=Categorical([0.003, 0.001])),
        data="digits",
        num_trials=20,
        epochs=200,
        patience=200,
        scheduler="fifo",
        time_budget_s=20,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        experiment_name="budget",
        verbose=0,
    )
    states = result.trials["state"]
    assert len(result.trials) < 20  # the budget ended the run early
    assert "STOPPED" in set(states) and set(states) <= {"STOPPED", "COMPLETE"}
    client = MlflowClient(result.tracking_uri)
    stopped = result.trials[states == "STOPPED"]["mlflow_run_id"]
    for run_id in stopped:
        run = client.get_run(run_id)
        assert run.info.status == "KILLED"
        assert run.data.tags["automl.stopped"].startswith("by the run's time budget at epoch")


def test_a_trial_over_its_memory_limit_fails_with_the_figures(ray_local, tmp_path):
    # TensorFlow's worker holds ~0.9 GiB; a 1M-unit layer adds ~0.3 GiB of weights and ~0.6 GiB
    # of Adam slots, all there once Keras built the model: it fails before training. The 16-unit
    # trials stay under 1.5 GiB.
    def config(units, batch_size):
        return {
            "layers": [{"type": "dense", "units": units, "activation": "relu", "dropout": 0.0}],
            "batch_size": batch_size,
        }

    result = automl.tune(
        Space(layers=LayerStack(Dense(units=Categorical([16, 1_000_000]))), batch_size=Categorical([8, 128])),
        data="digits",
        num_trials=3,
        epochs=2,
        scheduler="fifo",
        points_to_evaluate=[config(16, 128), config(1_000_000, 8), config(16, 128)],
        resources_per_trial={"cpu": 1, "memory": 1.5 * 2**30},
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        experiment_name="memory-limit",
        verbose=0,
    )
    trials = result.trials.set_index("number")
    assert list(trials["state"]) == ["COMPLETE", "FAILED", "COMPLETE"], list(trials["worker_rss_mib"])
    error = trials.loc[2, "error"]
    assert "before its first batch, over its memory limit of 1536 MiB (resources_per_trial.memory)" in error
    assert list(trials.loc[[1, 3], "epochs"]) == [2, 2]
    assert result.best_config["layers"][0]["units"] == 16
    child = MlflowClient(result.tracking_uri).get_run(trials.loc[2, "mlflow_run_id"])
    assert child.info.status == "FAILED" and "memory limit" in child.data.tags["automl.error"]
