"""Accuracy against model size on scikit-learn's digits: two objectives and their Pareto front.

TPE (multi-objective) searches MLPs to maximize validation accuracy and
minimize the parameter count at once; the result lists the trials no other
trial beats on both (the Pareto front). The same run as YAML is
examples/two_objectives.yaml.

    python examples/two_objectives.py --trials 16 --epochs 10
"""

from __future__ import annotations

import argparse

import automl
from search_spaces import Dense, Float, Int, LayerStack, mlp
from trainers import load_sklearn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16, help="number of trials (default 16)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    args = parser.parse_args()

    space = mlp(
        layers=LayerStack(
            Dense(units=Int(4, 256, log=True), dropout=Float(0.0, 0.3)), min_layers=1, max_layers=3
        ),
    )
    result = automl.tune(
        space,
        data=load_sklearn("digits"),
        metric=["val_accuracy", "params"],
        mode=["max", "min"],
        sampler="tpe",  # or "nsga2"
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="digits-two-objectives",
    )

    print()
    print(result.summary())
    front = result.pareto_front
    print()
    print(
        f"{len(front)} trials on the Pareto front; the smallest model reaches "
        f"val_accuracy {front.iloc[-1]['val_accuracy']:.3f} with {int(front.iloc[-1]['params'])} parameters."
    )


if __name__ == "__main__":
    main()
