"""A KerasTuner script, ported: the same `build_model(hp)`, run by Optuna × Ray Tune × MLflow.

The hypermodel below is KerasTuner's getting-started one (a loop over layers,
a conditional dropout, a learning-rate choice), on scikit-learn's digits. It
is the KerasTuner code, unchanged; only the last lines differ. Under
KerasTuner they read:

    tuner = keras_tuner.RandomSearch(build_model, objective="val_accuracy", max_trials=12)
    tuner.search(x_train, y_train, epochs=20, validation_data=(x_val, y_val))
    best_hps = tuner.get_best_hyperparameters()[0]

Here one `automl.tune(hypermodel=build_model, ...)` call samples each
trial's `hp` values with Optuna's TPE (define-by-run: it sees the loop and
the branch), runs the trials on Ray workers with ASHA stopping poor ones,
trains each with early stopping and checkpoints, and records everything in
MLflow. See docs/guides/from-kerastuner.md.

    python examples/kerastuner_port.py --trials 12 --epochs 20
"""

from __future__ import annotations

import argparse

import keras

import automl


def build_model(hp):
    model = keras.Sequential()
    model.add(keras.Input(shape=(64,)))  # digits: 8x8 pixels
    model.add(keras.layers.Rescaling(1 / 16))
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(
            keras.layers.Dense(
                units=hp.Int(f"units_{i}", min_value=32, max_value=256, step=32),
                activation=hp.Choice("activation", ["relu", "tanh"]),
            )
        )
    if hp.Boolean("dropout"):
        model.add(keras.layers.Dropout(rate=hp.Float("rate", 0.1, 0.5, step=0.1)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="number of trials (default 12)")
    parser.add_argument("--epochs", type=int, default=20, help="most epochs per trial (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    args = parser.parse_args()

    result = automl.tune(
        hypermodel=build_model,
        data="digits",  # bundled with scikit-learn; or trainers.from_arrays(x, y, validation_data=...)
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="digits-kerastuner-port",
    )
    print()
    result.results_summary(num_trials=3)
    best_hps = result.best_hyperparameters
    print(f"\nBest val_accuracy {result.best_value:.4f} with {best_hps.values}")
    best_model = result.get_best_models(1)[0]
    print(f"The best model has {best_model.count_params()} weights: {result.best_model_path}")


if __name__ == "__main__":
    main()
