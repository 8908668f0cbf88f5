"""A folder of images, one subfolder per class, read by Keras inside each trial's worker."""

from __future__ import annotations

import abc
import dataclasses
import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from search_spaces import ConfigError
from search_spaces._checks import check_int, is_real
from trainers._data import Task
from trainers._stream import Lineage, StreamingData, absolute, file_lineage

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["image_directory"]

ColorMode = Literal["grayscale", "rgb", "rgba"]
_CHANNELS: dict[str, int] = {"grayscale": 1, "rgb": 3, "rgba": 4}
_MODES: dict[int, ColorMode] = {1: "grayscale", 3: "rgb", 4: "rgba"}
# What `keras.utils.image_dataset_from_directory` reads.
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
# Classes whose first file the driver decodes; the rest of the files are only listed.
CHECKED_CLASSES = 32
_FIELD = "data.image_directory"


@dataclasses.dataclass(frozen=True)
class FolderSource(abc.ABC):
    """Class subfolders of files, read by one of Keras's ``*_dataset_from_directory`` in the worker.

    Subclasses name the reader (`_reader`), its own arguments (`_options`)
    and the experiment file's key of the directory (``key``).
    """

    batched = False  # single rows (see `trainers._stream.Source`)
    key: ClassVar[str]

    directory: str
    validation_split: float
    validation_directory: str | None
    seed: int
    classes: tuple[str, ...]

    @abc.abstractmethod
    def _reader(self) -> Callable[..., tf.data.Dataset]:
        """The Keras function that reads such folders."""

    def _options(self) -> dict[str, Any]:
        return {}

    def _read(self, directory: str, subset: str | None) -> tf.data.Dataset:
        return self._reader()(
            directory,
            labels="inferred",
            label_mode="int",
            class_names=list(self.classes),
            batch_size=None,  # rows: the trial batches them with its batch_size
            # Keras splits the file list after its seeded shuffle: both subsets shuffle alike, or they overlap.
            shuffle=directory == self.directory,
            seed=self.seed,
            validation_split=None if subset is None else self.validation_split,
            subset=subset,
            verbose=False,
            **self._options(),
        )

    def datasets(self, config: Mapping[str, Any]) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        if self.validation_directory is not None:
            return self._read(self.directory, None), self._read(self.validation_directory, None)
        # The run's seed, not the trial's: every trial holds out the same files.
        return self._read(self.directory, "training"), self._read(self.directory, "validation")

    def rows(self) -> tf.data.Dataset:
        rows = self._read(self.directory, None)
        if self.validation_directory is not None:
            rows = rows.concatenate(self._read(self.validation_directory, None))
        return rows

    def spec(self) -> dict[str, Any]:
        held_out: dict[str, Any] = (
            {"validation_directory": self.validation_directory}
            if self.validation_directory is not None
            else {"validation_split": self.validation_split}
        )
        options = {k: list(v) if isinstance(v, tuple) else v for k, v in self._options().items()}
        return {self.key: self.directory, **options, **held_out, "seed": self.seed}


@dataclasses.dataclass(frozen=True)
class _ImageFolder(FolderSource):
    key: ClassVar[str] = "image_directory"

    image_size: tuple[int, int]
    color_mode: ColorMode

    def _reader(self) -> Callable[..., tf.data.Dataset]:
        import keras

        return keras.utils.image_dataset_from_directory  # type: ignore[no-any-return]

    def _options(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "color_mode": self.color_mode}


def listing(
    directory: str, field: str, extensions: tuple[str, ...] = IMAGE_EXTENSIONS, kind: str = "image"
) -> dict[str, list[str]]:
    """Class name → its files of ``extensions`` (sorted, recursively), as Keras will find them.

    Raises:
        ConfigError: A missing directory, no class folders, a class folder
            without such files, or fewer than two classes.
    """
    import tensorflow as tf

    if not tf.io.gfile.isdir(directory):
        raise ConfigError(f"no directory {directory}.", field=field)
    classes = sorted(
        name.rstrip("/")
        for name in tf.io.gfile.listdir(directory)
        if tf.io.gfile.isdir(posixpath.join(directory, name))
    )
    if not classes:
        raise ConfigError(
            f"{directory} holds no class folders; expected one subfolder of images per class.", field=field
        )
    files: dict[str, list[str]] = {}
    for name in classes:
        found = []
        for root, _, leaves in tf.io.gfile.walk(posixpath.join(directory, name)):
            found += [posixpath.join(root, f) for f in leaves if f.lower().endswith(extensions)]
        if not found:
            raise ConfigError(
                f"the class folder {posixpath.join(directory, name)} holds no {kind} files "
                f"({', '.join(extensions)}).",
                field=field,
            )
        files[name] = sorted(found)
    if len(files) < 2:
        raise ConfigError(
            f"{directory} holds one class folder ({list(files)}); a classifier needs at least 2.", field=field
        )
    return files


@dataclasses.dataclass(frozen=True)
class ClassFolders:
    """A folder of class subfolders as the driver checks it: files listed, none read."""

    train: dict[str, list[str]]
    validation: dict[str, list[str]] | None  # a validation folder's, else None (a split)
    train_rows: int
    val_rows: int

    @classmethod
    def check(
        cls,
        directory: Any,
        validation_split: Any,
        validation_directory: str | None,
        *,
        field: str,
        extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
        kind: str = "image",
    ) -> ClassFolders:
        """Lists ``directory`` (and ``validation_directory``) and counts the rows each side gets.

        Raises:
            ConfigError: See `listing`; also a split outside (0, 1), or a
                validation folder with other class folders.
        """
        if not isinstance(directory, str) or not directory:
            raise ConfigError(f"expected a directory, but got {directory!r}.", field=field)
        train = listing(directory, field, extensions, kind)
        total = sum(len(files) for files in train.values())
        if validation_directory is not None:
            held = listing(validation_directory, "data.validation_directory", extensions, kind)
            if list(held) != list(train):
                raise ConfigError(
                    f"the class folders of {validation_directory} ({list(held)}) must be those of "
                    f"{directory} ({list(train)}).",
                    field="data.validation_directory",
                )
            return cls(train, held, total, sum(len(files) for files in held.values()))
        if not is_real(validation_split, plain=True) or not 0.0 < validation_split < 1.0:
            raise ConfigError(
                f"expected a fraction in (0, 1), but got {validation_split!r}.", field="data.validation_split"
            )
        val = int(validation_split * total)  # as Keras splits the listed files
        return cls(train, None, total - val, val)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.train)

    def lineage(self, directory: str) -> Lineage:
        """The listed files' `Lineage` (validation folder's included)."""
        listed = [f for files in (*self.train.values(), *(self.validation or {}).values()) for f in files]
        return file_lineage(directory, listed)

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(len(files) for files in self.train.values())

    @property
    def task(self) -> Task:
        return "binary" if len(self.train) == 2 else "multiclass"


def _decode(path: str, field: str) -> np.ndarray:
    import tensorflow as tf

    try:
        return np.asarray(tf.io.decode_image(tf.io.read_file(path), expand_animations=False))
    except (tf.errors.OpError, ValueError) as exc:
        message = getattr(exc, "message", str(exc)).splitlines()[0]
        raise ConfigError(f"cannot decode the image {path}: {message}", field=field) from exc


def _first_images(listing: Mapping[str, list[str]], field: str) -> list[tuple[str, np.ndarray]]:
    """The first file of each class (up to `CHECKED_CLASSES`), decoded."""
    return [(files[0], _decode(files[0], field)) for files in list(listing.values())[:CHECKED_CLASSES]]


def _color_mode(images: Sequence[tuple[str, np.ndarray]], color_mode: str | None) -> ColorMode:
    if color_mode is not None:
        if color_mode not in _CHANNELS:
            raise ConfigError(
                f"unknown color_mode {color_mode!r}; accepted: {list(_CHANNELS)}.", field="data.color_mode"
            )
        return color_mode  # type: ignore[return-value]
    found = {int(image.shape[-1]): path for path, image in images}
    if len(found) > 1 or next(iter(found)) not in _MODES:
        seen = ", ".join(f"{channels} in {path}" for channels, path in sorted(found.items()))
        raise ConfigError(
            f"the images have different channel counts ({seen}); give color_mode: rgb or grayscale "
            "to read them all alike.",
            field="data.color_mode",
        )
    return _MODES[next(iter(found))]


def _image_size(
    images: Sequence[tuple[str, np.ndarray]], image_size: Sequence[int] | None
) -> tuple[int, int]:
    if image_size is None:
        height, width = images[0][1].shape[:2]
        return int(height), int(width)
    if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ConfigError(f"expected [height, width], but got {image_size!r}.", field="data.image_size")
    for i, size in enumerate(image_size):
        check_int(size, f"data.image_size.{i}", low=1, plain=True)
    return int(image_size[0]), int(image_size[1])


def _examples(images: Sequence[tuple[str, np.ndarray]], size: tuple[int, int], channels: int) -> np.ndarray:
    """A few checked images as the model gets them: decoded with the color mode's channels, resized (as Keras does)."""
    import tensorflow as tf

    made = [
        tf.image.resize(
            tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False), size
        ).numpy()
        for path, _ in images[:5]
    ]
    return np.stack(made).astype(np.float32)


def image_directory(
    directory: str,
    *,
    image_size: Sequence[int] | None = None,
    color_mode: ColorMode | None = None,
    validation_split: float = 0.2,
    validation_directory: str | None = None,
    seed: int = 0,
) -> StreamingData:
    """Training data from a folder of images, one subfolder per class, read inside each trial's worker.

    As ``keras.utils.image_dataset_from_directory`` reads it: the labels are
    the sorted subfolder names, the files PNG, JPEG, BMP or GIF. Here the
    folders are listed and the first image of each class is decoded, which
    fixes the task, the image shape and the classes; the trials read the
    rest (see `StreamingData`).

    Args:
        directory: The folder (a local path, or any URL ``tf.io.gfile`` reads).
        image_size: ``[height, width]`` every image is resized to. Defaults
            to the size of the first image.
        color_mode: ``"rgb"``, ``"grayscale"`` or ``"rgba"``. Defaults to
            the channel count the checked images share.
        validation_split: Fraction of the files held out for validation
            (the same for every trial) when no ``validation_directory`` is
            given. Defaults to `0.2`.
        validation_directory: A folder of validation images with the same
            class subfolders. Defaults to `None`.
        seed: Seed of the split. Defaults to `0`.

    Raises:
        ConfigError: A missing or empty directory, a class folder without
            images, an image that does not decode (its path named), images
            of different channel counts without ``color_mode``, or class
            folders that differ between the two directories.

    Example:
        >>> data = image_directory("flowers/", image_size=[64, 64])
        >>> data.task, data.input_shape
        ('multiclass', (64, 64, 3))
    """
    check_int(seed, "data.seed", plain=True)
    directory, validation_directory = absolute(directory), absolute(validation_directory)
    folders = ClassFolders.check(directory, validation_split, validation_directory, field=_FIELD)
    images = _first_images(folders.train, _FIELD)
    if folders.validation is not None:
        images += _first_images(folders.validation, "data.validation_directory")
    mode = _color_mode(images, color_mode)
    size = _image_size(images, image_size)
    channels = _CHANNELS[mode]
    classes = folders.classes
    return StreamingData(
        source=_ImageFolder(directory, validation_split, validation_directory, seed, classes, size, mode),
        task=folders.task,
        num_classes=len(classes),
        input_shape=(*size, channels),
        name=posixpath.basename(directory.rstrip("/")) or "images",
        example=_examples(images, size, channels),
        classes=classes,
        class_counts=folders.counts,
        train_rows=folders.train_rows,
        val_rows=folders.val_rows,
        row_bytes=4 * size[0] * size[1] * channels,
        lineage=folders.lineage(directory),
    )
