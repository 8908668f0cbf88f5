"""Tune a small MLP on scikit-learn's bundled digits (the `make demo` example).

Optuna's TPE draws 1–3 Dense layers (units and dropout per layer), the
learning rate and the batch size; Ray runs the trials locally; each trial is a
Keras compile/fit with EarlyStopping and ModelCheckpoint; MLflow records every
trial in ./mlflow.db.

    python examples/digits_mlp.py --trials 12 --epochs 20
"""

from __future__ import annotations

import argparse
import json

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
    print(f"Best val_accuracy: {result.best_value:.4f}")
    print("Best config:")
    print(json.dumps(result.best_config, indent=2))
    print(f"Best model: {result.best_model_path}")
    print(
        result.trials[["number", "state", "epochs", "best_val_accuracy", "duration_s"]].to_string(index=False)
    )
    print()
    print("Compare the trials in the MLflow UI:")
    print(f"  {result.ui_command}")
    print(f"  then open {result.ui_url}")


if __name__ == "__main__":
    main()
