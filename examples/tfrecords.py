"""An MLP tuned on sharded TFRecord files, parsed and interleaved inside each trial.

The script first writes scikit-learn's digits as seeded TFRecord shards of
`tf.train.Example`s (64 float pixels and an int64 label each): four training
shards and one validation shard. `trainers.tfrecords` parses the first record of
each set with the declared feature spec before Ray starts; each trial reads
every shard itself, interleaved, batched with its own `batch_size`. The same run
as YAML is examples/tfrecords.yaml (run this script once first: it writes the shards).

    python examples/tfrecords.py --trials 8 --epochs 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import automl
import trainers
from search_spaces import Categorical, mlp

FOLDER = Path(__file__).resolve().parent / "data" / "digits_tfrecords"
FEATURES = {"pixels": {"dtype": "float32", "shape": [64]}, "digit": {"dtype": "int64"}}


def write_digit_shards(folder: Path, *, shards: int = 4, seed: int = 0) -> tuple[str, str]:
    """Writes digits as ``train-NN.tfrecord`` shards and one ``val-00.tfrecord``; returns their globs."""
    import tensorflow as tf

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    n_val = len(order) // 5
    parts = {"val": [order[:n_val]], "train": np.array_split(order[n_val:], shards)}
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, chunks in parts.items():
        for i, rows in enumerate(chunks):
            with tf.io.TFRecordWriter(str(folder / f"{prefix}-{i:02d}.tfrecord")) as writer:
                for row in rows:
                    feature = {
                        "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=digits.data[row])),
                        "digit": tf.train.Feature(int64_list=tf.train.Int64List(value=[digits.target[row]])),
                    }
                    writer.write(
                        tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()
                    )
    return str(folder / "train-*.tfrecord"), str(folder / "val-*.tfrecord")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help=f"where the shards go (default {FOLDER})")
    args = parser.parse_args()

    train_glob, val_glob = write_digit_shards(args.folder)
    data = trainers.tfrecords(
        train_glob, features=FEATURES, label="digit", validation=val_glob, num_classes=10
    )
    print(f"{data.name}: {data.task}, samples of shape {data.input_shape}, {data.num_classes} classes")
    result = automl.tune(
        mlp(batch_size=Categorical([32, 64])),
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=0,
        experiment_name="digits-tfrecords",
    )
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
