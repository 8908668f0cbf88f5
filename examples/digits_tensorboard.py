"""Tune a small MLP on digits and watch every trial's curves in TensorBoard.

Each trial writes its epoch metrics as TensorBoard event files into its own
directory of the run; `automl tensorboard RUN_DIR` shows them all, each trial
named as its MLflow run (trial-001, trial-002, ...). Needs the tensorboard
package: pip install 'keras-automl[tensorboard]'.

    python examples/digits_tensorboard.py --trials 6 --epochs 10
"""

from __future__ import annotations

import argparse

import automl
from search_spaces import mlp
from trainers import load_sklearn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6, help="number of trials (default 6)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    args = parser.parse_args()

    result = automl.tune(
        mlp(min_layers=1, max_layers=2),
        data=load_sklearn("digits"),
        num_trials=args.trials,
        epochs=args.epochs,
        seed=0,
        tensorboard=True,
        experiment_name="digits-tensorboard",
    )

    print()
    print(result.summary())
    print()
    print("See every trial's curves in TensorBoard:")
    print(f"  automl tensorboard {result.run_dir}")
    print("then open http://127.0.0.1:6006/")


if __name__ == "__main__":
    main()
