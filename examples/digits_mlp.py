"""Tune a small MLP on scikit-learn's bundled digits (the `make demo` example).

Optuna's TPE draws 1–3 Dense layers (units and dropout per layer), the
learning rate and the batch size; Ray runs the trials locally; each trial is a
Keras compile/fit with EarlyStopping and ModelCheckpoint; MLflow records every
trial in ./mlflow.db.

    python examples/digits_mlp.py --trials 12 --epochs 20
"""

from __future__ import annotations

import argparse

import automl
from search_spaces import mlp
from trainers import load_sklearn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="number of trials (default 12)")
    parser.add_argument("--epochs", type=int, default=20, help="most epochs per trial (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    args = parser.parse_args()

    result = automl.tune(
        mlp(min_layers=1, max_layers=3),
        data=load_sklearn("digits"),
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        resources_per_trial={"cpu": 1},
        experiment_name="digits-mlp",
    )

    print()
    print(result.summary())


if __name__ == "__main__":
    main()
