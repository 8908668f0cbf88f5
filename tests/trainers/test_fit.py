"""The trainer core, in-process: real Keras fits on digits, no Ray."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import trainers._fit as trainers_fit
from search_spaces import ConfigError
from trainers import (
    FitSettings,
    TrialFailedError,
    check_config,
    from_arrays,
    load_sklearn,
    reported_metrics,
    train,
)
from trainers._checkpoint import Progress
from trainers._fit import _fit_data, _validation_batch_size

CONFIG = {
    "layers": [{"type": "dense", "units": 32, "activation": "relu", "dropout": 0.1}],
    "learning_rate": 3e-3,
    "batch_size": 64,
}


class ListReporter:
    def __init__(self) -> None:
        self.reports: list[tuple[int, dict, Path | None]] = []
        self.last: list[bool] = []

    def report(self, metrics, *, epoch, checkpoint, last):
        self.reports.append((epoch, dict(metrics), checkpoint))
        self.last.append(last)


@pytest.fixture(scope="module")
def digits():
    return load_sklearn("digits")


def test_train_fits_reports_every_epoch_and_checkpoints_the_best(digits, tmp_path):
    reporter = ListReporter()
    settings = FitSettings(epochs=4, monitor="val_accuracy", mode="max", patience=10)
    outcome = train(CONFIG, digits, settings=settings, checkpoint_dir=tmp_path, reporter=reporter)

    assert outcome.epochs_run == 4
    assert [epoch for epoch, _, _ in reporter.reports] == [1, 2, 3, 4]
    assert reporter.last == [False, False, False, True]  # the epoch cap ends the fit
    for _, metrics, _ in reporter.reports:
        assert set(reported_metrics("multiclass")) <= set(metrics)
    # The first epoch improves on nothing and the last ends the fit: both hand over the directory.
    assert reporter.reports[0][2] == reporter.reports[-1][2] == tmp_path
    assert {p.name for p in tmp_path.iterdir()} >= {"best.keras", "last.keras", "state.json"}
    values = [m["val_accuracy"] for _, m, _ in reporter.reports]
    assert outcome.best_value == max(values)
    assert outcome.best_value > 0.8  # digits with a 32-unit MLP learns quickly
    # Every epoch that improved hands over the directory: the newest checkpoint holds the best model.
    for i, (_, _, checkpoint) in enumerate(reporter.reports):
        if values[i] > max(values[:i], default=-1.0):
            assert checkpoint == tmp_path, (i, values)

    model = keras.saving.load_model(outcome.checkpoint)
    predictions = model.predict(digits.x_val[:7], verbose=0)
    assert predictions.shape == (7, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    accuracy = model.evaluate(digits.x_val, digits.y_val, verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(outcome.best_value, abs=1e-6)


class StateReporter(ListReporter):
    """Also notes, at each report, the epoch the checkpoint directory's state.json holds."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = directory
        self.on_disk: list[int] = []

    def report(self, metrics, *, epoch, checkpoint, last):
        super().report(metrics, epoch=epoch, checkpoint=checkpoint, last=last)
        self.on_disk.append(Progress.read(self.directory).epoch)


# A rate too small to move the weights: val_accuracy stays where the first epoch put it.
STILL = {"layers": [{"type": "dense", "units": 16}], "learning_rate": 1e-12, "batch_size": 64}


def test_an_epoch_that_does_not_improve_writes_no_checkpoint_until_the_interval_passes(digits, tmp_path):
    settings = FitSettings(epochs=4, monitor="val_accuracy", mode="max", patience=10)
    reporter = StateReporter(tmp_path)
    outcome = train(STILL, digits, settings=settings, checkpoint_dir=tmp_path, reporter=reporter)

    values = [m["val_accuracy"] for _, m, _ in reporter.reports]
    assert len(set(values)) == 1  # only the first epoch improved
    # Epochs 2 and 3 come without a checkpoint, and leave the first epoch's on disk; the last writes its own.
    assert [c for _, _, c in reporter.reports] == [tmp_path, None, None, tmp_path]
    assert reporter.on_disk == [1, 1, 1, 4]
    assert outcome.epochs_run == 4

    # With no interval, every epoch writes its checkpoint (what pausing schedulers need).
    every = FitSettings(epochs=4, monitor="val_accuracy", mode="max", patience=10, checkpoint_interval_s=0)
    reporter = StateReporter(tmp_path / "every")
    train(STILL, digits, settings=every, checkpoint_dir=tmp_path / "every", reporter=reporter)
    assert [c for _, _, c in reporter.reports] == [tmp_path / "every"] * 4
    assert reporter.on_disk == [1, 2, 3, 4]


class SnapshotAt(ListReporter):
    """Copies the checkpoint directory as it stands when ``epoch`` is reported: what a crash then leaves."""

    def __init__(self, directory: Path, epoch: int, snapshot: Path) -> None:
        super().__init__()
        self.directory, self.epoch, self.snapshot = directory, epoch, snapshot

    def report(self, metrics, *, epoch, checkpoint, last):
        super().report(metrics, epoch=epoch, checkpoint=checkpoint, last=last)
        if epoch == self.epoch:
            shutil.copytree(self.directory, self.snapshot)


def test_a_trial_restarted_after_epochs_without_a_checkpoint_redoes_them(digits, tmp_path):
    settings = FitSettings(epochs=3, monitor="val_accuracy", mode="max", patience=10)
    first = SnapshotAt(tmp_path / "a", 2, tmp_path / "crash")
    train(STILL, digits, settings=settings, checkpoint_dir=tmp_path / "a", reporter=first)
    assert [c for _, _, c in first.reports] == [tmp_path / "a", None, tmp_path / "a"]

    again = ListReporter()
    train(
        STILL,
        digits,
        settings=settings,
        checkpoint_dir=tmp_path / "b",
        reporter=again,
        resume_from=tmp_path / "crash",
    )
    assert [epoch for epoch, _, _ in again.reports] == [2, 3]  # from the first epoch's checkpoint
    assert Progress.read(tmp_path / "b").epoch == 3


def test_early_stopping_ends_the_fit_before_the_cap(digits, tmp_path):
    # A learning rate this small barely moves val_loss: min_delta makes that "no improvement".
    config = {**CONFIG, "learning_rate": 1e-7}
    settings = FitSettings(epochs=30, monitor="val_loss", mode="min", patience=1, min_delta=0.05)
    outcome = train(config, digits, settings=settings, checkpoint_dir=tmp_path)
    assert outcome.epochs_run == 2


def test_regression_task_builds_a_linear_head(tmp_path):
    data = load_sklearn("diabetes")
    settings = FitSettings(epochs=2, monitor="val_mae", mode="min")
    outcome = train({"layers": [], "learning_rate": 1e-2}, data, settings=settings, checkpoint_dir=tmp_path)
    assert outcome.model.output_shape == (None, 1)
    assert set(outcome.history) == set(reported_metrics("regression"))


def test_unknown_config_key_is_rejected_before_fit():
    with pytest.raises(
        ConfigError,
        match=r"^config\.learning_rte: the trainer does not know this key \(did you mean 'learning_rate'\?\)",
    ):
        check_config({**CONFIG, "learning_rte": 0.1})


def test_unknown_optimizer_is_rejected():
    with pytest.raises(
        ConfigError,
        match=r"^config\.optimizer: unknown optimizer 'adamm' \(did you mean 'adam'\?\); accepted: \['adam'",
    ):
        check_config({**CONFIG, "optimizer": "adamm"})


def test_unknown_layer_type_in_config_is_rejected():
    with pytest.raises(ConfigError, match=r"^config\.layers\.0\.type: unknown layer type 'conv9d'"):
        check_config({"layers": [{"type": "conv9d"}]})


def test_monitor_the_trainer_never_reports(digits, tmp_path):
    settings = FitSettings(monitor="val_auc", mode="max")
    with pytest.raises(
        ConfigError,
        match=r"^metric: the trainer never reports 'val_auc' for a multiclass task; available: \[",
    ):
        train(CONFIG, digits, settings=settings, checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"epochs": 0}, r"^epochs: expected an int >= 1, but got 0"),
        ({"mode": "maximize"}, r"^mode: expected 'min' or 'max', but got 'maximize'"),
        ({"patience": -1}, r"^patience: expected an int >= 0, but got -1"),
        ({"min_delta": float("nan")}, r"^min_delta: expected a finite number >= 0, but got nan"),
        ({"seed": -1}, r"^seed: expected an int in \[0, 2\*\*32\), but got -1"),
        ({"seed": 2**32}, r"^seed: expected an int in \[0, 2\*\*32\), but got 4294967296"),
        ({"seed": "7"}, r"^seed: expected an int in \[0, 2\*\*32\), but got '7'"),
        (
            {"checkpoint_interval_s": -1},
            r"^checkpoint_interval_s: expected a finite number of seconds >= 0, but got -1",
        ),
        ({"checkpoint_interval_s": float("inf")}, r"^checkpoint_interval_s: expected .*, but got inf"),
        ({"checkpoint_interval_s": True}, r"^checkpoint_interval_s: expected .*, but got True"),
    ],
)
def test_bad_fit_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FitSettings(**kwargs)


def test_a_seeded_fit_repeats_itself_and_another_seed_does_not(digits, tmp_path):
    def fit(seed, directory):
        settings = FitSettings(epochs=2, patience=10, seed=seed)
        return train(CONFIG, digits, settings=settings, checkpoint_dir=tmp_path / directory).history

    # Dropout 0.1 and shuffled batches: without the seed no two fits agree.
    first, again, other = fit(3, "a"), fit(3, "b"), fit(4, "c")
    assert first == again
    assert first["loss"] != other["loss"]


def test_a_diverging_loss_fails_the_trial_within_an_epoch(digits, tmp_path):
    reporter = ListReporter()
    config = {**CONFIG, "optimizer": "sgd", "learning_rate": 1e30}  # diverges at once
    with pytest.raises(
        TrialFailedError, match=r"the loss became (nan|inf) at epoch 1, so TerminateOnNaN stopped the fit"
    ):
        train(config, digits, settings=FitSettings(epochs=5), checkpoint_dir=tmp_path, reporter=reporter)
    assert len(reporter.reports) == 1
    assert reporter.last == [False]  # a fit that fails did not end by itself


class TrainEndMark(keras.callbacks.Callback):
    """Appends "train_end" to a file (the trial's callbacks are deep copies: no shared list)."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_end(self, logs=None):
        with open(self.path, "a") as out:
            out.write("train_end\n")


class FileReporter(ListReporter):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def report(self, metrics, *, epoch, checkpoint, last):
        super().report(metrics, epoch=epoch, checkpoint=checkpoint, last=last)
        with open(self.path, "a") as out:
            out.write(f"epoch {epoch}{' last' if last else ''}\n")


@pytest.mark.parametrize("patience", [1, 10], ids=["early-stopping", "epoch-cap"])
def test_the_epoch_that_ends_the_fit_is_reported_after_every_callback_s_train_end(digits, tmp_path, patience):
    # Ray ends the trial at that report: whatever comes after it in the fit would never run.
    events = tmp_path / "events"
    config = {**CONFIG, "learning_rate": 1e-6}  # barely learns: patience 1 stops it early
    reporter = FileReporter(events)
    settings = FitSettings(epochs=6, monitor="val_accuracy", mode="max", patience=patience, min_delta=0.05)
    outcome = train(
        config,
        digits,
        settings=settings,
        checkpoint_dir=tmp_path / "ckpt",
        reporter=reporter,
        callbacks=[TrainEndMark(events)],
    )
    n = outcome.epochs_run
    assert n == (6 if patience == 10 else 2)
    assert events.read_text().splitlines() == [
        *(f"epoch {e}" for e in range(1, n)),
        "train_end",
        f"epoch {n} last",
    ]


class CountingCallback(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_user_callbacks_run_on_a_copy_per_trial(digits, tmp_path):
    callback = CountingCallback()
    train(CONFIG, digits, settings=FitSettings(epochs=2), checkpoint_dir=tmp_path, callbacks=[callback])
    assert callback.epochs == 0  # the trial ran a deep copy; the user's object is untouched


def _steps(data, batch_size):
    return -(-len(data.x_train) // batch_size)


def test_resume_continues_weights_optimizer_and_epoch_counter(digits, tmp_path):
    first = train(CONFIG, digits, settings=FitSettings(epochs=2, patience=10), checkpoint_dir=tmp_path / "a")
    reporter = ListReporter()
    resumed = train(
        CONFIG,
        digits,
        settings=FitSettings(epochs=4, patience=10),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
        reporter=reporter,
    )
    assert [epoch for epoch, _, _ in reporter.reports] == [3, 4]  # not from epoch 1
    assert resumed.epochs_run == 4
    assert resumed.history["loss"][:2] == first.history["loss"]
    # The optimizer continued: its step counter covers all four epochs.
    assert int(resumed.model.optimizer.iterations) == 4 * _steps(digits, CONFIG["batch_size"])
    # And the weights did too: epoch 3 starts from where epoch 2 ended, so its loss is lower.
    assert resumed.history["loss"][2] < first.history["loss"][0]


def test_resume_with_a_new_learning_rate_and_batch_size_applies_them(digits, tmp_path):
    # Population Based Training continues a trial from a checkpoint with mutated settings.
    first = train(CONFIG, digits, settings=FitSettings(epochs=2, patience=10), checkpoint_dir=tmp_path / "a")
    mutated = {**CONFIG, "learning_rate": 6e-3, "batch_size": 128}
    resumed = train(
        mutated,
        digits,
        settings=FitSettings(epochs=4, patience=10),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
    )
    assert float(resumed.model.optimizer.learning_rate) == pytest.approx(6e-3)
    steps = 2 * _steps(digits, 64) + 2 * _steps(digits, 128)
    assert int(resumed.model.optimizer.iterations) == steps  # the last two epochs took bigger batches
    assert resumed.history["loss"][:2] == first.history["loss"]
    # The new checkpoint records the rate it was trained with: resuming it unchanged keeps 6e-3.
    again = train(
        mutated,
        digits,
        settings=FitSettings(epochs=5, patience=10),
        checkpoint_dir=tmp_path / "c",
        resume_from=tmp_path / "b",
    )
    assert float(again.model.optimizer.learning_rate) == pytest.approx(6e-3)


def test_resume_keeps_early_stopping_patience(digits, tmp_path):
    # No epoch improves val_loss by 1.0, so patience runs out 2 epochs after the first.
    config = {**CONFIG, "learning_rate": 1e-6}
    settings = {"monitor": "val_loss", "mode": "min", "patience": 2, "min_delta": 1.0}
    train(config, digits, settings=FitSettings(epochs=2, **settings), checkpoint_dir=tmp_path / "a")
    resumed = train(
        config,
        digits,
        settings=FitSettings(epochs=10, **settings),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
    )
    # With the patience count restored it stops at epoch 3; a fresh EarlyStopping would run to 5.
    assert resumed.epochs_run == 3


def test_resume_from_a_directory_that_is_not_a_checkpoint(digits, tmp_path):
    with pytest.raises(
        ConfigError, match=r"^resume_from: .*state\.json is not a trial checkpoint written by this trainer"
    ):
        train(
            CONFIG,
            digits,
            settings=FitSettings(epochs=2),
            checkpoint_dir=tmp_path / "b",
            resume_from=tmp_path,
        )


@keras.saving.register_keras_serializable(package="tests")
class CountsTraces(keras.Sequential):
    """A Sequential whose train step counts its Python calls: TensorFlow makes them only to trace it."""

    traces = 0

    def train_step(self, data):
        CountsTraces.traces += 1
        return super().train_step(data)


def test_the_train_step_is_traced_once_per_fit_and_per_resumed_fit(digits, tmp_path):
    # Keras made the optimizer's slots and the metrics' variables inside the first trace, so
    # TensorFlow traced the step a second time without them: twice the tracing in every trial.
    def build(config):
        return CountsTraces(
            [
                keras.Input((64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    settings = FitSettings(epochs=2, monitor="val_accuracy", mode="max", steps_per_execution="auto")
    CountsTraces.traces = 0
    first = train(
        {"learning_rate": 1e-2}, digits, settings=settings, checkpoint_dir=tmp_path / "a", build=build
    )
    assert (first.epochs_run, CountsTraces.traces) == (2, 1)
    CountsTraces.traces = 0
    resumed = train(
        {"learning_rate": 1e-2},
        digits,
        settings=dataclasses.replace(settings, epochs=3),
        checkpoint_dir=tmp_path / "b",
        build=build,
        resume_from=tmp_path / "a",
    )
    assert (resumed.epochs_run, CountsTraces.traces) == (3, 1)
    assert resumed.history["val_accuracy"][:2] == first.history["val_accuracy"]


def _rows(batches) -> list[list[int]]:
    """Each batch of a pass over ``batches`` as the ids in its features' first column."""
    return [[int(row) for row in x[:, 0]] for x, _ in batches.as_numpy_iterator()]


def test_small_data_is_one_shuffled_pass_per_epoch_with_validation_in_order():
    x = np.stack([np.arange(150), np.zeros(150)], axis=1).astype(np.float32)
    y = np.arange(150) % 3
    data = from_arrays(x, y, validation_data=(x[:20], y[:20]), task="multiclass")

    inputs = _fit_data(data, data.y_train, data.y_val, batch_size=64, validation_batch_size=64)

    assert isinstance(inputs["x"], tf.data.Dataset)
    assert inputs["shuffle"] is False  # the pipeline shuffles
    first, second = _rows(inputs["x"]), _rows(inputs["x"])
    for epoch in (first, second):
        assert [len(batch) for batch in epoch] == [64, 64, 22]  # the last batch is partial
        assert sorted(sum(epoch, [])) == list(range(150))  # every row once
    assert first != second  # reshuffled each epoch
    assert sum(_rows(inputs["validation_data"]), []) == list(range(20))


def test_data_past_the_small_data_limit_goes_to_keras_as_arrays(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(trainers_fit, "SMALL_DATA_ROWS", len(digits.x_train) - 1)

    rows = len(digits.x_val)
    inputs = _fit_data(digits, digits.y_train, digits.y_val, batch_size=64, validation_batch_size=rows)
    assert inputs["x"] is digits.x_train and inputs["batch_size"] == 64
    assert inputs["validation_batch_size"] == rows
    settings = FitSettings(epochs=3, monitor="val_accuracy", mode="max", patience=10)
    outcome = train(CONFIG, digits, settings=settings, checkpoint_dir=tmp_path)
    assert outcome.epochs_run == 3
    assert outcome.best_value > 0.8


@keras.saving.register_keras_serializable(package="tests")
class CountsTestSteps(keras.Sequential):
    """A Sequential whose test step counts its Python calls: one per batch when eager, one per trace when not."""

    calls = 0
    per_epoch: list[int] = []  # `calls` at each epoch's end (callbacks are deep-copied: class state)

    def test_step(self, data):
        CountsTestSteps.calls += 1
        return super().test_step(data)


class RecordsTestStepCalls(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        CountsTestSteps.per_epoch.append(CountsTestSteps.calls)


def _fit_counting_test_steps(digits, path, *, epochs):
    def build(config):
        return CountsTestSteps(
            [
                keras.Input((64,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )

    CountsTestSteps.calls = 0
    CountsTestSteps.per_epoch = []
    settings = FitSettings(epochs=epochs, monitor="val_accuracy", mode="max", patience=epochs, seed=3)
    outcome = train(
        {"learning_rate": 1e-2, "batch_size": 64},
        digits,
        settings=settings,
        checkpoint_dir=path,
        build=build,
        callbacks=[RecordsTestStepCalls()],
    )
    return outcome, CountsTestSteps.per_epoch


def test_a_small_validation_set_is_one_batch_validated_eagerly_for_four_epochs_then_traced(digits, tmp_path):
    outcome, seen = _fit_counting_test_steps(digits, tmp_path / "eager", epochs=8)

    # Epochs 1-4: one eager call per pass (the 359 rows are one batch); epoch 5 traces; then none.
    assert seen == [1, 2, 3, 4, 5, 5, 5, 5]
    assert outcome.epochs_run == 8


def test_eager_validation_gives_the_traced_metrics(digits, tmp_path, monkeypatch):
    eager, _ = _fit_counting_test_steps(digits, tmp_path / "eager", epochs=5)
    monkeypatch.setattr(trainers_fit, "EAGER_VALIDATION_PASSES", 0)
    traced, seen = _fit_counting_test_steps(digits, tmp_path / "traced", epochs=5)

    assert seen == [1, 1, 1, 1, 1]  # the same one batch, traced from the first pass
    assert eager.history["val_accuracy"] == traced.history["val_accuracy"]
    np.testing.assert_allclose(eager.history["val_loss"], traced.history["val_loss"], rtol=1e-5)
    assert eager.history["loss"] == traced.history["loss"]  # training is untouched


def test_a_validation_set_past_the_activation_limit_is_batched_and_traced_as_keras_does(
    digits, tmp_path, monkeypatch
):
    monkeypatch.setattr(trainers_fit, "VALIDATION_BATCH_BYTES", 1)

    _, seen = _fit_counting_test_steps(digits, tmp_path, epochs=4)

    # Batches of 64: no eager pass (that would be 6 calls an epoch), only the traces of the first.
    assert seen[0] <= 2 and seen == [seen[0]] * 4


def test_validation_batches_are_sized_from_the_models_activations():
    mlp = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256), keras.layers.Dense(10)])
    assert _validation_batch_size(mlp, rows=2000, batch_size=32) == 2000
    # The input and the conv output: 4 x 128 x 128 x (3 + 64) bytes, 4.2 MiB a row; 15 rows fit in 64 MiB.
    conv = keras.Sequential([keras.Input((128, 128, 3)), keras.layers.Conv2D(64, 3, padding="same")])
    assert _validation_batch_size(conv, rows=2000, batch_size=8) == 15
    assert _validation_batch_size(conv, rows=2000, batch_size=32) == 32

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    assert _validation_batch_size(Subclassed(), rows=2000, batch_size=32) == 32  # no outputs to size
    fixed = keras.Sequential([keras.Input((64,), batch_size=32), keras.layers.Dense(4)])
    assert _validation_batch_size(fixed, rows=2000, batch_size=32) == 32  # takes no other batch size


class CompilesAgainAtEpoch2(keras.callbacks.Callback):
    """Compiles the model again as its second epoch begins, as a backbone's switch to fine-tuning does."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            self.model.make_train_function(force=True)


def test_a_model_compiled_again_mid_fit_traces_its_test_step_once_not_again_after_four_passes(
    digits, tmp_path
):
    CountsTestSteps.calls = 0
    CountsTestSteps.per_epoch = []
    build = lambda config: CountsTestSteps(  # noqa: E731
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    settings = FitSettings(epochs=7, monitor="val_accuracy", mode="max", patience=7, seed=3)
    train(
        {"learning_rate": 1e-2, "batch_size": 64},
        digits,
        settings=settings,
        checkpoint_dir=tmp_path,
        build=build,
        callbacks=[CompilesAgainAtEpoch2(), RecordsTestStepCalls()],
    )

    # Epoch 1 eager; the compile dropped the eager function, so epoch 2 traces Keras's; no trace after.
    seen = CountsTestSteps.per_epoch
    assert seen[0] == 1 and seen[1] > 1 and seen[1:] == [seen[1]] * 6, seen
