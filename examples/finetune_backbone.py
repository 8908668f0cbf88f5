"""Fine-tune a MobileNetV3Small backbone under a new head, on small seeded images, offline.

Each trial trains in two phases, one run of epochs: first the new top with the
backbone frozen (`head_epochs`), then the top 30-50 % of the backbone's layers too
(`fine_tune_at`) at a tenth or less of the learning rate (`fine_tune_lr_factor`).
MLflow shows each epoch's `phase` (1 or 2). The backbone starts from a local
weights file, which this script writes first (randomly initialized here, so it
runs without network access; a file saved from a pretrained backbone, or
`weights="imagenet"` with network access, is what a real run would use). The
same run as YAML is examples/finetune_backbone.yaml; its images are
examples/data/backbone_images.npz, made by `--write-data`.

    python examples/finetune_backbone.py --trials 4 --epochs 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import automl
from search_spaces import Backbone, Categorical, Dropout, Float, LayerStack, Space
from trainers import from_arrays

IMAGE_SHAPE = (32, 32, 3)  # MobileNetV3Small's smallest input
DATA_FILE = Path(__file__).resolve().parent / "data" / "backbone_images.npz"


def make_images(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` seeded RGB images (0-255) of three classes: a bright square in the red, green or blue channel."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = np.zeros((n, *IMAGE_SHAPE), np.uint8)
    for i, label in enumerate(y):
        top, left = rng.integers(0, 20, size=2)
        x[i, top : top + 12, left : left + 12, label] = 255
    return x, y


def write_weights(path: Path) -> Path:
    """Saves a MobileNetV3Small's weights (without its top, as the trials build it) to ``path``."""
    import keras

    backbone = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=IMAGE_SHAPE, pooling="avg"
    )
    backbone.save_weights(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="number of trials (default 4)")
    parser.add_argument("--epochs", type=int, default=4, help="most epochs per trial (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    parser.add_argument("--write-data", action="store_true", help=f"write {DATA_FILE.name} and stop")
    args = parser.parse_args()

    x, y = make_images()
    if args.write_data:
        np.savez_compressed(DATA_FILE, x=x, y=y)
        print(f"wrote {DATA_FILE}")
        return
    weights = write_weights(Path("mobilenet_v3_small.weights.h5"))
    space = Space(
        layers=LayerStack(
            Backbone(
                name="MobileNetV3Small",
                weights=str(weights),
                head_epochs=args.epochs // 2,  # the first half of the epochs trains the new top only
                fine_tune_at=Categorical([0.5, 0.7]),
                fine_tune_lr_factor=Float(0.01, 0.1, log=True),
            )
        ),
        top_layers=LayerStack(Dropout(rate=Float(0.0, 0.3))),
        learning_rate=Float(1e-3, 1e-2, log=True),
        batch_size=16,
    )
    result = automl.tune(
        space,
        data=from_arrays(x.astype("float32"), y, name="seeded-squares"),
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="finetune-backbone",
    )
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
