"""A ``tf.data.Dataset`` as training data, read once into arrays.

Trials run in other processes (Ray workers), and a dataset is a TensorFlow
graph bound to the process that made it: it cannot be pickled and shipped.
So its batches are read once in the driver and the arrays go through Ray's
object store like any others; each trial's ``fit`` then batches and prefetches
them with its own sampled ``batch_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search_spaces import ConfigError
from trainers._data import Task, TrainingData, from_arrays

__all__ = ["from_dataset"]


def _read(dataset: Any, field: str, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    if not isinstance(dataset, tf.data.Dataset):
        raise ConfigError(f"expected a tf.data.Dataset, but got {type(dataset).__name__}.", field=field)
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ConfigError(
            "the dataset is infinite (it repeats); pass it without .repeat(): each trial's fit "
            "runs its own epochs.",
            field=field,
        )
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2 or not all(isinstance(s, tf.TensorSpec) for s in spec):
        raise ConfigError(
            f"expected batches of (features, targets), two tensors as model.fit takes them, but the "
            f"dataset yields {spec}.",
            field=field,
        )
    xs, ys, rows = [], [], 0
    for x, y in dataset.as_numpy_iterator():
        if np.ndim(x) == 0 or np.ndim(y) == 0:
            raise ConfigError(
                "expected batches (as model.fit takes a dataset), but got single samples; add .batch(n).",
                field=field,
            )
        xs.append(x)
        ys.append(y)
        rows += len(x)
        if rows > max_rows:
            raise ConfigError(
                f"the dataset holds more than max_rows={max_rows} rows; they are read into memory "
                "once, so raise max_rows if they fit.",
                field=field,
            )
    if not xs:
        raise ConfigError("the dataset is empty.", field=field)
    return np.concatenate(xs), np.concatenate(ys)


def from_dataset(
    dataset: Any,
    *,
    validation_data: Any = None,
    validation_split: float = 0.2,
    task: Task | None = None,
    seed: int = 0,
    name: str = "dataset",
    max_rows: int = 1_000_000,
) -> TrainingData:
    """Training data from a finite, batched ``tf.data.Dataset`` of ``(features, targets)``.

    The dataset is read once, here, into arrays (see the module's note on
    why): its map/filter steps run once, and each trial batches the arrays
    with its own ``batch_size``. Random augmentation in the pipeline is
    therefore frozen; put it in the model instead (Keras preprocessing layers).

    Args:
        dataset: Batches of ``(x, y)``, as ``model.fit`` takes a dataset.
        validation_data: A dataset of validation batches. Defaults to `None`
            (``validation_split`` of the rows are held out).
        validation_split: Fraction held out when ``validation_data`` is not
            given. Defaults to `0.2`.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults to
            inferring it from the targets.
        seed: Seed of the shuffle before the split. Defaults to `0`.
        name: A label for logs and MLflow. Defaults to `"dataset"`.
        max_rows: Refuse datasets with more rows, as they are read into
            memory. Defaults to `1_000_000`.

    Raises:
        ConfigError: Not a dataset, an infinite or empty one, elements that
            are not ``(x, y)`` batches, too many rows, or arrays that
            `from_arrays` refuses.

    Examples:
        >>> import numpy as np, tensorflow as tf
        >>> ds = tf.data.Dataset.from_tensor_slices((np.random.rand(100, 4), np.arange(100) % 2)).batch(32)
        >>> from_dataset(ds).input_shape
        (4,)
    """
    x, y = _read(dataset, "data", max_rows)
    validation = None if validation_data is None else _read(validation_data, "validation_data", max_rows)
    return from_arrays(
        x, y, validation_split=validation_split, validation_data=validation, task=task, seed=seed, name=name
    )
