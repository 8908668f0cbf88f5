"""From a sampled config to a compiled Keras model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from trainers._data import TrainingData
from trainers._settings import check_config

__all__ = ["build_model", "compile_model"]

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
}


def _layers_from_config(layer: Mapping[str, Any]) -> list[keras.layers.Layer]:
    if layer["type"] == "dropout":
        return [keras.layers.Dropout(layer["rate"])]
    out: list[keras.layers.Layer] = [
        keras.layers.Dense(layer["units"], activation=layer.get("activation", "relu"))
    ]
    if layer.get("dropout", 0.0) > 0:
        out.append(keras.layers.Dropout(layer["dropout"]))
    return out


def _head(data: TrainingData) -> keras.layers.Layer:
    if data.task == "multiclass":
        return keras.layers.Dense(data.num_classes, activation="softmax", name="head")
    if data.task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", name="head")
    return keras.layers.Dense(1, name="head")


def build_model(config: Mapping[str, Any], data: TrainingData) -> keras.Model:
    """Builds the model a config describes, with its input and head taken from the data.

    The first layer standardizes the raw features with the training set's mean
    and variance, so the saved model takes raw rows.
    """
    config = check_config(config)
    axes = tuple(range(data.x_train.ndim - 1))
    mean = data.x_train.mean(axis=axes)
    variance = np.maximum(data.x_train.var(axis=axes), 1e-6)
    inputs = keras.Input(shape=data.input_shape, name="features")
    x = keras.layers.Normalization(mean=mean, variance=variance)(inputs)
    if len(data.input_shape) > 1:
        x = keras.layers.Flatten()(x)
    for layer in config["layers"]:
        for keras_layer in _layers_from_config(layer):
            x = keras_layer(x)
    outputs = _head(data)(x)
    return keras.Model(inputs, outputs)


def compile_model(model: keras.Model, config: Mapping[str, Any], data: TrainingData) -> None:
    """Compiles with the config's optimizer and the task's loss and metrics."""
    config = check_config(config)
    optimizer = _OPTIMIZERS[config["optimizer"]](learning_rate=config["learning_rate"])
    if data.task == "regression":
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    elif data.task == "binary":
        model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
