"""The user's own build(config): compiled for them or kept as compiled, checked against the data, resumable."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import (
    FitSettings,
    TrialFailedError,
    build_custom,
    check_config,
    from_arrays,
    load_sklearn,
    train,
)

SETTINGS = FitSettings(epochs=2, monitor="val_accuracy", mode="max", patience=5)


@pytest.fixture(scope="module")
def digits():
    data = load_sklearn("digits")
    return from_arrays(data.x_train[:300], data.y_train[:300])


def residual(config):
    """Skip connections: what the layer-stack language cannot say."""
    inputs = keras.Input(shape=(64,))
    x = keras.layers.Dense(config["width"], activation="relu")(inputs)
    y = keras.layers.Dense(config["width"], activation="relu")(x)
    x = keras.layers.Add()([x, y])
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))


def test_config_keys_of_a_custom_model_pass_through_and_settings_are_still_checked():
    full = check_config(
        {"width": 16, "blocks": 2, "learning_rate": 0.01}, task="multiclass", custom_model=True
    )
    assert full["width"] == 16 and full["blocks"] == 2
    assert full["optimizer"] == "adam" and full["loss"] == "sparse_categorical_crossentropy"
    with pytest.raises(ConfigError, match="config.learning_rate"):
        check_config({"width": 16, "learning_rate": -1.0}, custom_model=True)
    with pytest.raises(ConfigError, match="config.width"):  # without build, an unknown key is an error
        check_config({"width": 16})


def test_an_uncompiled_model_is_compiled_from_the_config_and_trained(digits, tmp_path):
    config = {"width": 16, "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05}
    outcome = train(config, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=residual)
    assert outcome.epochs_run == 2
    assert isinstance(outcome.model.optimizer, keras.optimizers.SGD)
    assert float(outcome.model.optimizer.learning_rate) == pytest.approx(0.05)
    assert any(isinstance(layer, keras.layers.Add) for layer in outcome.model.layers)
    reloaded = keras.saving.load_model(outcome.checkpoint)  # safe_mode: built-in layers only
    assert reloaded.predict(digits.x_val[:3], verbose=0).shape == (3, 10)


def test_a_compiled_model_keeps_its_own_optimizer_and_loss(digits, tmp_path):
    def compiled(config):
        model = residual(config)
        model.compile(
            optimizer=keras.optimizers.RMSprop(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model

    outcome = train({"width": 8}, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=compiled)
    assert isinstance(outcome.model.optimizer, keras.optimizers.RMSprop)
    assert len(outcome.history["val_accuracy"]) == 2


def test_a_model_compiled_with_a_categorical_loss_gets_one_hot_targets(digits, tmp_path):
    def categorical(config):
        model = residual(config)
        model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
        return model

    outcome = train({"width": 8}, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=categorical)
    assert outcome.epochs_run == 2 and all(np.isfinite(outcome.history["loss"]))


def test_a_compiled_model_without_the_monitored_metric_fails_at_its_first_epoch(digits, tmp_path):
    def no_accuracy(config):
        model = residual(config)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    with pytest.raises(TrialFailedError, match="'val_accuracy'.*reports"):
        train({"width": 8}, digits, settings=SETTINGS, checkpoint_dir=tmp_path, build=no_accuracy)


def test_a_custom_model_resumes_from_its_checkpoint(digits, tmp_path):
    first = train({"width": 8}, digits, settings=SETTINGS, checkpoint_dir=tmp_path / "a", build=residual)
    more = FitSettings(epochs=4, monitor="val_accuracy", mode="max", patience=5)
    resumed = train(
        {"width": 8},
        digits,
        settings=more,
        checkpoint_dir=tmp_path / "b",
        build=residual,
        resume_from=tmp_path / "a",
    )
    assert resumed.epochs_run == 4
    assert resumed.history["loss"][:2] == first.history["loss"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda c: "a model", "must return a keras.Model, but returned str"),
        (lambda c: c["missing"], r"raised KeyError: 'missing'"),
        (
            lambda c: keras.Sequential([keras.Input((64,)), keras.layers.Dense(3, activation="softmax")]),
            r"3 output units, but a multiclass task needs 10 \(one per class\)",
        ),
        (
            lambda c: keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(10)]),
            r"input takes samples of shape \(8, 8\), but the data's samples have shape \(64,\)",
        ),
    ],
    ids=["not-a-model", "raises", "wrong-output", "wrong-input"],
)
def test_a_model_that_does_not_fit_is_refused_before_fit(digits, build, message):
    with pytest.raises(ConfigError, match=message) as error:
        build_custom(build, {"width": 8}, digits)
    assert error.value.field == "build"


def test_a_binary_task_needs_one_output_unit():
    rng = np.random.default_rng(0)
    data = from_arrays(rng.normal(size=(40, 4)), np.arange(40) % 2)
    two = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(ConfigError, match="2 output units, but a binary task needs 1"):
        build_custom(lambda c: two, {}, data)
