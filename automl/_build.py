"""The user's own ``build(config) -> keras.Model``: loading it by reference and checking it before Ray starts."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from search_spaces import ConfigError, Space
from trainers import TrainingData, check_config

__all__ = ["BuildRef", "check_build", "load_build", "resolve_build_ref"]

BuildRef = str  # "path/to/models.py:build" or "package.module:build"


def resolve_build_ref(ref: Any, base_dir: Path) -> BuildRef:
    """Makes a file reference absolute from ``base_dir`` (where the experiment file is)."""
    if not isinstance(ref, str) or ref.count(":") != 1 or not all(ref.split(":")):
        raise ConfigError(
            f"expected 'file.py:function' or 'package.module:function', but got {ref!r}.", field="build"
        )
    target, function = ref.split(":")
    if target.endswith(".py"):
        return f"{(base_dir / target).resolve()}:{function}"
    return ref


def load_build(ref: BuildRef) -> Callable[[dict[str, Any]], Any]:
    """Imports the function a reference names.

    A module loaded from a file is registered to be pickled by value, so Ray
    ships its code to the workers (which may not have the file on their path).

    Raises:
        ConfigError: The file or module cannot be imported, or has no such callable.
    """
    target, _, function = resolve_build_ref(ref, Path.cwd()).partition(":")
    try:
        if target.endswith(".py"):
            module = _import_file(Path(target))
        else:
            module = importlib.import_module(target)
    except ConfigError:
        raise
    except Exception as exc:  # the user's module raised while importing
        raise ConfigError(f"cannot import {target}: {type(exc).__name__}: {exc}", field="build") from exc
    build = getattr(module, function, None)
    if not callable(build):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfigError(f"{target} has no function {function!r}; its callables: {public}.", field="build")
    return build  # type: ignore[no-any-return]


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"no file {path}.", field="build")
    import ray.cloudpickle

    name = f"automl_user_build_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path} as a Python module.", field="build")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    ray.cloudpickle.register_pickle_by_value(module)
    return module


def check_build(build: Any, space: Space, data: TrainingData) -> None:
    """Builds the model of every variant of the space once, before any trial starts.

    Like KerasTuner, which calls ``build`` when the tuner is made: a bad
    function or a model that does not fit the data fails here, with the
    variant's choices in the error, not in every trial. This imports
    TensorFlow in the driver, which only runs with a custom ``build``.

    Raises:
        ConfigError: ``build`` is not callable, raises, or returns a model that
            does not fit the data (its input shape or output units).
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

    for config in space.variants():
        check_config(config, task=data.task, custom_model=True)
        try:
            build_custom(build, config, data)
        except ConfigError as exc:
            choices = {k: v for k, v in config.items() if not isinstance(v, (list, dict))}
            raise ConfigError(f"{exc.reason} (config: {choices})", field="build") from exc
        finally:
            keras.backend.clear_session()
