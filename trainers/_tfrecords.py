"""Sharded TFRecord files of ``tf.train.Example``s, parsed with a declared feature spec inside each trial."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from search_spaces import ConfigError
from search_spaces._checks import check_int
from trainers._data import Task
from trainers._stream import StreamingData, absolute, file_lineage, infer_task

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["tfrecords"]

# Declared dtype → the `tf.train.Feature` list that holds it.
_KINDS = {"float32": "float_list", "int64": "int64_list", "string": "bytes_list"}
# Validation records read in the driver to learn the classes (the first record is parsed strictly).
CHECK_RECORDS = 256
_FIELD = "data.tfrecord"


@dataclasses.dataclass(frozen=True)
class _Feature:
    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "shape": list(self.shape)}


@dataclasses.dataclass(frozen=True)
class _TFRecords:
    batched = False  # single rows (see `trainers._stream.Source`)

    pattern: str
    validation: str
    features: tuple[tuple[str, _Feature], ...]  # in the declared order; the label among them
    label: str
    seed: int
    declared: tuple[tuple[str, Any], ...] = ()  # task / num_classes as given, for the record

    def _parser(self) -> Any:
        import tensorflow as tf

        spec = {name: tf.io.FixedLenFeature(f.shape, getattr(tf, f.dtype)) for name, f in self.features}
        inputs = [name for name, _ in self.features if name != self.label]
        single = _as_shaped(self.features, self.label)

        def parse(record: Any) -> Any:
            parsed = tf.io.parse_single_example(record, spec)
            if single:
                x = tf.cast(parsed[inputs[0]], tf.float32)
            else:  # scalars and vectors side by side, in the declared order
                x = tf.concat([tf.reshape(tf.cast(parsed[n], tf.float32), [-1]) for n in inputs], 0)
            return x, parsed[self.label]

        return parse

    def _read(self, pattern: str, *, shuffle: bool) -> tf.data.Dataset:
        import tensorflow as tf

        files = tf.data.Dataset.list_files(pattern, shuffle=shuffle, seed=self.seed if shuffle else None)
        records = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=4,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=not shuffle,
        )
        return records.map(self._parser(), num_parallel_calls=tf.data.AUTOTUNE)

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        return self._read(self.pattern, shuffle=True), self._read(self.validation, shuffle=False)

    def rows(self) -> tf.data.Dataset:
        rows = self._read(self.pattern, shuffle=False)
        if self.validation != self.pattern:  # a test set may name its shards twice
            rows = rows.concatenate(self._read(self.validation, shuffle=False))
        return rows

    def spec(self) -> dict[str, Any]:
        return {
            "tfrecord": self.pattern,
            "features": {name: f.to_dict() for name, f in self.features},
            "label": self.label,
            "validation": self.validation,
            "seed": self.seed,
            **dict(self.declared),
        }


def _as_shaped(features: Sequence[tuple[str, _Feature]], label: str) -> bool:
    """Whether the input is one feature of rank >= 1, taken as it is shaped (else features side by side)."""
    inputs = [f for n, f in features if n != label]
    return len(inputs) == 1 and len(inputs[0].shape) >= 1


def _features(features: Any) -> tuple[tuple[str, _Feature], ...]:
    if not isinstance(features, Mapping) or not features:
        raise ConfigError(
            f"expected a mapping of feature name to {{dtype, shape}}, but got {features!r}.",
            field="data.features",
        )
    made = []
    for name, feature in features.items():
        field = f"data.features.{name}"
        if not isinstance(feature, Mapping) or set(feature) - {"dtype", "shape"} or "dtype" not in feature:
            raise ConfigError(
                f"expected {{dtype: float32|int64|string, shape: [...]}}, but got {feature!r}.", field=field
            )
        if feature["dtype"] not in _KINDS:
            raise ConfigError(
                f"unknown dtype {feature['dtype']!r}; accepted: {list(_KINDS)}.", field=f"{field}.dtype"
            )
        shape = feature.get("shape", [])
        if not isinstance(shape, (list, tuple)):
            raise ConfigError(
                f"expected a list of ints such as [28, 28], but got {shape!r}.", field=f"{field}.shape"
            )
        for i, size in enumerate(shape):
            check_int(size, f"{field}.shape.{i}", low=1, plain=True)
        made.append((str(name), _Feature(feature["dtype"], tuple(shape))))
    return tuple(made)


def _files(pattern: Any, field: str) -> list[str]:
    import tensorflow as tf

    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"expected a file or a glob, but got {pattern!r}.", field=field)
    found = sorted(tf.io.gfile.glob(pattern))
    if not found:
        raise ConfigError(f"no file matches {pattern}.", field=field)
    return found


def _check_first(path: str, features: Sequence[tuple[str, _Feature]], field: str) -> None:
    """Parses the first record of ``path`` feature by feature, naming the first that does not fit its declaration."""
    import tensorflow as tf

    try:
        raw = next(iter(tf.data.TFRecordDataset(path).take(1)), None)
    except tf.errors.OpError as exc:
        raise ConfigError(
            f"cannot read {path} as TFRecords: {exc.message.splitlines()[0]}", field=field
        ) from exc
    if raw is None:
        raise ConfigError(f"{path} holds no records.", field=field)
    try:
        example = tf.train.Example.FromString(raw.numpy())
    except Exception as exc:  # protobuf's DecodeError
        raise ConfigError(
            f"the first record of {path} is not a tf.train.Example: {exc}", field=field
        ) from exc
    found = example.features.feature
    for name, feature in features:
        where = f"data.features.{name}"
        if name not in found:
            raise ConfigError(
                f"the first record of {path} has no feature {name!r}; it has {sorted(found)}.", field=where
            )
        kind = found[name].WhichOneof("kind")
        if kind != _KINDS[feature.dtype]:
            actual = {v: k for k, v in _KINDS.items()}.get(str(kind), str(kind))
            raise ConfigError(
                f"declared {feature.dtype}, but the first record of {path} holds {actual} values.",
                field=f"{where}.dtype",
            )
        size = len(getattr(found[name], kind).value)
        if size != math.prod(feature.shape):
            raise ConfigError(
                f"declared shape {list(feature.shape)} ({math.prod(feature.shape)} values), but the first "
                f"record of {path} holds {size}.",
                field=f"{where}.shape",
            )


def tfrecords(
    pattern: str,
    *,
    features: Mapping[str, Mapping[str, Any]],
    label: str,
    validation: str,
    task: Task | None = None,
    num_classes: int | None = None,
    seed: int = 0,
) -> StreamingData:
    """Training data from sharded TFRecord files of ``tf.train.Example``s, read inside each trial's worker.

    Each record is parsed with the declared feature spec
    (``tf.io.FixedLenFeature``); the shards are interleaved, in a new order
    every trial. The features other than ``label`` are the model's input:
    one feature as it is shaped, or several scalars and vectors side by side
    (cast to float32, in the declared order). Here only the first record of
    the first shard of each set is parsed, and the labels of the first
    `CHECK_RECORDS` validation records read.

    Args:
        pattern: The training shards: a file or a glob (local, or any URL
            ``tf.io.gfile`` reads).
        features: Name → ``{"dtype": "float32" | "int64" | "string", "shape": [...]}``,
            the label included (``shape`` defaults to ``[]``, a scalar).
        label: The feature holding the target: a class id or a value.
        validation: The validation shards.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults to
            inferring it from the label (float values that are not whole → regression).
        num_classes: The number of classes. Defaults to the largest class id
            in the checked validation records, plus one.
        seed: Seed of the shards' order. Defaults to `0`.

    Raises:
        ConfigError: A glob matching nothing, a feature spec that is not
            ``{dtype, shape}``, a label that is not declared or not a scalar,
            a string input, or a first record that does not parse with the
            spec (naming the feature and what it holds).

    Example:
        >>> data = tfrecords("shards/train-*.tfrecord", features={"x": {"dtype": "float32", "shape": [8]},
        ...                  "y": {"dtype": "int64"}}, label="y", validation="shards/val-*.tfrecord")
    """
    pattern, validation = absolute(pattern), absolute(validation)
    declared = _features(features)
    spec = dict(declared)
    if label not in spec:
        raise ConfigError(f"{label!r} is not among the declared features {list(spec)}.", field="data.label")
    if spec[label].shape or spec[label].dtype == "string":
        raise ConfigError(
            f"the label must be a scalar number (class id or value), but is declared {spec[label].to_dict()}.",
            field="data.label",
        )
    inputs = [(n, f) for n, f in declared if n != label]
    if not inputs:
        raise ConfigError("declare at least one feature besides the label.", field="data.features")
    for name, feature in inputs:
        if feature.dtype == "string":
            raise ConfigError(
                "a string feature cannot be a model input here; encode it as numbers when writing the records.",
                field=f"data.features.{name}.dtype",
            )
    if len(inputs) > 1 and any(len(f.shape) > 1 for _, f in inputs):
        raise ConfigError(
            "several input features are put side by side, so each must be a scalar or a vector; "
            "declare one feature for images or sequences.",
            field="data.features",
        )
    check_int(seed, "data.seed", plain=True)
    if num_classes is not None:
        check_int(num_classes, "data.num_classes", low=2, plain=True)
    train_files = _files(pattern, _FIELD)
    val_files = _files(validation, "data.validation")
    _check_first(train_files[0], declared, _FIELD)
    _check_first(val_files[0], declared, "data.validation")
    given = tuple((k, v) for k, v in (("task", task), ("num_classes", num_classes)) if v is not None)
    source = _TFRecords(pattern, validation, declared, label, seed, given)
    xs, ys = [], []
    for x, y in source._read(validation, shuffle=False).take(CHECK_RECORDS).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    task, classes = infer_task(np.asarray(ys), task, num_classes)
    shape = (
        inputs[0][1].shape if _as_shaped(declared, label) else (sum(math.prod(f.shape) for _, f in inputs),)
    )
    return StreamingData(
        source=source,
        task=task,
        num_classes=classes,
        input_shape=tuple(shape),
        name=pattern.rsplit("/", 1)[-1],
        example=np.stack(xs[:5]).astype(np.float32),
        row_bytes=4 * math.prod(shape),
        lineage=file_lineage(pattern, {*train_files, *val_files}),
    )
