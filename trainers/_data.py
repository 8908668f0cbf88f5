"""Training data: arrays split into train and validation, with the task known.

Data is plain numpy so that Ray can ship it through its object store once per
run (zero-copy for the workers on a node).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Literal

import numpy as np

from search_spaces import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from trainers._tabular import Column

__all__ = ["TrainingData", "Task", "from_arrays", "load_sklearn"]

Task = Literal["binary", "multiclass", "regression"]
_TASKS = ("binary", "multiclass", "regression")
_SKLEARN: dict[str, tuple[str, Task]] = {
    "digits": ("load_digits", "multiclass"),
    "iris": ("load_iris", "multiclass"),
    "wine": ("load_wine", "multiclass"),
    "breast_cancer": ("load_breast_cancer", "binary"),
    "diabetes": ("load_diabetes", "regression"),
}


@dataclasses.dataclass(frozen=True, eq=False)
class TrainingData:
    """Features and targets for training and validation.

    Build it with `from_arrays` or `load_sklearn`, which validate the arrays.

    Attributes:
        x_train: Training features, shape ``(n, *input_shape)``.
        y_train: Training targets: class ids (int) or values (float).
        x_val: Validation features.
        y_val: Validation targets.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        num_classes: Number of classes (1 for regression).
        name: A label for logs and MLflow. Defaults to `"arrays"`.
        columns: For data from a DataFrame (`trainers.from_frame`), its
            feature columns in the order of the matrix; categorical ones hold
            vocabulary indices. Defaults to `None`.
        classes: The class names of a text target, in class-id order.
            Defaults to `None`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    task: Task
    num_classes: int
    name: str = "arrays"
    columns: tuple[Column, ...] | None = None
    classes: tuple[str, ...] | None = None

    @property
    def categorical(self) -> bool:
        """Whether some feature columns are categorical (vocabulary indices)."""
        return any(c.categorical for c in self.columns or ())

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """The rows of ``frame`` as the feature matrix a model trained on these data takes.

        Only for data from a DataFrame (`trainers.from_frame`).

        Raises:
            ConfigError: These data did not come from a DataFrame, or
                ``frame`` lacks one of their columns.
        """
        from trainers._tabular import encode

        if self.columns is None:
            raise ConfigError(
                f"{self.name!r} did not come from a DataFrame; nothing to encode.", field="data"
            )
        return encode(frame, self.columns)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        return (
            f"TrainingData(name={self.name!r}, task={self.task!r}, train={len(self.x_train)}, "
            f"val={len(self.x_val)}, input_shape={self.input_shape})"
        )


def _infer_task(y: np.ndarray) -> Task:
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
        return "regression"
    return "binary" if len(np.unique(y)) == 2 else "multiclass"


def _check_arrays(x: np.ndarray, y: np.ndarray, field: str) -> None:
    if len(x) != len(y):
        raise ConfigError(
            f"features and targets must have the same length, but got {len(x)} rows of x and {len(y)} of y.",
            field=field,
        )
    if not np.issubdtype(x.dtype, np.number):
        raise ConfigError(f"features must be numeric, but got dtype {x.dtype}.", field=f"{field}.x")
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ConfigError(
            f"features must be finite, but got {int(bad.sum())} NaN/inf values (first in row {row}).",
            field=f"{field}.x",
        )


def split_rows(n: int, validation_split: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices for training and for validation, after a seeded shuffle."""
    if not 0.0 < validation_split < 1.0:
        raise ConfigError(
            f"expected a fraction in (0, 1), but got {validation_split!r}.", field="validation_split"
        )
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * validation_split)))
    return order[n_val:], order[:n_val]


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    *,
    validation_split: float = 0.2,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    task: Task | None = None,
    seed: int = 0,
    name: str = "arrays",
) -> TrainingData:
    """Validates arrays and splits off a validation set.

    Args:
        x: Features, shape ``(n, ...)``.
        y: Targets, shape ``(n,)``: class ids or real values.
        validation_split: Fraction held out for validation when
            ``validation_data`` is not given. Defaults to `0.2`.
        validation_data: An explicit ``(x_val, y_val)``. Defaults to `None`.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults to
            inferring it from ``y`` (whole numbers → classes).
        seed: Seed of the shuffle before the split. Defaults to `0`.
        name: A label for logs and MLflow. Defaults to `"arrays"`.

    Raises:
        ConfigError: Lengths differ, features hold NaN/inf, the target has a
            single class, or the task is unknown.

    Examples:
        >>> import numpy as np
        >>> data = from_arrays(np.random.rand(50, 4), np.arange(50) % 3)
        >>> data.task, data.num_classes
        ('multiclass', 3)
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_arrays(x, y, "data")
    if task is not None and task not in _TASKS:
        raise ConfigError(f"unknown task {task!r}; accepted: {list(_TASKS)}.", field="task")
    task = task or _infer_task(y)
    if validation_data is None:
        train, val = split_rows(len(x), validation_split, seed)
        x_train, y_train, x_val, y_val = x[train], y[train], x[val], y[val]
    else:
        x_val, y_val = (np.asarray(a) for a in validation_data)
        _check_arrays(x_val, y_val, "validation_data")
        x_train, y_train = x, y
    return _finish(x_train, y_train, x_val, y_val, task, name)


def _finish(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    task: Task,
    name: str,
) -> TrainingData:
    if task == "regression":
        cast: type[np.generic] = np.float32
        num_classes = 1
    else:
        classes = np.unique(y_train)
        if len(classes) < 2:
            raise ConfigError(
                f"a {task} task needs at least 2 classes, but the target has one: {classes.tolist()}.",
                field="data.y",
            )
        if not np.array_equal(classes, np.arange(len(classes))):
            raise ConfigError(
                f"class labels must be 0..{len(classes) - 1}, but got {classes[:10].tolist()}.",
                field="data.y",
            )
        cast = np.int32
        num_classes = len(classes)
    return TrainingData(
        x_train=np.ascontiguousarray(x_train, dtype=np.float32),
        y_train=np.ascontiguousarray(y_train, dtype=cast),
        x_val=np.ascontiguousarray(x_val, dtype=np.float32),
        y_val=np.ascontiguousarray(y_val, dtype=cast),
        task=task,
        num_classes=num_classes,
        name=name,
    )


def load_sklearn(name: str, *, validation_split: float = 0.2, seed: int = 0) -> TrainingData:
    """Loads a data set that ships inside scikit-learn (no download).

    Args:
        name: One of ``digits``, ``iris``, ``wine``, ``breast_cancer``, ``diabetes``.
        validation_split: Fraction held out for validation. Defaults to `0.2`.
        seed: Seed of the shuffle before the split. Defaults to `0`.

    Raises:
        ConfigError: The name is not one of the bundled data sets.

    Examples:
        >>> load_sklearn("digits").input_shape
        (64,)
    """
    if name not in _SKLEARN:
        raise ConfigError(f"unknown bundled data set {name!r}; accepted: {sorted(_SKLEARN)}.", field="data")
    import sklearn.datasets

    loader, task = _SKLEARN[name]
    bunch = getattr(sklearn.datasets, loader)()
    return from_arrays(
        bunch.data, bunch.target, validation_split=validation_split, task=task, seed=seed, name=name
    )
