"""CSV and Parquet tables larger than memory, read in chunks inside each trial's worker.

The driver reads the first `CHECK_ROWS` rows once: the columns, the
categorical vocabularies, the numeric columns' mean and variance and the
classes come from them, so every trial encodes the rows the same way. Each
trial then reads the files in chunks of `CHUNK_ROWS` rows with pandas (or
pyarrow for Parquet), encodes them as `trainers.from_frame` does (numeric
columns first, then vocabulary indices, 0 for unknown), and holds a seeded,
fixed fraction of the rows out for validation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from search_spaces import ConfigError
from search_spaces._checks import check_int, is_real
from search_spaces._suggest import did_you_mean
from trainers._data import Task
from trainers._stream import StreamingData, absolute, file_lineage, infer_task
from trainers._tabular import Column, _columns, _is_categorical, _matrix

if TYPE_CHECKING:
    import pandas as pd
    import tensorflow as tf

__all__ = ["table"]

# Rows the driver reads to learn the columns, vocabularies, statistics and classes.
CHECK_ROWS = 10_000
# Rows a worker reads and encodes at a time.
CHUNK_ROWS = 4096
Kind = Literal["csv", "parquet"]


def _files(pattern: Any, kind: Kind) -> list[str]:
    import tensorflow as tf

    if not isinstance(pattern, str) or not pattern:
        raise ConfigError(f"expected a file or a glob, but got {pattern!r}.", field=f"data.{kind}")
    found = sorted(tf.io.gfile.glob(pattern))
    if not found:
        raise ConfigError(f"no file matches {pattern}.", field=f"data.{kind}")
    return found


def _chunks(path: str, kind: Kind, rows: int) -> Iterator[pd.DataFrame]:
    """The file's rows, ``rows`` at a time."""
    import pandas as pd

    if kind == "csv":
        yield from pd.read_csv(path, chunksize=rows)
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=rows):
        yield batch.to_pandas()


def _first_rows(path: str, kind: Kind) -> pd.DataFrame:
    try:
        return next(_chunks(path, kind, CHECK_ROWS))
    except StopIteration:
        raise ConfigError(f"{path} holds no rows.", field=f"data.{kind}") from None
    except Exception as exc:  # pandas' and pyarrow's parser errors
        raise ConfigError(f"cannot read {path}: {type(exc).__name__}: {exc}", field=f"data.{kind}") from exc


@dataclasses.dataclass(frozen=True)
class _Table:
    batched = False  # single rows (see `trainers._stream.Source`)

    pattern: str
    kind: Kind
    target: str
    columns: tuple[Column, ...]
    classes: tuple[str, ...] | None
    validation_split: float
    seed: int
    task: Task
    declared: tuple[tuple[str, Any], ...] = ()  # categorical / task / num_classes as given

    def _encoded(self, validation: bool | None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The encoded chunks of the training rows, the validation rows, or (`None`) all rows."""
        import tensorflow as tf

        index = None if self.classes is None else {name: i for i, name in enumerate(self.classes)}
        for f, path in enumerate(sorted(tf.io.gfile.glob(self.pattern))):
            for c, chunk in enumerate(_chunks(path, self.kind, CHUNK_ROWS)):
                # The same rows are held out in every trial: a draw seeded by file and chunk.
                held = np.random.default_rng([self.seed, f, c]).random(len(chunk)) < self.validation_split
                keep = chunk if validation is None else chunk[held] if validation else chunk[~held]
                x = _matrix(keep, self.columns).astype(np.float32)
                y = keep[self.target]
                if index is None:
                    yield x, y.to_numpy(dtype=np.float32 if self.task == "regression" else np.int32)
                    continue
                unknown = sorted({str(v) for v in y} - set(index))
                if unknown:
                    raise ValueError(
                        f"{path} holds classes {unknown[:5]} that the first {CHECK_ROWS} rows did not; "
                        f"known: {list(self.classes or ())}."
                    )
                yield x, np.array([index[str(v)] for v in y], dtype=np.int32)

    def _rows(self, validation: bool | None) -> tf.data.Dataset:
        import tensorflow as tf

        width = len(self.columns)
        y_type = tf.float32 if self.task == "regression" else tf.int32
        signature = (tf.TensorSpec((None, width), tf.float32), tf.TensorSpec((None,), y_type))
        chunks = tf.data.Dataset.from_generator(lambda: self._encoded(validation), output_signature=signature)
        return chunks.unbatch()

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        return self._rows(False), self._rows(True)

    def rows(self) -> tf.data.Dataset:
        return self._rows(None)

    def spec(self) -> dict[str, Any]:
        return {
            self.kind: self.pattern,
            "target": self.target,
            "stream": True,
            "validation_split": self.validation_split,
            "seed": self.seed,
            **dict(self.declared),
        }


def table(
    pattern: str,
    *,
    target: str,
    kind: Kind = "csv",
    categorical: Sequence[str] | None = None,
    task: Task | None = None,
    num_classes: int | None = None,
    validation_split: float = 0.2,
    seed: int = 0,
) -> StreamingData:
    """Training data from CSV or Parquet files larger than memory, read in chunks inside each trial.

    Text, ``category`` and ``bool`` columns are categorical, as in
    `trainers.from_frame`; their vocabularies, the numeric columns'
    statistics and a text target's classes come from the first `CHECK_ROWS`
    rows of the first file, read here once (a category first seen later is
    "unknown"; a class first seen later fails the trial, naming it).

    Args:
        pattern: A file or a glob of files with the same columns.
        target: The target column.
        kind: ``"csv"`` or ``"parquet"``. Defaults to `"csv"`.
        categorical: Numeric columns to treat as categorical. Defaults to `None`.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``. Defaults
            to inferring it from the checked rows' target.
        num_classes: The classes of a numeric target. Defaults to the
            largest class id in the checked rows, plus one.
        validation_split: Fraction of the rows held out for validation, the
            same rows in every trial. Defaults to `0.2`.
        seed: Seed of the held-out draw. Defaults to `0`.

    Raises:
        ConfigError: A glob matching nothing, an unreadable first file, a
            target or categorical column absent from it, or a numeric column
            with missing values in the checked rows.
    """
    pattern = absolute(pattern)
    files = _files(pattern, kind)
    if not is_real(validation_split, plain=True) or not 0.0 < validation_split < 1.0:
        raise ConfigError(
            f"expected a fraction in (0, 1), but got {validation_split!r}.", field="data.validation_split"
        )
    check_int(seed, "data.seed", plain=True)
    frame = _first_rows(files[0], kind)
    for name, field in [(target, "data.target"), *((c, "data.categorical") for c in categorical or ())]:
        if name not in frame.columns:
            raise ConfigError(
                f"no column {name!r} in {files[0]}{did_you_mean(str(name), frame.columns)}; columns: "
                f"{list(frame.columns)}.",
                field=field,
            )
    features = frame.drop(columns=[target])
    chosen = set(categorical or ()) | {c for c in features.columns if _is_categorical(features[c])}
    columns = tuple(_columns(features, [c for c in features.columns if c in chosen]))
    y = frame[target]
    classes = None
    if _is_categorical(y):
        if task == "regression":
            raise ConfigError(
                f"a regression target must be numeric, but got dtype {y.dtype}.", field="data.target"
            )
        classes = tuple(sorted({str(v) for v in y.dropna()}))
        found_task, count = infer_task(np.arange(len(classes)), task, len(classes))
    else:
        found_task, count = infer_task(y.to_numpy(), task, num_classes)
    given = {
        "categorical": list(categorical) if categorical else None,
        "task": task,
        "num_classes": num_classes,
    }
    declared = tuple((k, v) for k, v in given.items() if v is not None)
    source = _Table(pattern, kind, target, columns, classes, validation_split, seed, found_task, declared)
    checked = _matrix(features, columns).astype(np.float32)
    variance = np.maximum(checked.var(axis=0), 1e-6)
    return StreamingData(
        source=source,
        task=found_task,
        num_classes=count,
        input_shape=(len(columns),),
        name=pattern.rsplit("/", 1)[-1].split(".")[0],
        example=checked[:5],
        classes=classes,
        columns=columns,
        moments=(checked.mean(axis=0), variance),
        row_bytes=4 * len(columns),
        lineage=file_lineage(pattern, files),
    )
