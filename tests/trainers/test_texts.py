"""Text folders: listed and first files read in the driver; vectorized inside the model in `train`."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import FitSettings, check_config, text_directory, train
from trainers._stream import open_stream
from trainers._texts import check_text_body

WORDS = {"pos": ["good", "great", "fine", "nice"], "neg": ["bad", "awful", "poor", "sad"]}
FILLER = ["the", "a", "movie", "was", "plot", "and", "it"]
CONFIG = {"layers": [{"type": "embedding", "output_dim": 8}, {"type": "dense", "units": 8}], "batch_size": 8}


def write_texts(root, *, per_class=24, seed=0):
    """Seeded short reviews whose words tell the class."""
    rng = np.random.default_rng(seed)
    for name, words in WORDS.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            text = " ".join(rng.choice(words + FILLER, size=12))
            (root / name / f"{i}.txt").write_text(text)
    return root


def test_a_text_folder_declares_its_classes_and_token_shape(tmp_path):
    data = text_directory(str(write_texts(tmp_path / "reviews")), max_tokens=50, sequence_length=12)
    assert (data.task, data.classes, data.input_shape, data.tokens) == (
        "binary",
        ("neg", "pos"),
        (12,),
        (50, 12),
    )
    assert data.spec() == {
        "text_directory": str(tmp_path / "reviews"),
        "max_tokens": 50,
        "sequence_length": 12,
        "validation_split": 0.2,
        "seed": 0,
    }


def test_the_model_takes_raw_strings_through_a_vectorizer_adapted_in_the_trial(tmp_path):
    data = text_directory(
        str(write_texts(tmp_path / "reviews", per_class=40)), max_tokens=50, sequence_length=12
    )
    settings = FitSettings(epochs=6, monitor="val_accuracy", mode="max", patience=6, seed=0)
    outcome = train({**CONFIG, "learning_rate": 0.01}, data, settings=settings, checkpoint_dir=tmp_path / "t")
    assert outcome.epochs_run == 6 and max(outcome.history["val_accuracy"]) > 0.75  # chance: 1/2
    model = keras.saving.load_model(outcome.checkpoint)
    vectorizer = next(layer for layer in model.layers if isinstance(layer, keras.layers.TextVectorization))
    assert {"good", "bad", "movie"} <= set(vectorizer.get_vocabulary())
    scores = model.predict(np.array(["good great nice", "bad awful sad"], dtype=object), verbose=0)
    assert scores.shape == (2, 1)


def test_the_split_holds_each_file_out_once(tmp_path):
    data = text_directory(str(write_texts(tmp_path / "reviews")))
    opened = open_stream(data, check_config({"batch_size": 5}), seed=0)
    train_texts = {t for xs, _ in opened.train.as_numpy_iterator() for t in xs}
    val = [(t, int(y)) for xs, ys in opened.val.as_numpy_iterator() for t, y in zip(xs, ys, strict=True)]
    assert len(train_texts) + len(val) == 48 and not train_texts & {t for t, _ in val}
    assert len({y for _, y in val}) == 2 and len(opened.vocabulary) > 10


def test_bad_text_folders_and_bodies_are_refused(tmp_path):
    reviews = write_texts(tmp_path / "reviews")
    (reviews / "pos" / "0.txt").write_bytes(b"\xff\xfe not utf-8 \xc3\x28")
    with pytest.raises(ConfigError, match=r"^data\.text_directory: .*pos/0\.txt is not UTF-8 text"):
        text_directory(str(reviews))
    (tmp_path / "empty" / "neg").mkdir(parents=True)
    (tmp_path / "empty" / "pos").mkdir()
    with pytest.raises(
        ConfigError, match=r"^data\.text_directory: the class folder .*neg holds no text files"
    ):
        text_directory(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"^data\.max_tokens: expected an int >= 3"):
        text_directory(str(reviews), max_tokens=1)
    data = text_directory(str(write_texts(tmp_path / "good")))
    with pytest.raises(
        ConfigError, match=r"layers\.0: texts reach the model as token ids .* starts with dense"
    ):
        check_text_body({"layers": [{"type": "dense", "units": 4}]}, data)


def test_the_vocabulary_size_and_sequence_length_sampled_for_a_trial_reach_its_vectorizer(tmp_path):
    data = text_directory(str(write_texts(tmp_path / "reviews")), max_tokens=50, sequence_length=12)
    config = {**CONFIG, "data_max_tokens": 6, "data_sequence_length": 4}
    outcome = train(config, data, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path / "t")
    model = keras.saving.load_model(outcome.checkpoint)
    vectorizer = next(layer for layer in model.layers if isinstance(layer, keras.layers.TextVectorization))
    assert len(vectorizer.get_vocabulary()) == 6  # the padding and unknown tokens, and the 4 most frequent words
    assert vectorizer(np.array(["good great nice fine bad sad"], dtype=object)).shape == (1, 4)
    embedding = next(layer for layer in model.layers if isinstance(layer, keras.layers.Embedding))
    assert embedding.input_dim == 6
    with pytest.raises(ConfigError, match=r"^data_sequence_length: expected an int >= 1, but got 0"):
        open_stream(data, check_config({"batch_size": 5}) | {"data_sequence_length": 0}, seed=0)
