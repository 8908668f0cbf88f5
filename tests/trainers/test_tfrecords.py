"""TFRecord shards: the first record parsed with the declared spec in the driver, every record in `train`."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from search_spaces import ConfigError
from trainers import FitSettings, check_config, tfrecords, train
from trainers._stream import open_stream

FEATURES = {"pixels": {"dtype": "float32", "shape": [6]}, "digit": {"dtype": "int64"}}


def _example(pixels, digit, extra=None):
    feature = {
        "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=pixels)),
        "digit": tf.train.Feature(int64_list=tf.train.Int64List(value=[digit])),
        **(extra or {}),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_shards(root, prefix, *, shards=3, per_shard=40, seed=0, classes=3, make=None):
    """Seeded shards whose first pixel tells the class apart."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        with tf.io.TFRecordWriter(str(root / f"{prefix}-{s:02d}.tfrecord")) as writer:
            for _ in range(per_shard):
                digit = int(rng.integers(classes))
                pixels = rng.normal(size=6).astype(np.float32)
                pixels[0] += 6 * digit
                writer.write((make or _example)(pixels.tolist(), digit))
    return str(root / f"{prefix}-*.tfrecord")


def _data(tmp_path, **kwargs):
    train_glob = write_shards(tmp_path / "shards", "train")
    val_glob = write_shards(tmp_path / "shards", "val", shards=1, seed=1)
    return tfrecords(train_glob, features=FEATURES, label="digit", validation=val_glob, **kwargs)


def test_the_first_records_declare_the_task_and_the_spec_is_recorded(tmp_path):
    data = _data(tmp_path)
    assert (data.task, data.num_classes, data.input_shape) == ("multiclass", 3, (6,))
    assert data.example.shape == (5, 6) and data.class_counts is None
    assert data.spec() == {
        "tfrecord": str(tmp_path / "shards" / "train-*.tfrecord"),
        "features": {"pixels": {"dtype": "float32", "shape": [6]}, "digit": {"dtype": "int64", "shape": []}},
        "label": "digit",
        "validation": str(tmp_path / "shards" / "val-*.tfrecord"),
        "seed": 0,
    }
    assert _data(tmp_path, num_classes=5).spec()["num_classes"] == 5


def test_train_reads_every_shard_in_its_worker(tmp_path):
    data = _data(tmp_path)
    opened = open_stream(data, check_config({"batch_size": 32}), seed=0)
    assert sum(len(y) for _, y in opened.train.as_numpy_iterator()) == 120  # 3 shards interleaved
    assert opened.train_batches is None  # unknown without reading: one batch per call
    settings = FitSettings(epochs=6, monitor="val_accuracy", mode="max", patience=6, seed=0)
    config = {"layers": [{"type": "dense", "units": 16}], "learning_rate": 0.01, "batch_size": 8}
    outcome = train(config, data, settings=settings, checkpoint_dir=tmp_path / "t")
    assert outcome.epochs_run == 6 and max(outcome.history["val_accuracy"]) > 0.6  # chance: 1/3


def test_scalar_features_go_side_by_side(tmp_path):
    def make(pixels, digit):
        extra = {"age": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5]))}
        return _example(pixels, digit, extra)

    glob = write_shards(tmp_path, "all", shards=1, make=make)
    features = {**FEATURES, "age": {"dtype": "float32"}}
    data = tfrecords(glob, features=features, label="digit", validation=glob)
    assert data.input_shape == (7,)
    assert data.example[0, -1] == 1.5


@pytest.mark.parametrize(
    ("features", "label", "match"),
    [
        (
            {"pixels": {"dtype": "int64", "shape": [6]}, "digit": {"dtype": "int64"}},
            "digit",
            r"^data\.features\.pixels\.dtype: declared int64, but the first record of .*train-00\.tfrecord holds float32 values",
        ),
        (
            {"pixels": {"dtype": "float32", "shape": [2, 2]}, "digit": {"dtype": "int64"}},
            "digit",
            r"^data\.features\.pixels\.shape: declared shape \[2, 2\] \(4 values\), but the first record .* holds 6",
        ),
        (
            {**FEATURES, "colour": {"dtype": "float32"}},
            "digit",
            r"^data\.features\.colour: the first record of .* has no feature 'colour'; it has \['digit', 'pixels'\]",
        ),
        (
            FEATURES,
            "label",
            r"^data\.label: 'label' is not among the declared features \['pixels', 'digit'\]",
        ),
        (FEATURES, "pixels", r"^data\.label: the label must be a scalar number"),
        (
            {"pixels": {"dtype": "float64"}},
            "pixels",
            r"^data\.features\.pixels\.dtype: unknown dtype 'float64'",
        ),
        (
            {"digit": {"dtype": "int64"}},
            "digit",
            r"^data\.features: declare at least one feature besides the label",
        ),
    ],
)
def test_a_first_record_that_does_not_fit_the_spec_names_the_feature(features, label, match, tmp_path):
    glob = write_shards(tmp_path, "train", shards=1)
    with pytest.raises(ConfigError, match=match):
        tfrecords(glob, features=features, label=label, validation=glob)


def test_a_glob_matching_nothing_is_refused(tmp_path):
    glob = write_shards(tmp_path, "train", shards=1)
    with pytest.raises(ConfigError, match=r"^data\.tfrecord: no file matches .*nothing-\*"):
        tfrecords(str(tmp_path / "nothing-*"), features=FEATURES, label="digit", validation=glob)
    with pytest.raises(ConfigError, match=r"^data\.validation: no file matches"):
        tfrecords(glob, features=FEATURES, label="digit", validation=str(tmp_path / "val-*"))
    (tmp_path / "junk.tfrecord").write_bytes(b"not a record file at all")
    with pytest.raises(ConfigError, match=r"^data\.tfrecord: cannot read .*junk\.tfrecord as TFRecords"):
        tfrecords(str(tmp_path / "junk.tfrecord"), features=FEATURES, label="digit", validation=glob)
