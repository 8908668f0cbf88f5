"""A CNN with augmentation tuned on a folder of PNG images, read inside each trial (the driver never holds them).

The script first writes a seeded folder of small PNGs, one subfolder per
class: scikit-learn's 8x8 digits, upscaled to 16x16 RGB. `trainers.image_directory`
then lists the folder and decodes the first image of each class (the task, the
image shape and the class names are fixed there, before Ray starts); each
trial reads the files itself with `keras.utils.image_dataset_from_directory`,
batched with its own sampled `batch_size`. The model starts with random
rotations, zooms and shifts of a sampled size (Keras applies them in training
only; no flips on digits), then the cnn preset's layers. The same run as YAML is
examples/images_folder.yaml (run this script once first: it writes the folder).

    python examples/images_folder.py --trials 8 --epochs 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

import automl
import trainers
from search_spaces import (
    Categorical,
    Conv2D,
    Float,
    Int,
    LayerStack,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Repeat,
    Space,
    cnn,
)

FOLDER = Path(__file__).resolve().parent / "data" / "digits_png"


def write_digit_images(folder: Path, *, per_class: int = 40, size: int = 16, seed: int = 0) -> Path:
    """Writes ``per_class`` digits of each class as ``size``x``size`` RGB PNGs under ``folder/<digit>/``."""
    import tensorflow as tf

    digits = load_digits()
    rng = np.random.default_rng(seed)
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True, exist_ok=True)
        rows = rng.choice(np.flatnonzero(digits.target == digit), per_class, replace=False)
        for i, row in enumerate(rows):
            pixels = digits.images[row][..., None] * (255 / 16)  # 0..16 -> 0..255
            image = tf.image.resize(tf.repeat(pixels, 3, axis=-1), (size, size), method="nearest")
            tf.io.write_file(
                str(folder / str(digit) / f"{i:03d}.png"), tf.io.encode_png(tf.cast(image, tf.uint8))
            )
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help=f"where the PNGs go (default {FOLDER})")
    args = parser.parse_args()

    folder = write_digit_images(args.folder)
    data = trainers.image_directory(str(folder), image_size=[16, 16], color_mode="rgb", validation_split=0.2)
    print(
        f"{data.name}: {data.train_rows} training and {data.val_rows} validation images, classes {data.classes}"
    )
    preset = cnn(
        conv_layers=LayerStack(
            Conv2D(filters=Int(4, 16, log=True), kernel_size=Categorical([3, 5])),
            min_layers=1,
            max_layers=2,
        ),
        batch_size=Categorical([16, 32]),
    )
    augment = Repeat(
        [
            RandomRotation(factor=Float(0.0, 0.05)),  # up to 18 degrees either way
            RandomZoom(height_factor=Float(0.0, 0.1)),
            RandomTranslation(height_factor=0.1, width_factor=0.1),
        ]
    )
    # The body follows the space's order: the augmentation first, then the preset's layers.
    space = Space({"augment_layers": augment, **{name: preset[name] for name in preset}})
    result = automl.tune(
        space,
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=0,
        experiment_name="images-folder",
    )
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
