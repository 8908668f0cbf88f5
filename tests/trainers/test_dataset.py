"""A tf.data.Dataset as training data: read once into arrays, with clear errors for what cannot be."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from search_spaces import ConfigError
from trainers import FitSettings, from_arrays, from_dataset, train


def _arrays(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)


def test_the_batches_become_the_same_data_as_the_arrays():
    x, y = _arrays()
    data = from_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(32), seed=3)
    plain = from_arrays(x, y, seed=3)
    np.testing.assert_array_equal(data.x_train, plain.x_train)
    np.testing.assert_array_equal(data.y_val, plain.y_val)
    assert data.task == "binary" and data.name == "dataset"


def test_pipeline_steps_run_once_and_a_validation_dataset_is_used_as_is(tmp_path):
    x, y = _arrays()
    scaled = tf.data.Dataset.from_tensor_slices((x, y)).map(lambda a, b: (a * 2.0, b)).batch(50)
    validation = tf.data.Dataset.from_tensor_slices(_arrays(40, seed=1)).batch(16)
    data = from_dataset(scaled, validation_data=validation)
    np.testing.assert_allclose(data.x_train, 2 * x)
    assert len(data.x_val) == 40
    outcome = train(
        {"layers": [{"type": "dense", "units": 8}]},
        data,
        settings=FitSettings(epochs=2, monitor="val_accuracy", mode="max"),
        checkpoint_dir=tmp_path,
    )
    assert outcome.epochs_run == 2


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda x, y: [x, y], r"^data: expected a tf\.data\.Dataset, but got list"),
        (
            lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(8).repeat(),
            r"^data: the dataset is infinite \(it repeats\)",
        ),
        (
            lambda x, y: tf.data.Dataset.from_tensor_slices(({"a": x}, y)).batch(8),
            r"^data: expected batches of \(features, targets\), two tensors",
        ),
        (
            lambda x, y: tf.data.Dataset.from_tensor_slices((x[:, 0], y)),
            r"^data: expected batches .* but got single samples; add \.batch\(n\)",
        ),
        (
            lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(8).take(0),
            r"^data: the dataset is empty",
        ),
    ],
)
def test_what_cannot_be_read_is_refused_with_the_reason(make, match):
    with pytest.raises(ConfigError, match=match):
        from_dataset(make(*_arrays()))


def test_more_rows_than_max_rows_is_refused():
    with pytest.raises(ConfigError, match=r"^validation_data: the dataset holds more than max_rows=100 rows"):
        from_dataset(
            tf.data.Dataset.from_tensor_slices(_arrays(50)).batch(10),
            validation_data=tf.data.Dataset.from_tensor_slices(_arrays(150)).batch(10),
            max_rows=100,
        )
