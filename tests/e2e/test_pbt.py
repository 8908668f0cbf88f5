"""Population Based Training end to end: trials continue from better trials' checkpoints with mutated settings."""

from __future__ import annotations

import json
import os

import keras
import pytest
import ray.tune
from mlflow.tracking import MlflowClient

import automl
from search_spaces import Categorical, Dense, Float, LayerStack, Space
from trainers import load_sklearn

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Three perturbations before the last epoch: the slow FIRST trial is in the bottom half at each.
TRIALS, EPOCHS = 4, 4
LOW, HIGH = 1e-4, 3e-2
FIRST = {
    "layers": [{"type": "dense", "units": 16, "activation": "relu", "dropout": 0.0}],
    "learning_rate": 2e-4,  # slow to learn: the bottom of the population, exploited early
    "batch_size": 128,
}


class EpochsTrained(keras.callbacks.Callback):
    """Writes each epoch a trial trains to ``directory/<trial id>``, in the trial's worker."""

    def __init__(self, directory):
        super().__init__()
        self.directory = str(directory)

    def on_epoch_end(self, epoch, logs=None):
        trial_id = ray.tune.get_context().get_trial_id()
        with open(os.path.join(self.directory, trial_id), "a") as out:
            out.write(f"{epoch + 1}\n")


@pytest.fixture(scope="module")
def run(ray_local, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pbt")
    (tmp / "epochs").mkdir()
    space = Space(
        layers=LayerStack(Dense(units=Categorical([16, 64])), min_layers=1, max_layers=1),
        learning_rate=Float(LOW, HIGH, log=True),
        batch_size=Categorical([32, 64, 128]),
    )
    return automl.tune(
        space,
        data=load_sklearn("digits"),
        metric="val_accuracy",
        mode="max",
        num_trials=TRIALS,
        epochs=EPOCHS,
        patience=EPOCHS,  # no early stopping: every trial trains all epochs
        # Half the population exploits the other half after every epoch; two run at a
        # time, so PBT also pauses trials and resumes them from their own checkpoints.
        scheduler={"name": "pbt", "perturbation_interval": 1, "quantile_fraction": 0.5},
        max_concurrent_trials=2,
        seed=0,
        points_to_evaluate=[FIRST],
        callbacks=[EpochsTrained(tmp / "epochs")],
        tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}",
        storage_path=tmp / "runs",
        name="pbt",
        verbose=0,
    )


def test_every_trial_trains_to_the_end_and_some_take_over_better_ones(run):
    trials = run.trials
    assert list(trials["state"]) == ["COMPLETE"] * TRIALS
    assert list(trials["epochs"]) == [EPOCHS] * TRIALS
    client = MlflowClient(run.tracking_uri)
    exploits = {
        row.trial_id: int(client.get_run(row.mlflow_run_id).data.tags.get("automl.pbt_exploits", 0))
        for row in trials.itertuples()
    }
    assert sum(exploits.values()) >= 1, exploits
    assert run.best_model_path.exists()
    model = keras.saving.load_model(run.best_model_path)
    data = load_sklearn("digits")
    assert model.evaluate(data.x_val, data.y_val, return_dict=True, verbose=0)["accuracy"] > 0.5


def test_a_trial_ends_at_the_epoch_its_fit_marks_last_and_no_exploit_comes_after(run):
    # Were a finished trial left to PBT, the population's lowest would exploit better ones at
    # their last epoch, train it again and report it again, for as long as the repeat scored lower.
    epochs_dir = run.run_dir.parents[1] / "epochs"  # beside runs/, in the fixture's directory
    for trial_id in run.trials["trial_id"]:
        trained = (epochs_dir / trial_id).read_text().split()
        assert trained.count(str(EPOCHS)) == 1 and trained[-1] == str(EPOCHS), trained


def test_mlflow_keeps_the_first_config_and_the_schedule_of_mutated_settings(run):
    client = MlflowClient(run.tracking_uri)
    rows = list(run.trials.itertuples())
    # Ray creates the trials in the population's order (trial ids ..._00000, ...); they start in any.
    first = client.get_run(min(rows, key=lambda r: r.trial_id).mlflow_run_id)
    assert float(first.data.params["learning_rate"]) == FIRST["learning_rate"]  # the point to evaluate
    assert first.data.params["batch_size"] == str(FIRST["batch_size"])
    changed = 0
    for row in rows:
        mlflow_run = client.get_run(row.mlflow_run_id)
        rates = client.get_metric_history(row.mlflow_run_id, "config.learning_rate")
        batches = client.get_metric_history(row.mlflow_run_id, "config.batch_size")
        assert max(m.step for m in rates) == EPOCHS
        assert all(LOW <= m.value <= HIGH for m in rates)  # perturbed values stay in the space
        assert {m.value for m in batches} <= {32, 64, 128}
        # Epoch 1 trained with the trial's first config, though PBT may set a new one as it handles
        # that very result (before the tracker sees it): steps are logged with the config they ran.
        first_rate = float(mlflow_run.data.params["learning_rate"])
        assert all(m.value == pytest.approx(first_rate) for m in rates if m.step == 1), rates
        # The table and the tag hold the config the trial ended with.
        current = json.loads(mlflow_run.data.tags["automl.params"])
        assert run.trials.loc[row.Index, "params.learning_rate"] == current["learning_rate"]
        assert rates[-1].value == pytest.approx(current["learning_rate"])
        if "automl.pbt_exploits" in mlflow_run.data.tags:
            changed += 1
            assert mlflow_run.data.tags["automl.pbt_last_exploit"].startswith("at epoch ")
            assert len({m.value for m in rates}) > 1 or len({m.value for m in batches}) > 1
    assert changed >= 1
