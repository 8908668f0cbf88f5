"""Held-out rows for `TuningResult.evaluate`, encoded as the best model trained on them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from search_spaces import ConfigError
from trainers import Column

__all__ = ["evaluation_rows"]


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
