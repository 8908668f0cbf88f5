"""Training settings reach Keras: optimizer arguments, schedules, epoch cap, losses, class weights."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import (
    FitSettings,
    build_model,
    compile_model,
    from_arrays,
    load_sklearn,
    reported_metrics,
    train,
)

DENSE = {"type": "dense", "units": 8}


class ListReporter:
    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.last: list[bool] = []

    def report(self, metrics, *, epoch, checkpoint, last):
        self.epochs.append(epoch)
        self.last.append(last)


class LearningRates(keras.callbacks.Callback):
    """Records the optimizer's learning rate after each epoch."""

    def __init__(self):
        super().__init__()
        self.rates: dict[int, float] = {}

    def __deepcopy__(self, memo):
        return self  # train() copies user callbacks; this one shares its record with the test

    def on_epoch_end(self, epoch, logs=None):
        self.rates[epoch] = float(self.model.optimizer.learning_rate)


@pytest.fixture(scope="module")
def multiclass():
    digits = load_sklearn("digits")
    return from_arrays(digits.x_train[:200], digits.y_train[:200])


@pytest.fixture(scope="module")
def binary():
    data = load_sklearn("breast_cancer")
    return from_arrays(data.x_train[:200], data.y_train[:200])


@pytest.fixture(scope="module")
def regression():
    data = load_sklearn("diabetes")
    return from_arrays(data.x_train[:200], data.y_train[:200], task="regression")


def _compiled(config, data):
    model = build_model(config, data)
    compile_model(model, config, data)
    return model


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "clipnorm": 1.0},
            {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "clipnorm": 1.0},
        ),
        (
            {"optimizer": "rmsprop", "momentum": 0.5},
            {"momentum": 0.5, "weight_decay": None, "clipnorm": None},
        ),
        ({"optimizer": "adam", "beta_1": 0.8, "beta_2": 0.95}, {"beta_1": 0.8, "beta_2": 0.95}),
        (
            {"optimizer": "adamw", "weight_decay": 0.01, "beta_1": 0.85},
            {"weight_decay": 0.01, "beta_1": 0.85},
        ),
        ({"optimizer": "adamw"}, {"weight_decay": 0.004}),  # unset: Keras' own default
        ({"optimizer": "nadam", "beta_2": 0.99, "clipnorm": 0.5}, {"beta_2": 0.99, "clipnorm": 0.5}),
    ],
)
def test_optimizer_settings_reach_the_keras_optimizer(multiclass, config, expected):
    optimizer = _compiled({"layers": [DENSE], "learning_rate": 0.02, **config}, multiclass).optimizer
    assert type(optimizer).__name__.lower() == config["optimizer"]
    assert float(optimizer.learning_rate) == pytest.approx(0.02)
    for key, value in expected.items():
        assert getattr(optimizer, key) == (pytest.approx(value) if isinstance(value, float) else value), key


def test_the_config_epochs_cap_the_fit_and_the_cosine_schedule_after_warm_up(multiclass, tmp_path):
    reporter, recorder = ListReporter(), LearningRates()
    config = {
        "layers": [DENSE],
        "learning_rate": 0.01,
        "lr_schedule": "cosine",
        "warmup_epochs": 2,
        "epochs": 5,
    }
    outcome = train(
        config,
        multiclass,
        settings=FitSettings(epochs=8, patience=8),
        checkpoint_dir=tmp_path,
        reporter=reporter,
        callbacks=[recorder],
    )
    assert outcome.epochs_run == 5
    assert reporter.epochs == [1, 2, 3, 4, 5] and reporter.last == [False, False, False, False, True]
    # Warm-up: lr * (e + 1) / 3; then cosine over the 3 epochs left before the cap (5, not 8),
    # reaching 0 at the cap.
    expected = [
        0.01 / 3,
        0.02 / 3,
        0.01,
        0.01 * (1 + math.cos(math.pi / 3)) / 2,
        0.01 * (1 + math.cos(2 * math.pi / 3)) / 2,
    ]
    assert [recorder.rates[e] for e in range(5)] == pytest.approx(expected, rel=1e-6)


def test_exponential_decay_after_warm_up_continues_at_the_resumed_epoch(multiclass, tmp_path):
    config = {"layers": [DENSE], "learning_rate": 0.01, "lr_schedule": "exponential", "warmup_epochs": 1}
    first, resumed = LearningRates(), LearningRates()
    settings = {"patience": 5}
    train(
        config,
        multiclass,
        settings=FitSettings(epochs=2, **settings),
        checkpoint_dir=tmp_path / "a",
        callbacks=[first],
    )
    train(
        config,
        multiclass,
        settings=FitSettings(epochs=4, **settings),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
        callbacks=[resumed],
    )
    # Warm-up 0.01 / 2, then 0.01 * 0.9 ** (e - 1) with the default decay 0.9 — from epoch 2 on
    # after the resume, not from the start of the schedule.
    assert first.rates == pytest.approx({0: 0.005, 1: 0.01}, rel=1e-6)
    assert resumed.rates == pytest.approx({2: 0.009, 3: 0.0081}, rel=1e-6)


@pytest.mark.parametrize(
    ("task", "config"),
    [
        (
            "multiclass",
            {"loss": "categorical_focal_crossentropy", "label_smoothing": 0.1, "class_weight": "balanced"},
        ),
        ("multiclass", {"label_smoothing": 0.1}),  # sparse targets become one-hot
        ("binary", {"loss": "binary_focal_crossentropy", "label_smoothing": 0.1, "class_weight": "balanced"}),
        ("regression", {"loss": "huber", "epochs": 9}),  # the settings' smaller cap wins
    ],
)
def test_losses_label_smoothing_and_class_weights_report_the_same_metrics(request, task, config, tmp_path):
    data = request.getfixturevalue(task)
    outcome = train(
        {"layers": [DENSE], **config}, data, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path
    )
    assert set(outcome.history) == set(reported_metrics(task))
    assert all(math.isfinite(v[0]) for v in outcome.history.values())
    if task == "multiclass":  # "accuracy" counts right answers for one-hot targets too
        predicted = outcome.model.predict(data.x_val, verbose=0).argmax(axis=1)
        assert outcome.history["val_accuracy"][0] == pytest.approx(np.mean(predicted == data.y_val), abs=1e-6)


def test_the_loss_follows_the_config(multiclass, binary, regression):
    loss = _compiled({"loss": "categorical_focal_crossentropy", "label_smoothing": 0.2}, multiclass).loss
    assert isinstance(loss, keras.losses.CategoricalFocalCrossentropy) and loss.label_smoothing == 0.2
    loss = _compiled({"label_smoothing": 0.1}, binary).loss
    assert isinstance(loss, keras.losses.BinaryCrossentropy) and loss.label_smoothing == 0.1
    assert _compiled({"loss": "log_cosh"}, regression).loss == "log_cosh"
    assert _compiled({"loss": "categorical_crossentropy"}, multiclass).loss == "categorical_crossentropy"
    assert _compiled({"label_smoothing": 0.1}, multiclass).loss.name == "categorical_crossentropy"


def test_balanced_class_weights_weigh_each_class_by_its_rarity(tmp_path):
    x = np.random.default_rng(0).normal(size=(100, 2))
    y = np.r_[np.zeros(90, int), np.ones(10, int)]
    data = from_arrays(x, y, validation_data=(x, y))
    config = {"layers": [], "class_weight": "balanced", "learning_rate": 1e-9, "batch_size": 100}
    outcome = train(config, data, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path)
    # One batch and no learning at this rate: the training loss is the weighted mean of the
    # per-row losses of the final model, with weights n / (2 * count): 100/180 and 100/20.
    per_row = keras.losses.binary_crossentropy(y[:, None], outcome.model.predict(x, verbose=0))
    weights = np.where(y == 1, 100 / 20, 100 / 180)
    assert outcome.history["loss"][0] == pytest.approx(np.mean(weights * np.asarray(per_row)), rel=1e-4)
    assert outcome.history["val_loss"][0] == pytest.approx(np.mean(per_row), rel=1e-4)  # unweighted


@pytest.mark.parametrize(
    ("task", "config", "match"),
    [
        (
            "multiclass",
            {"loss": "mse"},
            r"^config\.loss: loss 'mse' does not fit a multiclass task; accepted for multiclass: \[",
        ),
        (
            "binary",
            {"loss": "sparse_categorical_crossentropy"},
            r"^config\.loss: loss 'sparse_categorical_crossentropy' does not fit a binary task",
        ),
        (
            "regression",
            {"loss": "binary_crossentropy"},
            r"^config\.loss: loss 'binary_crossentropy' does not fit a regression task",
        ),
        (
            "regression",
            {"label_smoothing": 0.1},
            r"^config\.label_smoothing: label_smoothing is for classification",
        ),
        (
            "regression",
            {"class_weight": "balanced"},
            r"^config\.class_weight: class_weight is for classification",
        ),
    ],
)
def test_settings_that_do_not_fit_the_task_fail_before_fit(request, task, config, match, tmp_path):
    data = request.getfixturevalue(task)
    for attempt in (
        lambda: build_model(config, data),
        lambda: compile_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]), config, data),
        lambda: train(config, data, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path),
    ):
        with pytest.raises(ConfigError, match=match):
            attempt()
    assert not any(tmp_path.iterdir())  # nothing was fitted


def test_an_optimizer_setting_for_another_optimizer_fails_before_fit(multiclass, tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^config\.momentum: only optimizer 'sgd' or 'rmsprop' takes momentum, but optimizer is 'adamw'",
    ):
        train(
            {"optimizer": "adamw", "momentum": 0.9},
            multiclass,
            settings=FitSettings(epochs=1),
            checkpoint_dir=tmp_path,
        )
