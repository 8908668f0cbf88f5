"""Your own tf.data code as the data: a loader function called inside each trial, with the trial's config.

`make_data(config)` returns ``(train_ds, val_ds)``, two ``tf.data.Dataset``s
of ``(x, y)`` batches. Each trial calls it in its own worker, so the trial's
sampled ``batch_size`` reaches it, and so does every key of the space that
starts with ``data_``: here ``data_noise``, the standard deviation of the
Gaussian noise added to the training pixels, is searched like a layer size.
The driver calls the loader once, with the space's default config, before Ray
starts, to learn the input shape and the classes. The data is scikit-learn's
bundled digits (no download); your loader would read your files instead. The
same run as YAML is examples/custom_loader.yaml (``data: {function:
custom_loader.py:make_data}``).

    python examples/custom_loader.py --trials 8 --epochs 10
"""

from __future__ import annotations

import argparse
from typing import Any


def make_data(config: dict[str, Any]) -> tuple[Any, Any]:
    """Digits as ``(train_ds, val_ds)``: batched with the trial's ``batch_size``, training pixels noised by ``data_noise``."""
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(y))  # the same split in every trial
    val, train = order[: len(y) // 5], order[len(y) // 5 :]
    noise = float(config.get("data_noise", 0.0))
    batch_size = int(config["batch_size"])
    train_ds = (
        tf.data.Dataset.from_tensor_slices((x[train], y[train]))
        .shuffle(len(train), seed=0)
        .batch(batch_size)
        .map(lambda xs, ys: (xs + tf.random.normal(tf.shape(xs), stddev=noise), ys))
    )
    val_ds = tf.data.Dataset.from_tensor_slices((x[val], y[val])).batch(batch_size)
    return train_ds, val_ds


def main() -> None:
    import automl
    from search_spaces import Categorical, Float, mlp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    args = parser.parse_args()

    result = automl.tune(
        mlp(batch_size=Categorical([32, 64]), data_noise=Float(0.0, 0.3)),
        data=make_data,  # called in each trial's worker with its config
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=0,
        experiment_name="custom-loader",
    )
    print()
    print(result.summary())
    print(f"best data_noise: {result.best_config['data_noise']:.3f}")


if __name__ == "__main__":
    main()
