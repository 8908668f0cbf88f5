"""A folder of text files, one subfolder per class, read by Keras inside each trial's worker.

The model takes raw strings: its first layer is a ``TextVectorization``
whose vocabulary each trial adapts on the first ``ADAPT_ROWS`` training texts
(the same texts in every trial), followed by the space's ``embedding``.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from search_spaces import ConfigError
from search_spaces._checks import check_int
from search_spaces._schema import PREPROCESSING
from trainers._data import TrainingData
from trainers._images import ClassFolders, FolderSource
from trainers._settings import body_layers, check_config
from trainers._stream import StreamingData, absolute

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["check_text_body", "text_directory"]

TEXT_EXTENSIONS = (".txt",)
_FIELD = "data.text_directory"


@dataclasses.dataclass(frozen=True)
class _TextFolder(FolderSource):
    key: ClassVar[str] = "text_directory"

    max_tokens: int
    sequence_length: int

    def _reader(self) -> Callable[..., tf.data.Dataset]:
        import keras

        return keras.utils.text_dataset_from_directory  # type: ignore[no-any-return]

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "max_tokens": self.max_tokens, "sequence_length": self.sequence_length}


def _first_text(path: str, field: str) -> str:
    import tensorflow as tf

    try:
        return bytes(tf.io.read_file(path).numpy()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}", field=field) from exc
    except tf.errors.OpError as exc:
        raise ConfigError(f"cannot read {path}: {exc.message.splitlines()[0]}", field=field) from exc


def text_directory(
    directory: str,
    *,
    max_tokens: int = 20_000,
    sequence_length: int = 200,
    validation_split: float = 0.2,
    validation_directory: str | None = None,
    seed: int = 0,
) -> StreamingData:
    """Training data from a folder of ``.txt`` files, one subfolder per class, read inside each trial.

    As ``keras.utils.text_dataset_from_directory`` reads it. The model's
    first layer is a ``TextVectorization`` (``max_tokens`` words, sequences
    of ``sequence_length`` token ids) adapted in each trial on its first
    training texts; the space's body must start with an ``embedding``. The
    saved models take raw strings. Here the folders are listed and the
    first file of each class read.

    Args:
        directory: The folder (a local path, or any URL ``tf.io.gfile`` reads).
        max_tokens: Vocabulary size, the out-of-vocabulary and padding
            tokens included. Defaults to `20_000`.
        sequence_length: Token ids per text (cut or padded). Defaults to `200`.
        validation_split: Fraction of the files held out for validation when
            no ``validation_directory`` is given. Defaults to `0.2`.
        validation_directory: A folder of validation texts with the same
            class subfolders. Defaults to `None`.
        seed: Seed of the split. Defaults to `0`.

    Raises:
        ConfigError: A missing or empty directory, a class folder without
            ``.txt`` files, a first file that is not UTF-8 (its path named),
            or class folders that differ between the two directories.
    """
    check_int(max_tokens, "data.max_tokens", low=3, plain=True)
    check_int(sequence_length, "data.sequence_length", low=1, plain=True)
    check_int(seed, "data.seed", plain=True)
    directory, validation_directory = absolute(directory), absolute(validation_directory)
    folders = ClassFolders.check(
        directory,
        validation_split,
        validation_directory,
        field=_FIELD,
        extensions=TEXT_EXTENSIONS,
        kind="text",
    )
    texts = [_first_text(files[0], _FIELD) for files in folders.train.values()]
    lineage = folders.lineage(directory)
    source = _TextFolder(
        directory, validation_split, validation_directory, seed, folders.classes, max_tokens, sequence_length
    )
    return StreamingData(
        source=source,
        task=folders.task,
        num_classes=len(folders.classes),
        input_shape=(sequence_length,),  # what the body gets: token ids
        name=posixpath.basename(directory.rstrip("/")) or "texts",
        example=np.array(texts[:5], dtype=object),
        classes=folders.classes,
        class_counts=folders.counts,
        train_rows=folders.train_rows,
        val_rows=folders.val_rows,
        tokens=(max_tokens, sequence_length),
        lineage=lineage,
        row_bytes=lineage.size_bytes // max(1, lineage.files) + 64,  # a text's bytes, and a string's overhead
    )


def check_text_body(config: Mapping[str, Any], data: TrainingData | StreamingData) -> None:
    """Texts become token ids in the model, which only an ``embedding`` takes: the body must start with one.

    Raises:
        ConfigError: The data are texts and the body starts with another layer.
    """
    if not isinstance(data, StreamingData) or data.tokens is None:
        return
    body = body_layers(check_config(config, task=data.task))
    if not body or body[0][1]["type"] != "embedding":
        field = body[0][0] if body else "space.layers"
        first = body[0][1]["type"] if body else "no layer"
        images = f" ({first} works on images only)" if first in PREPROCESSING else ""
        raise ConfigError(
            "texts reach the model as token ids (its TextVectorization layer), so the body must start "
            f"with an embedding, but it starts with {first}{images}.",
            field=field,
        )
