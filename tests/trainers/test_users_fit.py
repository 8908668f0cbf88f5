"""`train` with the user's own fit (a KerasTuner HyperModel.fit): its batch size honoured, its result checked."""

from __future__ import annotations

import math

import keras
import pytest

from trainers import FitSettings, TrialFailedError, from_arrays, load_sklearn, train

SETTINGS = FitSettings(epochs=2, monitor="val_accuracy", mode="max", patience=5)


@pytest.fixture(scope="module")
def digits():
    data = load_sklearn("digits")
    return from_arrays(data.x_train[:200], data.y_train[:200])


def build(config):
    model = keras.Sequential([keras.Input(shape=(64,)), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


def test_the_users_fit_runs_with_the_trial_callbacks_and_its_batch_size(digits, tmp_path):
    calls = []

    def fit(model, x, y, **kwargs):  # as a HyperModel.fit that chose batch_size=16
        calls.append(sorted(kwargs))
        return model.fit(x, y, batch_size=16, **kwargs)

    seen = []

    class Seen(Batches):  # the trial runs a deep copy: it hands its counts out
        def on_train_end(self, logs=None):
            seen.append(list(self.per_epoch))

    outcome = train({}, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=build, fit=fit, callbacks=[Seen()])
    assert calls == [["callbacks", "epochs", "initial_epoch", "validation_data", "verbose"]]
    assert outcome.epochs_run == 2 and (tmp_path / "best.keras").exists()  # checkpoints: the trial's callbacks ran
    assert seen == [[math.ceil(len(digits.x_train) / 16)] * 2]


def test_a_fit_that_drops_the_callbacks_or_the_history_fails_the_trial(digits, tmp_path):
    def no_callbacks(model, x, y, **kwargs):
        return model.fit(x, y, epochs=1, verbose=0)

    with pytest.raises(TrialFailedError, match="without an epoch reaching the callbacks"):
        train({}, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=build, fit=no_callbacks)

    def no_history(model, x, y, **kwargs):
        model.fit(x, y, **kwargs)
        return {"loss": 0.1}

    with pytest.raises(TrialFailedError, match=r"holding the objective 'val_accuracy', but returned \['loss'\]"):
        train({}, digits, settings=SETTINGS, checkpoint_dir=tmp_path / "b", build=build, fit=no_history)


def test_a_trial_continues_from_its_checkpoint_through_the_users_fit(digits, tmp_path):
    """As a paused trial (HyperBand) or a restarted one does: the restored model, the next epoch on."""
    starts = []

    def fit(model, x, y, **kwargs):
        starts.append((kwargs["initial_epoch"], kwargs["epochs"]))
        return model.fit(x, y, batch_size=16, **kwargs)

    first = FitSettings(epochs=1, monitor="val_accuracy", mode="max", patience=5)
    train({}, digits, settings=first, checkpoint_dir=tmp_path / "a", build=build, fit=fit)
    outcome = train(
        {}, digits, settings=SETTINGS, checkpoint_dir=tmp_path / "b", build=build, fit=fit, resume_from=tmp_path / "a"
    )
    assert starts == [(0, 1), (1, 2)]
    assert outcome.epochs_run == 2  # the first epoch's history carried over
