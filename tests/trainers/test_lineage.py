"""What a file-backed source tells MLflow about itself: a digest of its listing, and every row for a test set."""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from tests.trainers.test_stream import write_images
from tests.trainers.test_tables import write_tables
from trainers import from_loader, image_directory, table, tfrecords
from trainers._stream import evaluation_batches, open_stream, with_validation_rows


def test_the_digest_follows_the_files_names_sizes_and_times_not_their_place(tmp_path):
    first = image_directory(str(write_images(tmp_path / "a")))
    again = image_directory(str(write_images(tmp_path / "a")))  # the same bytes, written again
    assert first.lineage.files == 36 and first.lineage.size_bytes == sum(
        f.stat().st_size for f in (tmp_path / "a").rglob("*.png")
    )
    os.utime(tmp_path / "a" / "cat" / "0.png", ns=(0, 0))
    touched = image_directory(str(tmp_path / "a"))
    assert touched.lineage.digest != again.lineage.digest  # a rewritten file
    (tmp_path / "a").rename(tmp_path / "b")
    moved = image_directory(str(tmp_path / "b"))
    assert moved.lineage.digest == touched.lineage.digest and moved.lineage.source == str(tmp_path / "b")
    (tmp_path / "b" / "owl" / "0.png").unlink()
    assert image_directory(str(tmp_path / "b")).lineage.digest != moved.lineage.digest
    assert first.lineage.digest != touched.lineage.digest
    by_url = image_directory(f"file://{tmp_path / 'b'}")  # a URL tf.io.gfile reads: stat'ed through it
    assert by_url.lineage.digest == image_directory(str(tmp_path / "b")).lineage.digest


def test_a_test_set_reads_every_row_once_in_batches(tmp_path):
    folder = image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    labels = np.concatenate([y for _, y in evaluation_batches(folder).as_numpy_iterator()])
    assert sorted(labels.tolist()) == [0] * 12 + [1] * 12 + [2] * 12  # training and validation files

    write_tables(tmp_path / "tables")
    rows = table(str(tmp_path / "tables" / "part-*.csv"), target="label")
    counted = sum(len(y) for _, y in evaluation_batches(rows).as_numpy_iterator())
    assert counted == sum(len(p.read_text().splitlines()) - 1 for p in (tmp_path / "tables").glob("part-*.csv"))


def test_tfrecords_named_twice_are_read_once(tmp_path):
    path = str(tmp_path / "test.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(10):
            feature = {
                "x": tf.train.Feature(float_list=tf.train.FloatList(value=[float(i), 1.0])),
                "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    features = {"x": {"dtype": "float32", "shape": [2]}, "y": {"dtype": "int64"}}
    data = tfrecords(path, features=features, label="y", validation=path)
    assert sum(len(y) for _, y in evaluation_batches(data).as_numpy_iterator()) == 10
    assert data.lineage.files == 1


def make_data(config):
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = (x[:, 0] > 20).astype(np.int64)
    batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(config["batch_size"])
    return batches, batches.take(1)


def test_a_loaders_digest_is_its_code_and_its_test_set_its_validation_batches():
    data = from_loader(make_data, {"batch_size": 4})
    assert data.lineage.source == "make_data" and data.lineage.files == 0
    assert sum(len(y) for _, y in evaluation_batches(data).as_numpy_iterator()) == 20  # one batch of TEST_BATCH rows


def test_a_retrains_pipeline_reads_the_training_rows_then_the_validation_rows(tmp_path):
    folder = image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    both = with_validation_rows(folder)
    assert both.train_rows == 36 and both.spec() == folder.spec()
    opened = open_stream(both, {"batch_size": 8}, seed=0)
    assert sum(len(y) for _, y in opened.train.as_numpy_iterator()) == 36
    assert sum(len(y) for _, y in opened.val.as_numpy_iterator()) == 7
