"""`automl.resume`: finish a run that was interrupted (Ctrl-C, a killed driver, a crash)."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from automl._result import MANIFEST_FILE, TuningResult, read_manifest
from automl.execution._quiet import third_party_lines
from automl.execution._runner import MANIFEST_FORMAT, ResumedRun, optuna_warnings_only
from automl.execution._workers import WorkerPolicy
from automl.planning._build import load_build
from automl.planning._experiment import Data, DataSpec, _data, _start_ray, made_callbacks
from automl.planning._hypermodel import hypermodel_space
from search_spaces import ConfigError, Space
from trainers import FitSettings, StreamingData, TrainingData

__all__ = ["resume", "run_build", "run_data", "trusted_manifest"]


def trusted_manifest(run_dir: Path) -> dict[str, Any]:
    """Reads ``run.json`` after checking that this tool made the directory for this user.

    Ray restores a run from pickled experiment state, so a directory that
    someone else could have written to is refused rather than unpickled.
    """
    path = run_dir / MANIFEST_FILE
    manifest = read_manifest(run_dir)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ConfigError(f"{path} was not written by this version of automl.", field="run_dir")
    uid = os.getuid()
    for checked in (run_dir, path):
        info = checked.stat()
        if info.st_uid != uid:
            raise ConfigError(
                f"{checked} belongs to uid {info.st_uid}, not to you (uid {uid}); refusing to restore "
                "a run whose pickled state someone else could have written.",
                field="run_dir",
            )
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise ConfigError(
                f"{checked} is writable by other users (mode {stat.filemode(info.st_mode)}); refusing to "
                "restore a run whose pickled state someone else could have written. `chmod go-w` it first.",
                field="run_dir",
            )
    return manifest


def run_data(
    manifest: Mapping[str, Any], data: Data | None, *, again: str
) -> TrainingData | StreamingData:
    """A run's data: ``data`` when given, else loaded again as the run's manifest records it.

    ``again`` shows the call that passes the data, for a run on arrays (which the manifest cannot hold).

    Raises:
        ConfigError: The run trained on arrays and ``data`` is `None`.
    """
    if data is None:
        if manifest["data"] is None:
            raise ConfigError(
                f"this run trained on arrays or a loader function passed to tune(); pass the same data again: {again}.",
                field="data",
            )
        data = DataSpec(**manifest["data"])
    # A hypermodel's run takes in-memory data, which needs no space to load.
    return _data(data, None if "hypermodel" in manifest["space"] else Space.from_dict(manifest["space"]))


def run_build(
    manifest: Mapping[str, Any], build: Callable[[dict[str, Any]], Any] | None, *, again: str
) -> Callable[[dict[str, Any]], Any] | None:
    """A run's ``build(config)``: a file reference loaded again, else ``build`` (the Python function passed again).

    Raises:
        ConfigError: The run built its models with a Python function and ``build`` is `None`.
    """
    if manifest["build_is_ref"]:
        return load_build(manifest["build"])
    if manifest["build"] and build is None:
        raise ConfigError(
            f"this run built its models with {manifest['build']}; pass it again: {again}",
            field="build",
        )
    return build


def resume(
    run_dir: str | Path,
    *,
    data: Data | None = None,
    callbacks: Sequence[Any] = (),
    build: Callable[[dict[str, Any]], Any] | None = None,
    hypermodel: Any = None,
    address: str | None = None,
    verbose: int = 1,
) -> TuningResult:
    """Finishes an interrupted run: finished trials are kept, running ones continue from their checkpoints.

    The sampler keeps its history and the trials keep their MLflow runs (no
    duplicates); child runs left RUNNING by the interruption are reopened by
    their trials, or closed as FAILED when the run ends without them.

    Args:
        run_dir: The run's directory (``<storage_path>/<name>``).
        data: The run's data, needed only when it was passed as arrays
            (a bundled data set or a file is loaded again from the run's
            record). Defaults to `None`.
        callbacks: The run's Keras callbacks, if it had any. Defaults to `()`.
        build: The run's ``build(config)`` function, when it was passed to
            `tune` as a Python function (one given as ``'file.py:function'``
            is loaded again from the run's record). Defaults to `None`.
        hypermodel: The run's KerasTuner hypermodel, when it was passed to
            `tune` as a Python object (one given as ``'file.py:build_model'``
            is loaded again from the run's record). Defaults to `None`.
        address: Ray cluster to join. Defaults to a local Ray instance.
        verbose: 0 silent, 1 where the run is recorded, then one line per
            finished trial. Defaults to `1`.

    Returns:
        The `TuningResult` of the whole run.

    Raises:
        ConfigError: ``run_dir`` is not a run made by automl for this user,
            or the data or callbacks it needs were not given.

    Examples:
        >>> import automl
        >>> result = automl.resume("automl_runs/digits-mlp-20261124-101500")
    """
    run_dir = Path(run_dir).resolve()
    manifest = trusted_manifest(run_dir)
    run = _resumed_run(run_dir, manifest, data=data, callbacks=callbacks, build=build, hypermodel=hypermodel)
    with third_party_lines(run_dir, verbose=verbose):
        _start_ray(address, verbose=verbose)
        with optuna_warnings_only():
            return run.resume(run_dir, manifest, verbose=verbose)


def _resumed_run(
    run_dir: Path,
    manifest: Mapping[str, Any],
    *,
    data: Data | None,
    callbacks: Sequence[Any],
    build: Callable[[dict[str, Any]], Any] | None,
    hypermodel: Any = None,
) -> ResumedRun:
    """The run ``run.json`` records, with the data, callbacks, ``build`` and hypermodel it needs given again or remade."""
    loaded = run_data(manifest, data, again=f"automl.resume({str(run_dir)!r}, data=...)")
    return ResumedRun(  # where it is recorded comes from the manifest, in `ResumedRun.resume`
        space=_run_space(run_dir, manifest, loaded, hypermodel),
        data=loaded,
        settings=FitSettings(**manifest["settings"]),
        num_trials=manifest["num_trials"],
        time_budget_s=manifest["time_budget_s"],
        resources=manifest["resources"],
        registered_model_name=manifest["registered_model_name"],
        callbacks=tuple(_run_callbacks(manifest, callbacks)),
        build=run_build(manifest, build, again="build=..."),
        reported=tuple(manifest["reported"]) if manifest["reported"] else None,
        extra_objectives=tuple((name, mode) for name, mode in manifest["extra_objectives"]),
        workers=WorkerPolicy(**manifest["workers"]),
        tensorboard=manifest["tensorboard"],
        log_tensorboard_to_mlflow=manifest["log_tensorboard_to_mlflow"],
    )


def _run_space(
    run_dir: Path, manifest: Mapping[str, Any], data: TrainingData | StreamingData, hypermodel: Any
) -> Space:
    """The run's space; a hypermodel's from its file reference loaded again, else from ``hypermodel``.

    Raises:
        ConfigError: The run tuned a hypermodel passed as a Python object, and ``hypermodel`` is `None`.
    """
    stored = manifest["space"]
    if "hypermodel" not in stored:
        return Space.from_dict(stored)
    if not isinstance(data, TrainingData):  # planning refused it when the run began
        raise ConfigError("a hypermodel takes in-memory data, not files streamed in the worker.", field="data")
    source = stored.get("ref") or hypermodel
    if source is None:
        raise ConfigError(
            f"this run tuned the hypermodel {stored['hypermodel']}, passed as a Python object; pass it "
            f"again: automl.resume({str(run_dir)!r}, hypermodel={stored['hypermodel']}).",
            field="hypermodel",
        )
    return hypermodel_space(source, data)


def _run_callbacks(manifest: Mapping[str, Any], callbacks: Sequence[Any]) -> Sequence[Any]:
    """The run's Keras callbacks: those passed again, else remade by the functions the run names.

    Raises:
        ConfigError: The run had callbacks that were objects, and none were passed again.
    """
    if manifest["callback_refs"] and not callbacks:
        callbacks, _ = made_callbacks(manifest["callback_refs"])
    if manifest["callbacks"] and not callbacks:
        raise ConfigError(
            f"this run gave its trials {manifest['callbacks']} Keras callback(s); pass them again: callbacks=[...].",
            field="callbacks",
        )
    return callbacks
