"""The user's own ``build(config) -> keras.Model``: loading it by reference and checking it before Ray starts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

# RegisteringBuild is how execution ships a build to the workers; re-exported for planning.
from automl.execution._shipped_build import FILE_MODULE_PREFIX, RegisteringBuild
from search_spaces import ConfigError, Space
from trainers import FitSettings, StreamingData, TrainingData, check_config

__all__ = ["BuildRef", "RegisteringBuild", "check_build", "load_build", "resolve_build_ref"]

BuildRef = str  # "path/to/models.py:build" or "package.module:build"


def resolve_build_ref(ref: Any, base_dir: Path, *, field: str = "build") -> BuildRef:
    """Makes a file reference absolute from ``base_dir`` (where the experiment file is)."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ConfigError(
            f"expected 'file.py:function' or 'package.module:function', but got {ref!r}.", field=field
        )
    target, function = ref.split(":")
    if target.endswith(".py"):
        return f"{(base_dir / target).resolve()}:{function}"
    return ref


def load_build(ref: BuildRef, *, field: str = "build", objects: bool = False) -> Any:
    """Imports the function a reference names (``build``, or a callbacks factory).

    With ``objects``, an object with a ``build`` method (a KerasTuner
    ``HyperModel`` instance) is accepted too.

    A module loaded from a file is registered to be pickled by value, so Ray
    ships its code to the workers (which may not have the file on their path).

    Raises:
        ConfigError: The file or module cannot be imported, or has no such callable.
    """
    target, _, function = resolve_build_ref(ref, Path.cwd(), field=field).partition(":")
    try:
        if target.endswith(".py"):
            module = _import_file(Path(target), field)
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(f"cannot import {target}: {type(exc).__name__}: {exc}", field=field) from exc
    build = getattr(module, function, None)
    if not callable(build) and not (objects and callable(getattr(build, "build", None))):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfigError(f"{target} has no function {function!r}; its callables: {public}.", field=field)
    return build


def _import_file(path: Path, field: str) -> Any:
    if not path.is_file():
        raise ConfigError(f"no file {path}.", field=field)
    import ray.cloudpickle

    name = f"{FILE_MODULE_PREFIX}{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path} as a Python module.", field=field)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    ray.cloudpickle.register_pickle_by_value(module)
    return module


def check_build(
    build: Any, space: Space, data: TrainingData | StreamingData, settings: FitSettings | None = None
) -> list[tuple[str, ...]]:
    """Builds the model of every variant of the space once, before any trial starts.

    Like KerasTuner, which calls ``build`` when the tuner is made: a bad
    function or a model that does not fit the data fails here, with the
    variant's choices in the error, not in every trial. This imports
    TensorFlow in the driver, which only runs with a custom ``build``. An
    uncompiled model is compiled with ``settings`` (default `FitSettings()`),
    as in the trials.

    Returns:
        For each variant, the metric names its model reports each epoch
        (`trainers.reported_by_model`): custom metrics a model was compiled
        with are among them.

    Raises:
        ConfigError: ``build`` is not callable, raises, or returns a model that
            does not fit the data (its input shape or output units) or that
            Keras cannot save and load back (an unregistered custom object).
    """
    if not callable(build):
        raise ConfigError(
            f"expected a function build(config) -> keras.Model, or 'file.py:function', but got {build!r}.",
            field="build",
        )
    # Quiet TensorFlow's C++ start-up banner, as in the workers.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from trainers import build_custom

    reported = []
    for config in space.variants():
        full = check_config(config, task=data.task, custom_model=True)
        try:
            model = build_custom(build, full, data, settings=settings)
            reported.append(_reported(model, full, data))
            _check_reloads(model)
        except ConfigError as exc:
            choices = {k: v for k, v in config.items() if not isinstance(v, (list, dict))}
            raise ConfigError(f"{exc.reason} (config: {choices})", field="build") from exc
        finally:
            keras.backend.clear_session()
    return reported


def _reported(model: Any, config: dict[str, Any], data: TrainingData | StreamingData) -> tuple[str, ...]:
    from trainers import reported_by_model

    try:
        return reported_by_model(model, config, data)
    except Exception as exc:  # the user's model or metric raised on real rows: every trial would
        raise ConfigError(
            f"the model build(config) returned fails to evaluate two validation rows: "
            f"{type(exc).__name__}: {exc}",
            field="build",
        ) from exc


def _check_reloads(model: Any) -> None:
    """Saves the compiled model and loads it back as the checkpoints and the run's end will.

    Every checkpoint is a ``.keras`` file that resume, Population Based
    Training and the best model's MLflow record load with ``safe_mode`` on. A
    custom loss, metric or layer Keras cannot find by name would train every
    trial and then lose the run's result; here it fails before Ray starts.
    """
    import keras

    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:  # as after a first step: a checkpoint holds its variables
        optimizer.build(model.trainable_variables)
    with tempfile.TemporaryDirectory(prefix="automl-build-check-") as directory:
        path = Path(directory) / "model.keras"
        try:
            model.save(path)
            keras.saving.load_model(path)  # safe_mode on, as everywhere automl loads a model
        except Exception as exc:  # Keras raises TypeError, ValueError or its own errors here
            raise ConfigError(
                "the model build(config) returned cannot be saved and loaded back with "
                "keras.saving.load_model (safe_mode on), which checkpoints, resume and the best model's "
                "MLflow record need. Register custom losses, metrics and layers with "
                "@keras.saving.register_keras_serializable() where they are defined, or use Keras's "
                f"built-in ones by name. Keras said: {type(exc).__name__}: {exc}",
                field="build",
            ) from exc
