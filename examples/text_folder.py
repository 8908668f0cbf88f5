"""A text classifier tuned on a folder of .txt files, with the vectorizer's size and length searched.

The script first writes a seeded corpus of short product reviews, one
subfolder per class (``neg/``, ``pos/``), one ``.txt`` file per review.
`trainers.text_directory` lists the folder and reads the first file of each
class before Ray starts; each trial reads the files itself
(`keras.utils.text_dataset_from_directory`) and adapts its model's first layer,
a ``TextVectorization``, on its training texts. The vocabulary size
(``data_max_tokens``) and the sequence length (``data_sequence_length``) are
hyperparameters like the layer sizes, so each trial adapts its own. The saved
models take raw strings. The same run as YAML is examples/text_folder.yaml (run
this script once first: it writes the folder).

    python examples/text_folder.py --trials 8 --epochs 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import automl
import trainers
from search_spaces import Categorical, Dense, Embedding, Float, Int, LayerStack, Space

FOLDER = Path(__file__).resolve().parent / "data" / "reviews_txt"
# Words that tell the class, and words any review may hold.
WORDS = {
    "neg": ["broke", "refund", "slow", "noisy", "awful", "cheap", "returned", "late"],
    "pos": ["great", "sturdy", "fast", "quiet", "love", "recommend", "perfect", "bright"],
}
COMMON = ["the", "a", "it", "was", "box", "arrived", "and", "this", "lamp", "kettle", "very", "after", "day"]


def write_reviews(folder: Path, *, per_class: int = 60, seed: int = 0) -> Path:
    """Writes ``per_class`` seeded reviews of 8–20 words per class as ``folder/<class>/NNN.txt``."""
    rng = np.random.default_rng(seed)
    for name, words in WORDS.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            length = int(rng.integers(8, 21))
            # A few of the class's words among common ones, and one of the other class's now and then.
            other = WORDS["pos" if name == "neg" else "neg"]
            pool = words * 2 + COMMON * 3 + other
            (folder / name / f"{i:03d}.txt").write_text(" ".join(rng.choice(pool, size=length)) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=10, help="most epochs per trial (default 10)")
    parser.add_argument("--folder", type=Path, default=FOLDER, help=f"where the reviews go (default {FOLDER})")
    args = parser.parse_args()

    folder = write_reviews(args.folder)
    data = trainers.text_directory(str(folder), max_tokens=1000, sequence_length=24, validation_split=0.2)
    print(f"{data.name}: {data.train_rows} training and {data.val_rows} validation texts, classes {data.classes}")
    space = Space(
        embed_layers=LayerStack(Embedding(output_dim=Int(8, 32, log=True)), min_layers=1, max_layers=1),
        layers=LayerStack(Dense(units=Int(8, 64, log=True)), min_layers=1, max_layers=2),
        learning_rate=Float(1e-3, 1e-2, log=True),
        batch_size=Categorical([16, 32]),
        data_max_tokens=Categorical([50, 1000]),  # each trial's vocabulary size...
        data_sequence_length=Categorical([12, 24]),  # ...and token ids per text
    )
    result = automl.tune(
        space,
        data=data,
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=0,
        experiment_name="text-folder",
    )
    print()
    print(result.summary())
    model = result.load_best_model()
    texts = np.array(["great sturdy lamp, love it", "it broke after a day, refund"], dtype=object)
    print(f"P(pos) for two new reviews: {model.predict(texts, verbose=0)[:, 0].round(2)}")


if __name__ == "__main__":
    main()
