"""Data that lives in files: declared and checked in the driver, read as ``tf.data`` inside each trial.

A `StreamingData` is a small, picklable declaration: where the files are,
how to read them, and what the driver learned by reading the first few of
them (the task, the shape of a sample, the classes, a few example rows).
Ray ships the declaration, not the data; each trial's worker opens it
(`open_stream`) into training and validation pipelines batched with the
trial's ``batch_size``. Arrays in memory (`TrainingData`) keep their own,
faster path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import shutil
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from search_spaces import ConfigError
from trainers._data import Task
from trainers._tabular import Column

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = [
    "LOADER_PREFIX",
    "Lineage",
    "OpenedStream",
    "Source",
    "StreamingData",
    "fit_pipelines",
    "from_loader",
    "file_lineage",
    "loader_keys",
    "open_stream",
    "text_tokens",
    "with_validation_rows",
    "evaluation_batches",
]

# Rows read from the training pipeline for the input normalization's mean and variance.
MOMENT_ROWS = 2048
# Rows held in the shuffle buffer of a pipeline of single rows.
SHUFFLE_ROWS = 1024
# A pipeline whose decoded rows are estimated under this is cached in memory after its first epoch.
CACHE_BYTES = 256 * 2**20
# Batches of a loader's validation set read in the driver to learn the task and the classes.
CHECK_BATCHES = 8
# Training texts a text folder's vectorizer is adapted on, in each trial.
ADAPT_ROWS = 10_000
# Rows per batch when a file-backed test set is evaluated.
TEST_BATCH = 256
# Config keys with this prefix are a loader function's own hyperparameters: the trainer leaves them to it.
LOADER_PREFIX = "data_"


# Config keys that make a text folder's vectorizer a hyperparameter: its vocabulary size and sequence length.
TOKEN_KEYS = ("data_max_tokens", "data_sequence_length")


def absolute(path: Any) -> Any:
    """A local path or glob made absolute: trials read it from their own working directories.

    URLs (``gs://``, ``file://``, ...) and non-strings stay as they are (the checks name those).
    """
    if not isinstance(path, str) or not path or "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


def loader_keys(config: Mapping[str, Any], data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``config`` without the data's own keys, and those keys: a loader's (`LOADER_PREFIX`), a text
    folder's `TOKEN_KEYS`; as is for other data."""
    if not isinstance(data, StreamingData):
        return dict(config), {}
    if isinstance(data.source, _Loader):
        own = {k: v for k, v in config.items() if k.startswith(LOADER_PREFIX)}
    elif data.tokens is not None:
        own = {k: v for k, v in config.items() if k in TOKEN_KEYS}
    else:
        return dict(config), {}
    return {k: v for k, v in config.items() if k not in own}, own


def text_tokens(config: Mapping[str, Any], data: StreamingData) -> tuple[int, int]:
    """A text folder's ``(max_tokens, sequence_length)`` for a trial: the config's `TOKEN_KEYS`, else as declared.

    Raises:
        ConfigError: A value that is not an int (at least 3 tokens, 1 token id per text).
    """
    from search_spaces._checks import check_int

    declared = data.tokens or (0, 0)
    made = []
    for key, low, default in zip(TOKEN_KEYS, (3, 1), declared, strict=True):
        value = config.get(key, default)
        check_int(value, key, low=low)
        made.append(int(value))
    return made[0], made[1]


class Source(Protocol):
    """How one kind of file-backed data is read; picklable, opened only in the worker.

    ``batched`` sources (a loader function) return batches of ``(x, y)``;
    the others return single rows, which `open_stream` caches, shuffles and
    batches.
    """

    @property
    def batched(self) -> bool:
        """Whether `datasets` returns batches (a loader's) rather than single rows."""

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """The training and validation ``(x, y)`` datasets for a trial's config."""

    def rows(self) -> tf.data.Dataset:
        """Every row once, training and validation ones, in order (a loader's: its validation batches)."""

    def spec(self) -> dict[str, Any] | None:
        """The experiment file's ``data:`` mapping that declares this source, for the run's record."""


@dataclasses.dataclass(frozen=True)
class Lineage:
    """Where file-backed data is, and a digest of its files, as MLflow records a dataset input.

    Attributes:
        source: The directory, glob or URL the data is read from (a loader's
            ``'file.py:function'`` or name).
        digest: A hash of the files' names (relative to their common
            folder), sizes and modification times: it changes when a file
            is added, removed or rewritten, without any file being read. A
            loader's hashes its code.
        files: How many files (0 for a loader).
        size_bytes: Their total size.
    """

    source: str
    digest: str
    files: int = 0
    size_bytes: int = 0


def _common_folder(paths: list[str]) -> str:
    """The longest prefix of ``paths`` that ends with ``/``."""
    prefix = os.path.commonprefix(paths)
    return prefix[: prefix.rfind("/") + 1]


def file_lineage(source: str, paths: Iterable[str]) -> Lineage:
    """``paths``' `Lineage`, from their listing and metadata only (one ``stat`` each; no file is read)."""
    import tensorflow as tf

    listed = sorted(paths)
    root = _common_folder(listed)
    digest = hashlib.sha256()
    total = 0
    for path in listed:
        # Modification times in whole seconds, as tf.io.gfile gives them: a path and its file:// URL agree.
        if "://" in path:  # a URL tf.io.gfile reads
            info = tf.io.gfile.stat(path)
            size, mtime = int(info.length), int(info.mtime_nsec) // 10**9
        else:
            stat = os.stat(path)
            size, mtime = stat.st_size, int(stat.st_mtime)
        total += size
        digest.update(f"{path[len(root):]}\0{size}\0{mtime}\n".encode())
    return Lineage(source, digest.hexdigest()[:16], len(listed), total)


def _code_lineage(function: Callable[..., Any], ref: str | None) -> Lineage:
    """A loader's `Lineage`: its reference (or name) and a hash of its code."""
    name = str(ref or getattr(function, "__qualname__", repr(function)))
    try:
        code = inspect.getsource(function)
    except (OSError, TypeError):  # defined in a REPL, or a callable object
        code = name
    return Lineage(name, hashlib.sha256(code.encode()).hexdigest()[:16])


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class StreamingData:
    """File-backed training data: a declaration read as ``tf.data`` pipelines inside each trial's worker.

    Made by `trainers.image_directory`, `trainers.tfrecords` or
    `trainers.from_loader`, which check the first few files in the driver;
    the rest is read only by the trials. Each trial shuffles the training
    rows in a bounded buffer, batches them with its ``batch_size``,
    prefetches, and caches decoded rows in memory when they fit.

    Attributes:
        source: How the files are read (opened in the worker).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        num_classes: Number of classes (1 for regression).
        input_shape: The shape of one sample.
        name: A label for logs and MLflow.
        example: A few samples read by the check (the model's signature in MLflow).
        classes: The class names, in class-id order. Defaults to `None`.
        class_counts: Training rows per class, when the listing tells. Defaults to `None`.
        train_rows: Training rows, when known without reading them. Defaults to `None`.
        val_rows: Validation rows, likewise. Defaults to `None`.
        row_bytes: Bytes of one decoded sample, for the caching decision. Defaults to `None`.
        columns: A table's feature columns, as `TrainingData.columns`. Defaults to `None`.
        moments: The features' mean and variance computed in the driver (a
            table's, from its checked rows), which every trial then uses.
            Defaults to `None` (each trial computes them on its first rows).
        tokens: ``(max_tokens, sequence_length)`` of texts the model
            vectorizes itself (a text folder's). Defaults to `None`.
        lineage: Where the files are and their digest, for MLflow's
            dataset inputs. Defaults to `None`.
    """

    source: Source
    task: Task
    num_classes: int
    input_shape: tuple[int, ...]
    name: str
    example: np.ndarray
    classes: tuple[str, ...] | None = None
    class_counts: tuple[int, ...] | None = None
    train_rows: int | None = None
    val_rows: int | None = None
    row_bytes: int | None = None
    columns: tuple[Column, ...] | None = None
    moments: tuple[np.ndarray, np.ndarray] | None = None
    tokens: tuple[int, int] | None = None
    lineage: Lineage | None = None

    @property
    def categorical(self) -> bool:
        """Whether some feature columns are categorical (a table's vocabulary indices)."""
        return any(c.categorical for c in self.columns or ())

    def spec(self) -> dict[str, Any] | None:
        """The experiment file's ``data:`` mapping for this source (`None` for a Python function)."""
        return self.source.spec()

    def __repr__(self) -> str:
        return (
            f"StreamingData(name={self.name!r}, task={self.task!r}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes})"
        )


@dataclasses.dataclass(frozen=True, eq=False, kw_only=True)
class OpenedStream(StreamingData):
    """A `StreamingData` opened in a worker: its pipelines for one trial, and the input statistics.

    Attributes:
        train: Training batches ``(x, y)``, shuffled, prefetched.
        val: Validation batches, in order.
        mean: Per-channel mean of the first `MOMENT_ROWS` training rows.
        variance: Their variance.
        train_batches: Batches per epoch, when TensorFlow knows it.
        vocabulary: For texts, the vectorizer's vocabulary adapted on the
            first training texts.
    """

    train: Any = None
    val: Any = None
    mean: np.ndarray | None = None
    variance: np.ndarray | None = None
    train_batches: int | None = None
    vocabulary: list[str] | None = None


def _cache(
    rows: tf.data.Dataset, data: StreamingData, count: int | None, file: str | None
) -> tf.data.Dataset:
    """``rows`` cached after their first full pass: in memory when their decoded size fits in
    `CACHE_BYTES`, else in ``file`` when one is given and the disk holds twice their size.

    A cache file that a full pass completed is read by later pipelines of the same rows (a
    later trial in the same worker); a pass left unfinished (a trial stopped mid-epoch)
    leaves no file behind.
    """
    if count is None or data.row_bytes is None:
        return rows
    size = count * data.row_bytes
    if size <= CACHE_BYTES:
        return rows.cache()
    if file is None or shutil.disk_usage(os.path.dirname(file)).free < 2 * size:
        return rows
    return rows.cache(file)


def _cache_file(data: StreamingData, cache_dir: str | None, part: str) -> str | None:
    """Where ``part`` (``train``/``val``) of ``data`` is cached in ``cache_dir``: named by its
    declaration and its files' digest, so other data, or changed files, never read it."""
    if cache_dir is None or data.lineage is None:
        return None
    what = (type(data.source).__name__, data.spec(), data.lineage.digest, part)  # a retrain's rows are others
    key = hashlib.sha256(repr(what).encode()).hexdigest()[:16]
    return os.path.join(cache_dir, f"{part}-{key}")


def _moments(rows: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per last axis over the first `MOMENT_ROWS` training rows (a bounded pass)."""
    xs = np.stack([np.asarray(x, dtype=np.float32) for x, _ in rows.take(MOMENT_ROWS).as_numpy_iterator()])
    axes = tuple(range(xs.ndim - 1))
    return xs.mean(axis=axes), np.maximum(xs.var(axis=axes), 1e-6)


def fit_pipelines(data: OpenedStream, *, one_hot: bool) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The opened pipelines with targets as the compiled loss takes them (one-hot rows or as read), prefetched."""
    import tensorflow as tf

    def targets(x: Any, y: Any) -> Any:
        return x, tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), data.num_classes)

    train, val = data.train, data.val
    if one_hot:
        train = train.map(targets, num_parallel_calls=tf.data.AUTOTUNE)
        val = val.map(targets, num_parallel_calls=tf.data.AUTOTUNE)
    return train.prefetch(tf.data.AUTOTUNE), val.prefetch(tf.data.AUTOTUNE)


def _vocabulary(rows: tf.data.Dataset, max_tokens: int, sequence_length: int) -> list[str]:
    """A ``TextVectorization``'s vocabulary, adapted on the first `ADAPT_ROWS` texts (the same in every trial)."""
    import keras

    layer = keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=sequence_length)
    layer.adapt(rows.map(lambda x, y: x).take(ADAPT_ROWS).batch(256))
    return [str(token) for token in layer.get_vocabulary()]


def open_stream(
    data: StreamingData, config: Mapping[str, Any], *, seed: int | None, cache_dir: str | None = None
) -> OpenedStream:
    """Builds one trial's pipelines, inside its worker.

    Rows are cached (in memory when they fit in `CACHE_BYTES`, else in a
    file of ``cache_dir`` when given: see `_cache`), shuffled in a buffer
    of `SHUFFLE_ROWS` (reshuffled each epoch), batched with the config's
    ``batch_size``; a loader's batches are taken as it returns them. See
    `fit_pipelines` for the targets and the prefetch.

    Raises:
        ConfigError: The loader function fails or returns something else than two datasets.
    """
    batch_size = int(config["batch_size"])
    mean = variance = vocabulary = None
    if data.source.batched:
        train, val = data.source.datasets(config)
        mean, variance = _moments(train.unbatch())
    else:
        rows_train, rows_val = data.source.datasets(config)
        if data.tokens is not None:  # texts: the model vectorizes them, with this vocabulary
            tokens = text_tokens(config, data)
            data = dataclasses.replace(data, tokens=tokens, input_shape=(tokens[1],))
            vocabulary = _vocabulary(rows_train, *tokens)
        else:  # before the cache, which a partial pass would discard
            mean, variance = data.moments if data.moments is not None else _moments(rows_train)
        train = _cache(rows_train, data, data.train_rows, _cache_file(data, cache_dir, "train"))
        train = train.shuffle(SHUFFLE_ROWS, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
        val = _cache(rows_val, data, data.val_rows, _cache_file(data, cache_dir, "val")).batch(batch_size)
    cardinality = int(train.cardinality())
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(StreamingData)}
    return OpenedStream(
        **fields,
        train=train,
        val=val,
        mean=mean,
        variance=variance,
        train_batches=cardinality if cardinality > 0 else None,
        vocabulary=vocabulary,
    )


def evaluation_batches(data: StreamingData) -> tf.data.Dataset:
    """Every row of ``data`` once, in batches of `TEST_BATCH`, as a file-backed test set is evaluated.

    A folder's, table's or TFRecords' training and validation rows
    together; a loader's validation batches (``val_ds``), as it returns them.
    """
    import tensorflow as tf

    rows = data.source.rows()
    batches = rows if data.source.batched else rows.batch(TEST_BATCH)
    return batches.prefetch(tf.data.AUTOTUNE)


@dataclasses.dataclass(frozen=True)
class _WithValidationRows:
    """A source whose training pipeline also reads its validation rows (a retrain on both)."""

    source: Source
    batched: bool

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        train, val = self.source.datasets(config)
        return train.concatenate(val), val

    def rows(self) -> tf.data.Dataset:
        return self.source.rows()

    def spec(self) -> dict[str, Any] | None:
        return self.source.spec()


def with_validation_rows(data: StreamingData) -> StreamingData:
    """``data`` whose training pipeline reads its validation rows after its training rows (a retrain on both).

    The validation pipeline stays as it is (Keras needs one); the rows are
    cached, shuffled and batched as for a trial.
    """
    rows = None if data.train_rows is None or data.val_rows is None else data.train_rows + data.val_rows
    return dataclasses.replace(data, source=_WithValidationRows(data.source, data.source.batched), train_rows=rows)


# A user's loader function ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Loader:
    function: Callable[[dict[str, Any]], Any]
    ref: str | None  # "file.py:function" when the experiment file named it

    batched = True

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        return call_loader(self.function, config, field="data.function")

    def rows(self) -> tf.data.Dataset:
        return self.datasets({"batch_size": TEST_BATCH})[1]

    def spec(self) -> dict[str, Any] | None:
        return None if self.ref is None else {"function": self.ref}


def _describe(value: Any) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} ({', '.join(type(v).__name__ for v in value)})"
    return type(value).__name__


def call_loader(
    function: Callable[[dict[str, Any]], Any], config: Mapping[str, Any], *, field: str
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Calls the user's ``function(config)`` and checks it returned ``(train_ds, val_ds)`` of ``(x, y)`` batches.

    Raises:
        ConfigError: The function raised, or returned something else (said what).
    """
    import tensorflow as tf

    name = getattr(function, "__qualname__", repr(function))
    try:
        made = function(dict(config))
    except ConfigError:
        raise
    except Exception as exc:  # the user's function raised
        raise ConfigError(f"{name}(config) raised {type(exc).__name__}: {exc}", field=field) from exc
    if not (isinstance(made, tuple) and len(made) == 2 and all(isinstance(d, tf.data.Dataset) for d in made)):
        raise ConfigError(
            f"{name}(config) must return (train_ds, val_ds), two tf.data.Datasets, but returned "
            f"{_describe(made)}.",
            field=field,
        )
    for which, dataset in zip(("train_ds", "val_ds"), made, strict=True):
        spec = dataset.element_spec
        if not (
            isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(s, tf.TensorSpec) for s in spec)
        ):
            raise ConfigError(
                f"{name}(config) returned a {which} whose elements are {spec}; expected batches of "
                "(x, y), two tensors, as model.fit takes them.",
                field=field,
            )
        if spec[0].shape.rank is not None and spec[0].shape.rank < 2:
            raise ConfigError(
                f"{name}(config) returned a {which} of single samples (x has shape {spec[0].shape}); "
                "batch it with .batch(config['batch_size']).",
                field=field,
            )
    return made[0], made[1]


def _first_batches(dataset: tf.data.Dataset, field: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in dataset.take(CHECK_BATCHES).as_numpy_iterator():
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    if not xs:
        raise ConfigError(f"{name}(config) returned an empty validation dataset.", field=field)
    return np.concatenate(xs), np.concatenate(ys).reshape(-1)


def infer_task(y: np.ndarray, task: Task | None, num_classes: int | None) -> tuple[Task, int]:
    """The task and the number of classes: given, else read from targets (whole numbers → classes)."""
    if task is None:
        if np.issubdtype(y.dtype, np.floating) and not np.all(np.mod(y, 1) == 0):
            task = "regression"
        else:
            task = "binary" if (num_classes or int(y.max()) + 1) == 2 else "multiclass"
    if task == "regression":
        return task, 1
    return task, num_classes or max(2, int(y.max()) + 1)


def from_loader(
    function: Callable[[dict[str, Any]], Any],
    config: Mapping[str, Any],
    *,
    task: Task | None = None,
    num_classes: int | None = None,
    ref: str | None = None,
) -> StreamingData:
    """Training data from the user's ``function(config) -> (train_ds, val_ds)``, called in each trial's worker.

    The function gets the trial's config (its ``batch_size``, and the
    space's keys that start with ``data_``, which the trainer leaves to the
    loader: ``data_noise``, ``data_crop``, ...) and returns two ``tf.data.Dataset``s of
    ``(x, y)`` batches, targets as class ids or values. It is called once
    here, with ``config``, and the first batches of its validation set are
    read to learn the sample shape, the task and the classes.

    Args:
        function: The loader.
        config: A config to call it with for the check (a variant of the space).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults to
            inferring it from the first validation batches.
        num_classes: The number of classes. Defaults to the largest class id
            in the first validation batches, plus one: give it when those
            batches may not hold every class.
        ref: ``"file.py:function"``, when the function was named so (it is
            recorded for resume). Defaults to `None`.

    Raises:
        ConfigError: The function is not callable, raises, returns something
            else than two datasets of ``(x, y)`` batches, or an empty one.
    """
    field = "data.function" if ref is not None else "data"
    if not callable(function):
        raise ConfigError(
            f"expected a function config -> (train_ds, val_ds), but got {function!r}.", field=field
        )
    name = getattr(function, "__qualname__", repr(function))
    _, val = call_loader(function, config, field=field)
    x, y = _first_batches(val, field, name)
    task, num_classes = infer_task(y, task, num_classes)
    return StreamingData(
        source=_Loader(function, ref),
        task=task,
        num_classes=num_classes,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        name=getattr(function, "__name__", "loader"),
        example=x[:5].astype(np.float32),
        lineage=_code_lineage(function, ref),
    )
