"""pandas DataFrames as training data: numeric and categorical columns.

Categorical columns are encoded in the driver as vocabulary indices (1..k,
0 for a value the training rows never held), so the data stays one float32
matrix that Ray ships once; the model one-hot encodes them itself (see
`trainers._model`), and `raw_input_model` puts a ``StringLookup`` per column in
front of a trained model so that the exported model takes raw rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from search_spaces import ConfigError
from search_spaces._suggest import did_you_mean
from trainers._data import Task, TrainingData, from_arrays, split_rows

if TYPE_CHECKING:
    import keras
    import pandas as pd

__all__ = ["Column", "from_frame", "raw_input_model"]

_UNKNOWN = 0  # the index of values outside a vocabulary (StringLookup's single OOV slot)


@dataclasses.dataclass(frozen=True)
class Column:
    """One feature column of a DataFrame, in the order of the feature matrix.

    Attributes:
        name: The column's name in the DataFrame.
        vocabulary: The categories seen in the training rows (as strings,
            sorted), for a categorical column; ``None`` for a numeric one.
    """

    name: str
    vocabulary: tuple[str, ...] | None = None

    @property
    def categorical(self) -> bool:
        return self.vocabulary is not None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "vocabulary": None if self.vocabulary is None else list(self.vocabulary)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Column:
        vocabulary = data.get("vocabulary")
        return cls(str(data["name"]), None if vocabulary is None else tuple(map(str, vocabulary)))


def _is_categorical(series: pd.Series) -> bool:
    import pandas as pd

    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _strings(series: pd.Series) -> np.ndarray:
    """Category values as strings; missing values stay None (they encode as unknown)."""
    values = series.astype(object).to_numpy()
    missing = series.isna().to_numpy()
    return np.array([None if m else str(v) for v, m in zip(values, missing, strict=True)], dtype=object)


def _check_columns(frame: pd.DataFrame, names: Sequence[str], field: str) -> None:
    for name in names:
        if name not in frame.columns:
            raise ConfigError(
                f"no column {name!r} in the DataFrame{did_you_mean(str(name), frame.columns)}; "
                f"columns: {list(frame.columns)}.",
                field=field,
            )


def _columns(features: pd.DataFrame, categorical: Sequence[str]) -> list[Column]:
    """Numeric columns first, then categorical ones, each with the vocabulary of these rows."""
    numeric = [Column(str(c)) for c in features.columns if c not in categorical]
    for column in numeric:
        values = features[column.name]
        if values.isna().any():
            row = int(np.argmax(values.isna().to_numpy()))
            raise ConfigError(
                f"numeric column {column.name!r} has {int(values.isna().sum())} missing values (first in "
                f"row {row}); fill them, or list the column under `categorical`.",
                field="data",
            )
    coded = []
    for name in categorical:
        seen = {v for v in _strings(features[name]) if v is not None}
        if not seen:
            raise ConfigError(
                f"categorical column {name!r} has no values in the training rows.", field="data"
            )
        coded.append(Column(str(name), tuple(sorted(seen))))
    return numeric + coded


def _matrix(features: pd.DataFrame, columns: Sequence[Column]) -> np.ndarray:
    parts = []
    for column in columns:
        if column.vocabulary is None:
            parts.append(features[column.name].to_numpy(dtype=np.float64))
            continue
        index = {value: i for i, value in enumerate(column.vocabulary, start=1)}
        parts.append(np.array([index.get(v, _UNKNOWN) for v in _strings(features[column.name])], float))
    return np.stack(parts, axis=1) if parts else np.empty((len(features), 0))


def encode(frame: pd.DataFrame, columns: Sequence[Column]) -> np.ndarray:
    """The feature matrix of ``frame``'s rows as a model trained on ``columns`` takes it.

    Raises:
        ConfigError: A column is missing from ``frame``.
    """
    _check_columns(frame, [c.name for c in columns], "data")
    return _matrix(frame, columns).astype(np.float32)


def _targets(y: pd.Series, task: Task | None) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Class ids for a text (or bool) target, with the class names; numbers pass through."""
    if y.isna().any():
        raise ConfigError(f"the target has {int(y.isna().sum())} missing values.", field="data.target")
    if not _is_categorical(y):
        return y.to_numpy(), None
    if task == "regression":
        raise ConfigError(
            f"a regression target must be numeric, but got dtype {y.dtype}.", field="data.target"
        )
    classes = tuple(sorted({str(v) for v in y}))
    return _class_ids(y, classes), classes


def _class_ids(y: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({str(v) for v in y} - set(index))
    if unknown:
        raise ConfigError(
            f"the validation target holds classes the training target does not: {unknown[:5]}; "
            f"known: {list(classes)}.",
            field="data.target",
        )
    return np.array([index[str(v)] for v in y])


def from_frame(
    frame: pd.DataFrame,
    target: str,
    *,
    categorical: Sequence[str] | None = None,
    validation_split: float = 0.2,
    validation_frame: pd.DataFrame | None = None,
    task: Task | None = None,
    seed: int = 0,
    name: str = "dataframe",
) -> TrainingData:
    """Training data from a DataFrame with numeric and categorical feature columns.

    Text, ``category`` and ``bool`` columns are categorical; list a numeric
    column under ``categorical`` to treat it as one too (e.g. a zip code).
    Categories come from the training rows; others (and missing values) share
    one "unknown" slot. A text target becomes class ids with its names in
    ``classes`` (sorted). The model one-hot encodes the categorical columns
    itself; `raw_input_model` makes a trained model take raw rows.

    Args:
        frame: The rows, features and target.
        target: The name of the target column.
        categorical: Numeric columns to treat as categorical. Defaults to `None`.
        validation_split: Fraction of rows held out for validation when no
            ``validation_frame`` is given. Defaults to `0.2`.
        validation_frame: Explicit validation rows, with the same columns.
            Defaults to `None`.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults to
            inferring it from the target.
        seed: Seed of the shuffle before the split. Defaults to `0`.
        name: A label for logs and MLflow. Defaults to `"dataframe"`.

    Raises:
        ConfigError: A named column is missing, a numeric column has missing
            values, or the target does not fit the task.

    Examples:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"size": [1.0, 2, 3, 4, 5], "color": list("rgbrg"), "y": [0, 1, 0, 1, 0]})
        >>> data = from_frame(frame, "y", validation_split=0.4)
        >>> [c.name for c in data.columns], data.columns[1].vocabulary
        (['size', 'color'], ('g', 'r'))
    """
    _check_columns(frame, [target], "target")
    _check_columns(frame, list(categorical or ()), "categorical")
    if validation_frame is None:
        train, val = split_rows(len(frame), validation_split, seed)
        frame, validation_frame = frame.iloc[train], frame.iloc[val]
    else:
        _check_columns(validation_frame, list(frame.columns), "validation_frame")
    features = frame.drop(columns=[target])
    chosen = set(categorical or ()) | {c for c in features.columns if _is_categorical(features[c])}
    columns = _columns(features, [c for c in features.columns if c in chosen])
    y, classes = _targets(frame[target], task)
    y_val = validation_frame[target] if classes is None else _class_ids(validation_frame[target], classes)
    validation = (_matrix(validation_frame, columns), np.asarray(y_val))
    data = from_arrays(_matrix(features, columns), y, validation_data=validation, task=task, name=name)
    return dataclasses.replace(data, columns=tuple(columns), classes=classes)


def raw_input_model(model: keras.Model, columns: Sequence[Column]) -> keras.Model:
    """Wraps a model trained on encoded rows so that it takes raw columns.

    The wrapper has one input per column, named after it: a float for a
    numeric column, a string for a categorical one (looked up in the
    column's vocabulary; anything else is "unknown"). Built from Keras
    layers only, so it saves and loads with ``safe_mode`` on. It is for
    inference: a copy of ``model``'s layers and weights, without its
    optimizer.
    """
    import keras

    inference = keras.models.clone_model(model)
    inference.set_weights(model.get_weights())

    inputs = {}
    parts = []
    for column in columns:
        if column.vocabulary is None:
            inputs[column.name] = keras.Input(shape=(1,), name=column.name, dtype="float32")
            parts.append(inputs[column.name])
            continue
        inputs[column.name] = keras.Input(shape=(1,), name=column.name, dtype="string")
        ids = keras.layers.StringLookup(vocabulary=list(column.vocabulary), num_oov_indices=1)(
            inputs[column.name]
        )
        parts.append(keras.ops.cast(ids, "float32"))
    features = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
    return keras.Model(inputs, inference(features), name=f"{model.name}_raw_rows")
