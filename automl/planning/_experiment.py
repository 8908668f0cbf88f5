"""`Experiment`: every setting of a tuning run, validated before Ray starts.

The Python API (`automl.tune`) and the YAML form share one vocabulary: a YAML
experiment file's keys are `tune`'s keyword arguments, so an error names the
same field in both (``sampler.multivariate``, ``resources_per_trial.cpu``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna

from automl._result import TuningResult
from automl._tensorboard import require_tensorboard
from automl.execution._hyperband import trials_held_at_once
from automl.execution._quiet import third_party_lines
from automl.execution._runner import Run, optuna_warnings_only
from automl.execution._workers import WorkerPolicy
from automl.planning._build import check_build, load_build, resolve_build_ref
from automl.planning._choices import GridSampler, SchedulerChoice, make_sampler, parse_scheduler
from automl.planning._hypermodel import check_hypermodel, hypermodel_space, resolve_hypermodel_ref
from automl.planning._objectives import EXTRA_METRICS, Objective, parse_objectives
from automl.planning._warm_start import known_points
from automl.tracking._credentials import is_local_store
from automl.tracking._tracking import tracking_client, tracking_wait_s
from search_spaces import ConfigError, Space, cnn, mlp, rnn
from search_spaces._checks import check_int, is_int, is_real
from search_spaces._errors import located
from search_spaces._foreign import foreign_hint
from search_spaces._hypermodel import HyperModelSpace
from search_spaces._suggest import check_fields, did_you_mean, refuse_unknown_init_keywords
from search_spaces._yaml import load_yaml_file
from trainers import (
    FitSettings,
    StreamingData,
    TrainingData,
    check_config,
    from_arrays,
    from_frame,
    from_loader,
    image_directory,
    load_sklearn,
    reported_metrics,
    table,
    text_directory,
    tfrecords,
)
from trainers._backbones import check_backbones
from trainers._settings import check_metric_names
from trainers._stream import loader_keys, text_tokens
from trainers._texts import check_text_body

__all__ = ["DataSpec", "Experiment", "PRESETS", "trial_resources"]

# The keys of `DataSpec` that name a source; a spec names exactly one.
_SOURCES = ("sklearn", "csv", "parquet", "npz", "image_directory", "text_directory", "tfrecord", "function")

PRESETS = {"mlp": mlp, "cnn": cnn, "rnn": rnn}

_RESOURCE_KEYS = ("cpu", "gpu", "tpu", "memory")  # memory in bytes


def _resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    resources = {"cpu": 1} if resources is None else dict(resources)
    for key, value in resources.items():
        if key not in _RESOURCE_KEYS:
            raise ConfigError(
                f"unknown resource {key!r}; accepted: {list(_RESOURCE_KEYS)}{foreign_hint('resources', key)}.",
                field=f"resources_per_trial.{key}",
            )
        if not is_real(value, plain=True) or not value >= 0 or math.isinf(value):
            raise ConfigError(
                f"expected a number >= 0, but got {value!r}.", field=f"resources_per_trial.{key}"
            )
    if resources.get("cpu", 0) <= 0 and resources.get("gpu", 0) <= 0:
        raise ConfigError(
            f"a trial needs some CPU or GPU, but got {resources!r}.", field="resources_per_trial"
        )
    return resources


def _loader_config(space: Space | None) -> dict[str, Any]:
    """The config a loader function is called with in the driver's check: the space's default one."""
    return dict(check_config(space.default_config() if space else {}, custom_model=True))


def _data(data: Data, space: Space | None = None) -> TrainingData | StreamingData:
    """The run's data: arrays loaded here, or a file-backed source checked on its first files."""
    if isinstance(data, str):
        return load_sklearn(data)
    if isinstance(data, DataSpec):
        return data.load(space)
    if isinstance(data, (TrainingData, StreamingData)):
        return data
    if callable(data):  # the user's loader(config) -> (train_ds, val_ds), checked with the space's default config
        return from_loader(data, _loader_config(space))
    raise ConfigError(
        "expected trainers.TrainingData (from trainers.from_arrays, from_frame, from_dataset or "
        "load_sklearn), file-backed data (trainers.image_directory, ...), a loader function "
        f"config -> (train_ds, val_ds), a DataSpec or the name of a bundled data set, but got "
        f"{type(data).__name__}.",
        field="data",
    )


def _data_spec(data: Data) -> dict[str, Any] | None:
    """Where the data came from, so a resumed run can load it again (None: arrays or a function in memory)."""
    if isinstance(data, str):
        return {"sklearn": data}
    if isinstance(data, DataSpec):
        return data.to_dict()
    if isinstance(data, StreamingData):
        return data.spec()
    return None


def _warm_start(space: Space, points: Sequence[Mapping[str, Any]], num_trials: int) -> list[dict[str, Any]]:
    """Checks each config against the space and the trainer; returns optuna params."""
    if len(points) > num_trials:
        raise ConfigError(
            f"`num_trials` must be >= the number of points to evaluate, but got "
            f"(num_trials={num_trials}, points_to_evaluate={len(points)}).",
            field="points_to_evaluate",
        )
    params = []
    for i, config in enumerate(points):
        with located(f"points_to_evaluate.{i}"):
            params.append(space.params_of(config))
            check_config(config)
    return params


def _start_ray(address: str | None, *, verbose: int) -> None:
    import ray

    from automl.execution._local_ray import start_local_ray
    from automl.execution._ray_compat import join_ray

    if ray.is_initialized():
        return
    # Progress comes from the driver; worker logs stay in Ray's session
    # directory unless asked for.
    log_to_driver = verbose >= 2
    if address is not None:  # an existing cluster keeps its own runtime environment and addresses
        join_ray(address, logging_level=logging.WARNING, log_to_driver=log_to_driver)
        return
    start_local_ray(log_to_driver=log_to_driver)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSpec:
    """Where an experiment file's data comes from: exactly one source.

    Args:
        sklearn: A data set bundled with scikit-learn (``digits``, ``iris``,
            ``wine``, ``breast_cancer``, ``diabetes``). Defaults to `None`.
        csv: A CSV file with feature columns and a ``target`` column. Text
            columns are categorical (one-hot encoded inside the model, see
            `trainers.from_frame`); a text target names the classes.
            Defaults to `None`.
        parquet: A Parquet file or glob with feature columns and a ``target``
            column, read in chunks inside each trial (see `trainers.table`).
            Defaults to `None`.
        stream: Read ``csv`` in chunks inside each trial rather than into
            memory in the driver: for tables larger than memory (a file or
            a glob). Defaults to `False`.
        npz: A numpy ``.npz`` file with arrays ``x`` and ``y`` (and optionally
            ``x_val``, ``y_val``), read without pickle. Defaults to `None`.
        target: The target column of ``csv``. Defaults to `None`.
        categorical: Numeric columns of ``csv`` to treat as categorical
            (e.g. codes). Defaults to `None`.
        task: ``binary``, ``multiclass`` or ``regression``. Defaults to inferring it.
        validation_split: Fraction held out when no validation set is given.
            Defaults to `0.2`.
        seed: Seed of the split. Defaults to `0`.
        shape: The shape of one sample, e.g. ``[8, 8, 1]`` to read digits'
            64 pixels as 8×8 single-channel images for Conv2D layers. Each
            row is reshaped (C order). Defaults to `None` (as read).
        image_directory: A folder of images, one subfolder per class, read
            inside each trial (see `trainers.image_directory`). Defaults to `None`.
        image_size: ``[height, width]`` the images are resized to. Defaults
            to the first image's size.
        color_mode: ``rgb``, ``grayscale`` or ``rgba``. Defaults to the
            images' own channel count.
        text_directory: A folder of ``.txt`` files, one subfolder per class,
            read inside each trial (see `trainers.text_directory`). Defaults to `None`.
        max_tokens: ``text_directory``'s vocabulary size. Defaults to `20_000`.
        sequence_length: ``text_directory``'s token ids per text. Defaults to `200`.
        validation_directory: A folder of validation images (or texts) with
            the same class subfolders, instead of ``validation_split``.
            Defaults to `None`.
        function: ``'loaders.py:make_data'``: the user's function
            ``config -> (train_ds, val_ds)``, called in each trial's worker
            (see `trainers.from_loader`). Defaults to `None`.
        tfrecord: A file or glob of TFRecord shards of ``tf.train.Example``s,
            read inside each trial (see `trainers.tfrecords`). Defaults to `None`.
        features: ``tfrecord``'s feature spec: name → ``{dtype, shape}``.
            Defaults to `None`.
        label: The feature of ``tfrecord`` that holds the target. Defaults to `None`.
        validation: A file or glob of validation shards for ``tfrecord``.
            Defaults to `None`.
        num_classes: The classes a ``function``'s or ``tfrecord``'s targets
            hold. Defaults to those the first validation batches show.
    """

    sklearn: str | None = None
    csv: str | None = None
    parquet: str | None = None
    stream: bool = False
    npz: str | None = None
    target: str | None = None
    categorical: Sequence[str] | None = None
    task: Literal["binary", "multiclass", "regression"] | None = None
    validation_split: float = 0.2
    seed: int = 0
    shape: Sequence[int] | None = None
    image_directory: str | None = None
    text_directory: str | None = None
    max_tokens: int | None = None
    sequence_length: int | None = None
    image_size: Sequence[int] | None = None
    color_mode: Literal["rgb", "grayscale", "rgba"] | None = None
    validation_directory: str | None = None
    tfrecord: str | None = None
    features: Mapping[str, Any] | None = None
    label: str | None = None
    validation: str | None = None
    function: str | None = None
    num_classes: int | None = None

    def __post_init__(self) -> None:
        sources = [s for s in _SOURCES if getattr(self, s) is not None]
        if len(sources) != 1:
            raise ConfigError(f"give exactly one data source of {list(_SOURCES)}, but got {sources}.")
        for name in (*_SOURCES, "target", "task", "color_mode", "validation_directory", "label", "validation"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"expected a string, but got {value!r}.", field=name)
        table = self.csv or self.parquet
        if (table is None) != (self.target is None):
            raise ConfigError(
                "`target` (the label column) goes with `csv` or `parquet` and only with them.",
                field="data.target",
            )
        if self.categorical is not None:
            if table is None:
                raise ConfigError(
                    "`categorical` names columns of `csv` or `parquet` and goes only with them.",
                    field="categorical",
                )
            if not isinstance(self.categorical, (list, tuple)) or not all(
                isinstance(c, str) for c in self.categorical
            ):
                raise ConfigError(
                    f"expected a list of column names, but got {self.categorical!r}.", field="categorical"
                )
            object.__setattr__(self, "categorical", list(self.categorical))
        if not is_int(self.seed, plain=True):
            raise ConfigError(f"expected an int, but got {self.seed!r}.", field="seed")
        if self.shape is not None:
            if not isinstance(self.shape, (list, tuple)) or not self.shape:
                raise ConfigError(
                    f"expected a list of ints such as [8, 8, 1], but got {self.shape!r}.", field="shape"
                )
            for i, size in enumerate(self.shape):
                check_int(size, f"shape.{i}", low=1, plain=True)
            object.__setattr__(self, "shape", list(self.shape))
        self._check_file_source()

    def _check_file_source(self) -> None:
        """The keys that go with one file-backed source only."""
        owners = {
            "image_size": "image_directory",
            "color_mode": "image_directory",
            "max_tokens": "text_directory",
            "sequence_length": "text_directory",
            "features": "tfrecord",
            "label": "tfrecord",
            "validation": "tfrecord",
        }
        for key, owner in owners.items():
            if getattr(self, key) is not None and getattr(self, owner) is None:
                raise ConfigError(f"`{key}` goes with `{owner}` and only with it.", field=key)
        if self.validation_directory is not None and not (self.image_directory or self.text_directory):
            raise ConfigError(
                "`validation_directory` goes with `image_directory` or `text_directory`.",
                field="validation_directory",
            )
        if self.num_classes is not None and not (self.function or self.tfrecord or self.parquet or self.stream):
            raise ConfigError(
                "`num_classes` goes with `function`, `tfrecord` or a streamed table.", field="num_classes"
            )
        if not isinstance(self.stream, bool):
            raise ConfigError(f"expected true or false, but got {self.stream!r}.", field="stream")
        if self.stream and self.csv is None and self.parquet is None:
            raise ConfigError("`stream` reads a `csv` (or `parquet`) table in chunks; give one.", field="stream")
        if self.tfrecord is not None:
            for key in ("features", "label", "validation"):
                if getattr(self, key) is None:
                    raise ConfigError(f"`tfrecord` needs `{key}` too.", field=key)
        if self.validation_directory is not None and self.validation_split != 0.2:
            raise ConfigError(
                "give validation_split or validation_directory, not both.", field="validation_split"
            )
        if self.num_classes is not None:
            check_int(self.num_classes, "num_classes", low=2, plain=True)
        streamed = (self.image_directory, self.text_directory, self.function, self.tfrecord, self.parquet)
        if (any(streamed) or self.stream) and self.shape is not None:
            raise ConfigError(
                "`shape` reshapes arrays read in the driver; file-backed samples keep the shape they are read in.",
                field="shape",
            )

    @property
    def name(self) -> str:
        """The data set's name, or the file's stem."""
        source = next(str(getattr(self, s)) for s in _SOURCES if getattr(self, s) is not None)
        return Path(source).stem

    def resolved(self, base_dir: Path) -> DataSpec:
        """The same spec with file paths made absolute from ``base_dir`` (URLs stay as they are)."""

        def absolute(path: str | None) -> str | None:
            if path is None or "://" in path:
                return path
            return str((base_dir / path).resolve())

        return dataclasses.replace(
            self,
            csv=absolute(self.csv),
            npz=absolute(self.npz),
            image_directory=absolute(self.image_directory),
            text_directory=absolute(self.text_directory),
            validation_directory=absolute(self.validation_directory),
            tfrecord=absolute(self.tfrecord),
            parquet=absolute(self.parquet),
            validation=absolute(self.validation),
            function=None if self.function is None else resolve_build_ref(self.function, base_dir, field="data.function"),
        )

    def paths(self) -> dict[str, str]:
        """The given file paths, globs, URLs and ``'file.py:function'`` references, by key."""
        keys = (
            *("csv", "npz", "parquet", "image_directory", "text_directory", "validation_directory"),
            *("tfrecord", "validation", "function"),
        )
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        }

    def load(self, space: Space | None = None) -> TrainingData | StreamingData:
        """Reads the data, or checks a file-backed source on its first files (relative paths from the
        working directory; see `resolved`). A ``function`` is checked with ``space``'s default config.
        """
        if self.image_directory is not None:
            return image_directory(
                self.image_directory,
                image_size=self.image_size,
                color_mode=self.color_mode,
                validation_split=self.validation_split,
                validation_directory=self.validation_directory,
                seed=self.seed,
            )
        if self.text_directory is not None:
            lengths = {"max_tokens": self.max_tokens, "sequence_length": self.sequence_length}
            return text_directory(
                self.text_directory,
                **{k: v for k, v in lengths.items() if v is not None},
                validation_split=self.validation_split,
                validation_directory=self.validation_directory,
                seed=self.seed,
            )
        if self.parquet is not None or self.stream:
            return table(
                str(self.parquet or self.csv),
                target=str(self.target),
                kind="parquet" if self.parquet is not None else "csv",
                categorical=self.categorical,
                task=self.task,
                num_classes=self.num_classes,
                validation_split=self.validation_split,
                seed=self.seed,
            )
        if self.tfrecord is not None:
            return tfrecords(
                self.tfrecord,
                features=self.features or {},
                label=str(self.label),
                validation=str(self.validation),
                task=self.task,
                num_classes=self.num_classes,
                seed=self.seed,
            )
        if self.function is not None:
            ref = resolve_build_ref(self.function, Path.cwd(), field="data.function")
            function = load_build(ref, field="data.function")
            return from_loader(function, _loader_config(space), task=self.task, num_classes=self.num_classes, ref=ref)
        if self.sklearn is not None:
            data = load_sklearn(self.sklearn, validation_split=self.validation_split, seed=self.seed)
        else:
            split = {"validation_split": self.validation_split, "seed": self.seed, "task": self.task}
            with located("data"):
                if self.csv is not None:
                    data = self._load_csv(Path(self.csv), split)
                else:
                    data = self._load_npz(Path(str(self.npz)), split)
        if self.shape is None:
            return data
        if data.categorical:
            raise ConfigError(
                "a CSV with categorical columns has one value per column; `shape` is for numeric arrays.",
                field="data.shape",
            )
        with located("data"):
            return self._reshaped(data)

    def _reshaped(self, data: TrainingData) -> TrainingData:
        shape = tuple(self.shape or ())
        if math.prod(shape) != math.prod(data.input_shape):
            raise ConfigError(
                f"{list(shape)} holds {math.prod(shape)} values per sample, but the samples have shape "
                f"{data.input_shape} ({math.prod(data.input_shape)} values).",
                field="shape",
            )
        return dataclasses.replace(
            data,
            x_train=data.x_train.reshape(len(data.x_train), *shape),
            x_val=data.x_val.reshape(len(data.x_val), *shape),
        )

    def _load_csv(self, path: Path, split: dict[str, Any]) -> TrainingData:
        import pandas as pd

        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}", field="csv") from exc
        if self.target not in frame.columns:
            raise ConfigError(
                f"no column {self.target!r} in {path.name}{did_you_mean(str(self.target), frame.columns)}; "
                f"columns: {list(frame.columns)}.",
                field="target",
            )
        return from_frame(frame, str(self.target), categorical=self.categorical, name=path.stem, **split)

    def _load_npz(self, path: Path, split: dict[str, Any]) -> TrainingData:
        try:
            with np.load(path, allow_pickle=False) as arrays:
                found = {k: arrays[k] for k in arrays.files}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}", field="npz") from exc
        if "x" not in found or "y" not in found:
            raise ConfigError(
                f"{path.name} must hold arrays 'x' and 'y', but holds {sorted(found)}.", field="npz"
            )
        validation = (found["x_val"], found["y_val"]) if "x_val" in found and "y_val" in found else None
        return from_arrays(found["x"], found["y"], validation_data=validation, name=path.stem, **split)


# What `tune(data=...)` takes.
Data = TrainingData | StreamingData | str | DataSpec | Callable[[dict[str, Any]], Any]


def made_callbacks(entries: Any) -> tuple[list[Any], tuple[str, ...]]:
    """The trials' Keras callbacks, and the references among ``entries`` (for resume).

    An entry is a callback, or a ``'file.py:function'`` reference to a function
    of no arguments that returns a callback or a list of them (how an
    experiment file names callbacks). A function from a file is shipped to
    the workers like ``build``.
    """
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise ConfigError(
            f"expected a list of Keras callbacks or 'file.py:function' references, but got {entries!r}.",
            field="callbacks",
        )
    made: list[tuple[str, Any]] = []
    refs = []
    for i, entry in enumerate(entries):
        field = f"callbacks.{i}"
        if not isinstance(entry, str):
            made.append((field, entry))
            continue
        refs.append(resolve_build_ref(entry, Path.cwd(), field=field))
        factory = load_build(entry, field=field)
        try:
            produced = factory()
        except Exception as exc:  # the user's function raised
            raise ConfigError(f"{entry}() raised {type(exc).__name__}: {exc}", field=field) from exc
        made.extend((field, c) for c in (produced if isinstance(produced, (list, tuple)) else [produced]))
    _check_callbacks(made)
    return [callback for _, callback in made], tuple(refs)


def _check_callbacks(callbacks: Sequence[tuple[str, Any]]) -> None:
    if not callbacks:
        return
    import keras  # only when the user passed callbacks, so they imported Keras already

    for field, callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ConfigError(
                f"expected a keras.callbacks.Callback, but got {type(callback).__name__}.",
                field=field,
            )


def _space_from_dict(data: Any) -> Space:
    """A space from its dict form, or a preset (``preset: mlp``) whose entries the others override."""
    if isinstance(data, Mapping) and "preset" in data:
        name = data["preset"]
        if name not in PRESETS:
            raise ConfigError(
                f"unknown preset {name!r}{did_you_mean(str(name), PRESETS)}; accepted: {sorted(PRESETS)}.",
                field="space.preset",
            )
        entries = {**PRESETS[name]().to_dict(), **{k: v for k, v in data.items() if k != "preset"}}
        return Space.from_dict(entries)
    return Space.from_dict(data)


@refuse_unknown_init_keywords("experiment")  # Optuna's n_trials gets num_trials, as in a file
@dataclasses.dataclass(frozen=True, kw_only=True)
class Experiment:
    """Every setting of a tuning run; the arguments are those of `automl.tune`.

    Construction validates everything (space, data, sampler, scheduler,
    resources, warm-start configs) without starting Ray; `run` executes.

    Examples:
        >>> from search_spaces import mlp
        >>> experiment = Experiment(space=mlp(), data="digits", num_trials=3, epochs=2)
        >>> result = experiment.run()
    """

    space: Space | None = None
    data: Data
    metric: str | Sequence[str] = "val_accuracy"
    mode: Literal["min", "max"] | Sequence[Literal["min", "max"]] = "max"
    num_trials: int = 12
    time_budget_s: float | None = None
    epochs: int = 20
    patience: int = 3
    metrics: Sequence[str] = ()
    reduce_lr_patience: int | None = None
    steps_per_execution: int | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    mixed_precision: bool = False
    sampler: str | Mapping[str, Any] | optuna.samplers.BaseSampler = "tpe"
    points_to_evaluate: Sequence[Mapping[str, Any]] = ()
    evaluated_points: Sequence[Mapping[str, Any]] = ()
    warm_start: str | Path | None = None
    scheduler: str | Mapping[str, Any] | None = None
    seed: int | None = None
    resources_per_trial: Mapping[str, float] | None = None  # one CPU
    max_concurrent_trials: int | None = None
    max_failures: int = 0
    max_trials_per_worker: int | None = None
    max_worker_memory_growth: float | None = 0.1
    address: str | None = None
    tracking_uri: str | None = None
    experiment_name: str = "automl"
    registered_model_name: str | None = None
    storage_path: str | Path = "automl_runs"
    name: str | None = None
    callbacks: Sequence[Any] = ()
    build: Callable[[dict[str, Any]], Any] | str | None = None
    tensorboard: bool = False
    log_tensorboard_to_mlflow: bool = False
    hypermodel: Any = None  # a function of hp, a keras_tuner.HyperModel, or 'file.py:name'

    def __post_init__(self) -> None:
        _check_model_source(self)
        # The validated plan, kept for the first `run`: planning loads the data and builds
        # every variant of a custom `build`, which need not happen twice.
        object.__setattr__(self, "_planned", self._plan())

    def _plan(self) -> Run:
        """Checks every setting (see the steps below, in this order) and returns the run they make."""
        data, settings, objectives = _fit_plan(self)
        extra = objectives[1:]
        build, reported = _model_checks(self, data, settings, extra)
        _check_limits(self)
        callbacks, callback_refs = made_callbacks(self.callbacks)
        _check_tensorboard(self)
        tracking_wait_s()  # the environment's setting, checked now rather than at the run's end
        sampler, known = _sampler_and_known(self, objectives)
        if isinstance(self.space, HyperModelSpace) and isinstance(data, TrainingData):  # `_fit_plan` saw to it
            reported = _hypermodel_checks(self, data, settings, sampler, extra)
        scheduler, settings = _scheduler(self, objectives, settings, sampler, known)
        resources = trial_resources(self)
        return Run(
            space=self._space,
            data=data,
            settings=settings,
            sampler=sampler,
            points_to_evaluate=_warm_start(self._space, self.points_to_evaluate, self.num_trials),
            known_points=known,
            scheduler=scheduler,
            extra_objectives=extra,
            num_trials=self.num_trials,
            resources=resources,
            max_concurrent_trials=self.max_concurrent_trials,
            max_failures=self.max_failures,
            workers=WorkerPolicy(self.max_trials_per_worker, self.max_worker_memory_growth),
            time_budget_s=self.time_budget_s,
            tracking_uri=self.tracking_uri,
            experiment_name=self.experiment_name,
            registered_model_name=self.registered_model_name or self.experiment_name,
            storage_path=Path(self.storage_path).resolve(),
            seed=self.seed,
            data_spec=_data_spec(self.data),
            callbacks=tuple(callbacks),
            callback_refs=callback_refs if len(callback_refs) == len(self.callbacks) else (),
            build=build,
            build_ref=self.build if isinstance(self.build, str) else None,
            reported=reported,
            tensorboard=self.tensorboard,
            log_tensorboard_to_mlflow=self.log_tensorboard_to_mlflow,
        )

    @property
    def _space(self) -> Space:
        """The search space (a hypermodel's, once `_fit_plan` has made it)."""
        if self.space is None:
            raise ConfigError("the experiment has no search space yet.", field="space")
        return self.space

    def run(self, *, verbose: int = 1) -> TuningResult:
        """Starts (or joins) Ray and runs the trials.

        Args:
            verbose: 0 silent, 1 the settings, then one line per finished trial (and a
                status line after a minute without one), 2 also the workers' logs.
                Defaults to `1`.
        """
        # A later run plans again: the plan's sampler has learned from the first one's trials.
        run = vars(self).pop("_planned", None) or self._plan()
        name = self.name or f"{self.experiment_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
        # Opening the tracking store (a new sqlite file builds its tables: seconds of
        # CPU) overlaps starting Ray, which mostly waits for its processes.
        with third_party_lines(Path(run.storage_path) / name, verbose=verbose, new=True):
            with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="automl-tracking") as pool:
                opening = pool.submit(tracking_client, run.resolved_tracking_uri())
                if not is_local_store(run.resolved_tracking_uri()):
                    opening.result()  # a server or database that is down or refuses us fails before Ray starts
                _start_ray(self.address, verbose=verbose)
                client = opening.result()
            with optuna_warnings_only():
                return run.execute(name=name, verbose=verbose, client=client)

    @classmethod
    def from_dict(cls, data: Any, *, base_dir: str | Path = ".") -> Experiment:
        """Builds an experiment from its dict form (the keys are `tune`'s arguments).

        ``data`` is a `DataSpec` mapping, ``space`` a space's dict form or
        ``{"preset": "mlp", ...overrides}``; relative paths are read from
        ``base_dir``.

        Raises:
            ConfigError: Naming the first invalid field.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"expected a mapping of settings, but got {type(data).__name__}.")
        settings = dict(data)
        check_fields(settings, cls, "experiment", "experiment")
        with located("data"):
            if not isinstance(settings["data"], Mapping):
                raise ConfigError(
                    f"expected a mapping such as {{sklearn: digits}}, but got {settings['data']!r}."
                )
            check_fields(settings["data"], DataSpec, "data source")
            spec = DataSpec(**settings["data"])
        settings["data"] = spec.resolved(Path(base_dir))
        if settings.get("space") is not None:
            settings["space"] = _space_from_dict(settings["space"])
        if settings.get("hypermodel") is not None:
            settings["hypermodel"] = resolve_hypermodel_ref(settings["hypermodel"], Path(base_dir))
        for key in ("points_to_evaluate", "evaluated_points"):
            if key in settings and not isinstance(settings[key], list):
                raise ConfigError(f"expected a list of configs, but got {settings[key]!r}.", field=key)
        if settings.get("warm_start") is not None:
            if not isinstance(settings["warm_start"], str) or not settings["warm_start"]:
                raise ConfigError(
                    f"expected the directory of an earlier run, but got {settings['warm_start']!r}.",
                    field="warm_start",
                )
            settings["warm_start"] = Path(base_dir) / settings["warm_start"]
        if settings.get("build") is not None:
            settings["build"] = resolve_build_ref(settings["build"], Path(base_dir))
        if isinstance(settings.get("callbacks"), list):  # references to factories, read from base_dir
            settings["callbacks"] = [
                resolve_build_ref(ref, Path(base_dir), field=f"callbacks.{i}") if isinstance(ref, str) else ref
                for i, ref in enumerate(settings["callbacks"])
            ]
        return cls(**settings)

    @classmethod
    def from_yaml(cls, path: str | Path, *, overrides: Sequence[str] = ()) -> Experiment:
        """Reads an experiment file (safely), applies ``KEY=VALUE`` overrides, validates.

        Args:
            path: The YAML file.
            overrides: ``dotted.key=value`` strings; values are parsed as YAML
                (``epochs=5`` is an int). Defaults to `()`.

        Raises:
            ConfigError: The file, an override or a field is invalid.
        """
        path = Path(path)
        data = load_yaml_file(path)
        for override in overrides:
            data = apply_override(data, override)
        return cls.from_dict(data, base_dir=path.parent)


# The steps of `Experiment._plan`, in the order it takes them: which error comes first is part of the behaviour.


def _fit_plan(experiment: Experiment) -> tuple[TrainingData | StreamingData, FitSettings, tuple[Objective, ...]]:
    """The space's type (or the space a hypermodel declares), the data, the objectives and the trials' fit settings."""
    if experiment.hypermodel is None and not isinstance(experiment.space, Space):
        raise ConfigError(
            f"expected a search_spaces.Space, but got {type(experiment.space).__name__}.", field="space"
        )
    data = _data(experiment.data, experiment.space)
    if experiment.hypermodel is not None:
        if not isinstance(data, TrainingData):  # its sampling and its fit take in-memory rows
            raise ConfigError(
                "a hypermodel takes in-memory data (arrays, a DataFrame, a bundled data set, a csv or npz file "
                f"read into memory), not {type(data).__name__} streamed from files in the workers.",
                field="data",
            )
        # The steps below read the space a hypermodel declares as they read any space.
        object.__setattr__(experiment, "space", hypermodel_space(experiment.hypermodel, data))
    check_metric_names(experiment.metrics, data.task)  # before FitSettings, which knows no task
    objectives = parse_objectives(experiment.metric, experiment.mode)
    monitor, mode = objectives[0]
    settings = FitSettings(
        epochs=experiment.epochs,
        monitor=monitor,
        mode=mode,
        patience=experiment.patience,
        metrics=experiment.metrics,
        reduce_lr_patience=experiment.reduce_lr_patience,
        steps_per_execution=experiment.steps_per_execution,
        jit_compile=experiment.jit_compile,
        mixed_precision=experiment.mixed_precision,
        seed=experiment.seed,  # each trial's fit seed derives from it (`run_trial`)
    )
    return data, settings, objectives


def _model_checks(
    experiment: Experiment,
    data: TrainingData | StreamingData,
    settings: FitSettings,
    extra: Sequence[Objective],
) -> tuple[Callable[[dict[str, Any]], Any] | None, tuple[str, ...] | None]:
    """Every variant of the space against the trainer or the user's ``build``, and the metrics they report.

    Returns the ``build`` function, and the metric names a custom build's models report (``None``
    for the trainer's models, whose names follow from the task).
    """
    space = experiment._space
    if isinstance(space, HyperModelSpace):  # checked once the sampler is made (`_hypermodel_checks`)
        return None, None
    build = load_build(experiment.build) if isinstance(experiment.build, str) else experiment.build
    if build is None:  # a custom build's models may report metrics of their own: checked once built
        settings.check_monitor(data.task)
    for config in space.variants():  # every choice the trainer must accept (a loader's own keys aside)
        checked = check_config(loader_keys(config, data)[0], task=data.task, custom_model=build is not None)
        settings.check_schedule(checked)
        _check_class_weight(checked, data)
        if build is None:
            check_text_body(checked, data)
        if isinstance(data, StreamingData) and data.tokens is not None:
            text_tokens(config, data)
    reported = None
    if build is None:
        space.check_input_shape(data.input_shape)
        check_backbones(space, data.input_shape)
        everywhere = reported_metrics(data.task, settings.metrics)
    else:
        per_variant = check_build(build, space, data, settings)
        everywhere = tuple(n for n in per_variant[0] if all(n in names for names in per_variant))
        settings.check_monitor(data.task, reported=everywhere)
        reported = tuple(dict.fromkeys(n for names in per_variant for n in names))
    who = "the trainer" if build is None else "the model build(config) returns"
    _check_extra_objectives(extra, everywhere, who, data.task)
    return build, reported


def _check_extra_objectives(extra: Sequence[Objective], reported: Sequence[str], who: str, task: str) -> None:
    available = [*reported, *EXTRA_METRICS]
    for i, (name, _) in enumerate(extra, start=1):
        if name not in available:
            raise ConfigError(
                f"{who} never reports {name!r} for a {task} task; available: {available}.",
                field=f"metric.{i}",
            )


def _check_model_source(experiment: Experiment) -> None:
    """Exactly one of ``space`` and ``hypermodel``; a hypermodel builds its own model (no ``build``)."""
    if experiment.hypermodel is None:
        if experiment.space is None:
            raise ConfigError(
                "expected a search space (space=...) or a KerasTuner hypermodel (hypermodel=build_model), "
                "but got neither.",
                field="space",
            )
        return
    for field in ("space", "build"):
        if getattr(experiment, field) is not None:
            raise ConfigError(
                f"a hypermodel declares its search space and builds its model itself, so it takes no "
                f"{field}, but got {field}={getattr(experiment, field)!r}; pass one or the other.",
                field=field,
            )
    for field in ("points_to_evaluate", "evaluated_points", "warm_start"):
        if getattr(experiment, field):
            raise ConfigError(
                f"not supported with a hypermodel: {field} (its configs cannot be enqueued before the "
                "hypermodel declares its hyperparameters).",
                field=field,
            )
    scheduler = experiment.scheduler
    name = scheduler.get("name") if isinstance(scheduler, Mapping) else scheduler
    sampler = experiment.sampler.get("name") if isinstance(experiment.sampler, Mapping) else experiment.sampler
    for field, value, refused, why in (
        ("scheduler", name, "pbt", "it mutates a config's values while a restored model trains on"),
        ("sampler", sampler, "grid", "a grid needs every parameter before the first trial"),
    ):
        if value == refused:
            raise ConfigError(f"not supported with a hypermodel: {field} {refused!r} ({why}).", field=field)


def _hypermodel_checks(
    experiment: Experiment,
    data: TrainingData,
    settings: FitSettings,
    sampler: optuna.samplers.BaseSampler,
    extra: Sequence[Objective],
) -> tuple[str, ...]:
    """The hypermodel's first model (see `check_hypermodel`), and the metrics it reports."""
    space = experiment._space
    if not isinstance(space, HyperModelSpace):
        raise ConfigError("expected a hypermodel's space.", field="hypermodel")
    reported = check_hypermodel(space, data, settings, sampler, settings.mode)
    settings.check_monitor(data.task, reported=reported)
    _check_extra_objectives(extra, reported, f"the model {space.hypermodel.name} builds", data.task)
    return reported


def _check_class_weight(config: Mapping[str, Any], data: TrainingData | StreamingData) -> None:
    """Balanced class weights need the class counts, which not every file-backed source knows."""
    if config["class_weight"] is not None and isinstance(data, StreamingData) and data.class_counts is None:
        raise ConfigError(
            f"class_weight 'balanced' needs the count of each class, which {data.name!r} does not tell "
            "without reading all of it; leave class_weight out of the space.",
            field="space.class_weight",
        )


def _check_limits(experiment: Experiment) -> None:
    """The trial counts, the time budget and the names."""
    check_int(experiment.num_trials, "num_trials", low=1, plain=True)
    if experiment.max_concurrent_trials is not None:
        check_int(experiment.max_concurrent_trials, "max_concurrent_trials", low=1, plain=True)
    check_int(experiment.max_failures, "max_failures", low=0, plain=True)
    budget = experiment.time_budget_s
    if budget is not None and (not is_real(budget, plain=True) or not 0 < budget < math.inf):
        raise ConfigError(f"expected a number of seconds > 0, but got {budget!r}.", field="time_budget_s")
    for name in ("experiment_name", "registered_model_name", "address", "tracking_uri", "name"):
        value = getattr(experiment, name)
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigError(f"expected a non-empty string, but got {value!r}.", field=name)


def _check_tensorboard(experiment: Experiment) -> None:
    """The TensorBoard switches, and the package that writes (and serves) event files."""
    for name in ("tensorboard", "log_tensorboard_to_mlflow"):
        if not isinstance(getattr(experiment, name), bool):
            raise ConfigError(f"expected true or false, but got {getattr(experiment, name)!r}.", field=name)
    if experiment.log_tensorboard_to_mlflow and not experiment.tensorboard:
        raise ConfigError(
            "attaching the trials' TensorBoard event files to MLflow needs tensorboard=True (which "
            "writes them), but got tensorboard=False; set both, or leave log_tensorboard_to_mlflow off.",
            field="log_tensorboard_to_mlflow",
        )
    if experiment.tensorboard:
        require_tensorboard(field="tensorboard")


def _sampler_and_known(
    experiment: Experiment, objectives: Sequence[Objective]
) -> tuple[optuna.samplers.BaseSampler, list[Any]]:
    """The Optuna sampler, and the known scores (``evaluated_points``, ``warm_start``) that seed it."""
    sampler = make_sampler(
        experiment.sampler,
        seed=experiment.seed,
        num_objectives=len(objectives),
        space=experiment._space,
        num_trials=experiment.num_trials,
    )
    if len(objectives) > 1 and (experiment.evaluated_points or experiment.warm_start):
        raise ConfigError(
            "known scores seed a single objective; with several objectives, run the configs "
            "again with points_to_evaluate instead.",
            field=_known_field(experiment),
        )
    metric, mode = objectives[0]
    known = known_points(
        experiment._space,
        evaluated_points=experiment.evaluated_points,
        warm_start=experiment.warm_start,
        metric=metric,
        mode=mode,
    )
    return sampler, known


def _known_field(experiment: Experiment) -> str:
    return "evaluated_points" if experiment.evaluated_points else "warm_start"


def _scheduler(
    experiment: Experiment,
    objectives: Sequence[Objective],
    settings: FitSettings,
    sampler: optuna.samplers.BaseSampler,
    known: Sequence[Any],
) -> tuple[SchedulerChoice, FitSettings]:
    """The scheduler, checked against the sampler and the other settings; the fit settings it needs."""
    several = len(objectives) > 1
    scheduler = parse_scheduler(
        experiment.scheduler or ("fifo" if several else "asha"),
        epochs=experiment.epochs,
        space=experiment._space,
    )
    if scheduler.pauses_trials:  # a paused or exploited trial continues from its newest checkpoint
        settings = dataclasses.replace(settings, checkpoint_interval_s=0.0)
    if scheduler.name == "pbt" and known:
        raise ConfigError(
            "pbt trains one population from the start and learns nothing from earlier scores; "
            "pass those configs as points_to_evaluate to have them join the population.",
            field=_known_field(experiment),
        )
    if scheduler.name == "hyperband":
        _check_hyperband_concurrency(experiment, scheduler)
    if several and scheduler.name != "fifo":
        raise ConfigError(
            f"{scheduler.name} stops trials early on one metric, which would bias a search over "
            f"{len(objectives)} objectives; use scheduler 'fifo' (the default with several objectives).",
            field="scheduler",
        )
    if isinstance(sampler, GridSampler):
        for field in ("points_to_evaluate", "evaluated_points", "warm_start"):
            if getattr(experiment, field):
                raise ConfigError(
                    f"a grid search runs every config of the space itself, so it takes no {field}.",
                    field=field,
                )
    return scheduler, settings


def _check_hyperband_concurrency(experiment: Experiment, scheduler: SchedulerChoice) -> None:
    if experiment.max_concurrent_trials is None:
        return
    held = trials_held_at_once(experiment.epochs, experiment.num_trials, **scheduler.settings)
    if experiment.max_concurrent_trials < held:
        raise ConfigError(
            f"expected at least {held} or None with scheduler 'hyperband', but got "
            f"{experiment.max_concurrent_trials}: hyperband pauses a bracket's trials (up to {held} "
            "here) at each milestone until all of them reach it, and Ray counts paused trials "
            "against this limit, so brackets would not fill and few trials or none would be "
            "stopped. Leave it unset (trials run as resources allow; a paused one holds "
            "none) or use scheduler 'asha', which never pauses trials.",
            field="max_concurrent_trials",
        )


def trial_resources(experiment: Experiment) -> dict[str, float]:
    """Each trial's resources, and mixed precision only where there is a GPU for it."""
    resources = _resources(experiment.resources_per_trial)
    if experiment.mixed_precision and resources.get("gpu", 0) <= 0:
        raise ConfigError(
            f"mixed precision pays off on GPUs (on CPUs float16 is slower than float32), but the "
            f"trials get none: resources_per_trial={resources}; give them a GPU "
            '({"gpu": 1} or a fraction) or leave mixed_precision off.',
            field="mixed_precision",
        )
    return resources


def apply_override(data: Any, override: str) -> Any:
    """Returns ``data`` with ``dotted.key=value`` set; the parent of the key must exist."""
    from search_spaces._yaml import parse_yaml

    key, sep, text = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"expected KEY=VALUE, but got {override!r}.", field="--set")
    if not isinstance(data, dict):
        raise ConfigError("the experiment file must be a mapping to take --set overrides.", field="--set")
    value = parse_yaml(text) if text else None
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        child = _child(node, part)
        if child is None:
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"--set {key}: there is no {where!r} in the experiment to set a key under.", field=where
            )
        node = child
    if isinstance(node, list):
        index = _index(node, parts[-1])
        if index is None:
            raise ConfigError(f"--set {key}: no item {parts[-1]!r} in a list of {len(node)}.", field=key)
        node[index] = value
    elif isinstance(node, dict):
        node[parts[-1]] = value
    else:
        raise ConfigError(f"--set {key}: {'.'.join(parts[:-1])!r} holds a value, not settings.", field=key)
    return data


def _index(node: list[Any], part: str) -> int | None:
    return int(part) if part.isdigit() and int(part) < len(node) else None


def _child(node: Any, part: str) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list):
        index = _index(node, part)
        return None if index is None else node[index]
    return None
