"""A CNN on scikit-learn's digits as 8x8 images: Conv2D blocks, then Dense, tuned by TPE with ASHA.

The `cnn()` preset searches 1–2 Conv2D blocks (filters, kernel size, pooling)
under `conv_layers` and 0–1 Dense layers under `layers`; here the pooling kind
and a cosine learning-rate schedule join the search. The space is checked
against the image shape before Ray starts (a 5x5 kernel after two poolings
would not fit 8x8 images with 'valid' padding). The same run as YAML is
examples/digits_cnn.yaml.

    python examples/digits_cnn.py --trials 12 --epochs 15
"""

from __future__ import annotations

import argparse

from sklearn.datasets import load_digits

import automl
from search_spaces import Categorical, Conv2D, Int, LayerStack, cnn
from trainers import from_arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12, help="number of trials (default 12)")
    parser.add_argument("--epochs", type=int, default=15, help="most epochs per trial (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    args = parser.parse_args()

    digits = load_digits()  # bundled with scikit-learn: 1,797 images of 8x8 pixels
    data = from_arrays(digits.images[..., None], digits.target, name="digits-images")  # (n, 8, 8, 1)
    space = cnn(
        conv_layers=LayerStack(
            Conv2D(
                filters=Int(8, 64, log=True),
                kernel_size=Categorical([3, 5]),
                pool=Categorical(["max", "average"]),
            ),
            min_layers=1,
            max_layers=2,
        ),
        lr_schedule=Categorical(["constant", "cosine"]),
    )
    result = automl.tune(
        space,
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        # scheduler: ASHA (the default) stops poor trials after their first epochs
        seed=args.seed,
        experiment_name="digits-cnn",
    )
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
