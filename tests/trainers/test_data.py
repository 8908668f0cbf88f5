from __future__ import annotations

import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import from_arrays, load_sklearn


def test_load_sklearn_digits_splits_and_infers_the_task():
    data = load_sklearn("digits")
    assert data.task == "multiclass"
    assert data.num_classes == 10
    assert data.input_shape == (64,)
    assert len(data.x_train) + len(data.x_val) == 1797
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int32


@pytest.mark.parametrize(("name", "task"), [("breast_cancer", "binary"), ("diabetes", "regression")])
def test_bundled_tasks(name, task):
    assert load_sklearn(name).task == task


def test_split_is_seeded():
    a, b = load_sklearn("iris", seed=1), load_sklearn("iris", seed=1)
    np.testing.assert_array_equal(a.x_val, b.x_val)
    assert not np.array_equal(a.x_val, load_sklearn("iris", seed=2).x_val)


def test_explicit_validation_data():
    x, y = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    data = from_arrays(x, y, validation_data=(x[:5], y[:5]))
    assert len(data.x_train) == 40 and len(data.x_val) == 5
    assert data.task == "binary"


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "match"),
    [
        (
            np.zeros((10, 2)),
            np.zeros(9),
            {},
            r"^data: features and targets must have the same length, but got 10 rows of x and 9 of y",
        ),
        (
            np.array([[1.0, np.nan]] * 10),
            np.arange(10) % 2,
            {},
            r"^data\.x: features must be finite, but got 1[0]? NaN/inf values \(first in row 0\)",
        ),
        (
            np.ones((10, 2)),
            np.zeros(10, dtype=int),
            {"task": "multiclass"},
            r"^data\.y: a multiclass task needs at least 2 classes, but the target has one: \[0\]",
        ),
        (
            np.ones((10, 2)),
            np.arange(10) % 2,
            {"task": "ranking"},
            r"^task: unknown task 'ranking'; accepted: \['binary', 'multiclass', 'regression'\]",
        ),
        (
            np.ones((10, 2)),
            np.arange(10) % 2 + 5,
            {},
            r"^data\.y: class labels must be 0\.\.1, but got \[5, 6\]",
        ),
        (
            np.ones((10, 2)),
            np.arange(10) % 2,
            {"validation_split": 1.5},
            r"^validation_split: expected a fraction in \(0, 1\), but got 1\.5",
        ),
        (np.array([["a", "b"]] * 10), np.arange(10) % 2, {}, r"^data\.x: features must be numeric"),
    ],
)
def test_bad_data_is_rejected_with_the_field(x, y, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        from_arrays(x, y, **kwargs)


def test_unknown_bundled_data_set():
    with pytest.raises(
        ConfigError,
        match=r"^data: unknown bundled data set 'mnist'; accepted: \['breast_cancer', 'diabetes', 'digits', 'iris', 'wine'\]",
    ):
        load_sklearn("mnist")
