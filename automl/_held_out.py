"""Held-out rows for `TuningResult.evaluate`, encoded as the best model trained on them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from search_spaces import ConfigError
from trainers import Column, StreamingData

__all__ = ["evaluation_rows", "file_test_set"]

# The ``data:`` keys naming where a file-backed source is, in the run's record.
_PATH_KEYS = ("image_directory", "text_directory", "tfrecord", "parquet", "csv")


def evaluation_rows(
    x: Any, y: Any, *, columns: tuple[Column, ...] | None, classes: tuple[str, ...] | None
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as the model's feature matrix (a DataFrame encoded by ``columns``), ``y`` as class ids or values.

    Raises:
        ConfigError: ``x`` is a DataFrame but the run's data were not,
            ``y`` holds a class the run never saw, or the lengths differ.
    """
    if isinstance(x, pd.DataFrame):
        if columns is None:
            raise ConfigError("the run's data were arrays: pass the features as an array.", field="x")
        from trainers._tabular import encode

        x = encode(x, columns)
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if len(x) != len(y):
        raise ConfigError(f"x has {len(x)} rows but y has {len(y)} values.", field="y")
    if classes is not None and y.dtype.kind in "OUS":
        y = _class_ids(y, classes)
    return x, y


def _class_ids(y: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise ConfigError(
            f"y holds classes the run never saw: {unknown[:5]}; known: {list(classes)}.", field="y"
        )
    return np.array([index[str(v)] for v in y])


def file_test_set(
    test: str | StreamingData,
    *,
    spec: Mapping[str, Any] | None,
    columns: tuple[Column, ...] | None,
    classes: tuple[str, ...] | None,
) -> StreamingData:
    """A file-backed test set: ``test`` as given, or a path (directory, file or glob) declared as the run's data were.

    Only the first files are read here, as for training; a table's rows are
    encoded with the run's columns and classes, whatever the test files' own first rows hold.

    Raises:
        ConfigError: A path for a run whose data were not read from files, a
            path that does not check (see the sources), or a test set whose
            classes are not the run's.
    """
    if isinstance(test, str):
        key = next((k for k in _PATH_KEYS if spec and k in spec), None)
        if spec is None or key is None or (key == "csv" and not spec.get("stream")):
            raise ConfigError(
                f"a path reads a test set as the run's data were declared, but this run's data were not read "
                f"from files ({spec!r}); pass arrays, or a trainers.StreamingData.",
                field="x",
            )
        from automl.planning._experiment import DataSpec

        declared = {k: v for k, v in spec.items() if k != "validation_directory"}
        declared[key] = test
        if key == "tfrecord":
            declared["validation"] = test
        loaded = DataSpec(**declared).load()
        if not isinstance(loaded, StreamingData):  # the keys above all declare file-backed data
            raise ConfigError(f"{test} was read into memory; expected file-backed data.", field="x")
        test = loaded
    source = test.source
    if columns is not None and test.columns is not None:  # encoded as the run's rows were
        test = dataclasses.replace(test, source=dataclasses.replace(source, columns=columns, classes=classes))  # type: ignore[type-var]
    elif classes is not None and test.classes is not None and test.classes != classes:
        raise ConfigError(
            f"the test set's classes {list(test.classes)} are not the run's {list(classes)}.", field="x"
        )
    return test
