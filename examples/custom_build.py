"""Your own model: a residual MLP on scikit-learn's digits, from a `build(config)` function.

Skip connections are something the layer-stack language does not express, so
this example writes the model itself, the way KerasTuner's `build(hp)` does:
the space holds the function's hyperparameters (`width`, `blocks`, `dropout`)
next to the training settings, and `build` turns one sampled config into a
Keras model. Returned uncompiled, it is compiled from the config's optimizer
and learning rate. Everything else (Optuna, Ray, early stopping, checkpoints,
MLflow) is as for a built-in space. The same run as YAML is
examples/custom_build.yaml (`build: custom_build.py:build`).

    python examples/custom_build.py --trials 12 --epochs 20
"""

from __future__ import annotations

import argparse
from typing import Any

import keras

import automl
from search_spaces import Categorical, Float, Int, Space

NUM_FEATURES = 64  # digits: 8x8 pixels
NUM_CLASSES = 10


def build(config: dict[str, Any]) -> keras.Model:
    """A residual MLP: a projection to `width`, then `blocks` of Dense → Dropout added back to their input."""
    inputs = keras.Input(shape=(NUM_FEATURES,))
    x = keras.layers.Rescaling(1 / 16)(inputs)  # digits' pixels are 0..16
    x = keras.layers.Dense(config["width"], activation="relu")(x)
    for _ in range(config["blocks"]):
        y = keras.layers.Dense(config["width"], activation=config["activation"])(x)
        y = keras.layers.Dropout(config["dropout"])(y)
        x = keras.layers.LayerNormalization()(keras.layers.Add()([x, y]))
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="residual_mlp")


SPACE = Space(
    width=Int(16, 128, log=True),
    blocks=Int(1, 3),
    activation=Categorical(["relu", "gelu"]),
    dropout=Float(0.0, 0.4),
    learning_rate=Float(1e-4, 1e-2, log=True),  # a training setting: used to compile the model
    batch_size=Categorical([32, 64]),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="number of trials (default 12)")
    parser.add_argument("--epochs", type=int, default=20, help="most epochs per trial (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    args = parser.parse_args()

    result = automl.tune(
        SPACE,
        build=build,
        data="digits",  # bundled with scikit-learn
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="digits-residual-mlp",
    )
    print()
    print(result.summary())
    print(f"\nThe best model (load it with keras.saving.load_model): {result.best_model_path}")


if __name__ == "__main__":
    main()
