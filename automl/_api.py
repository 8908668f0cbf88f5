"""`automl.tune`: the public entry point of a tuning run."""

from __future__ import annotations

import datetime
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import optuna

from automl._choices import make_sampler, parse_scheduler
from automl._result import TuningResult
from automl._runner import Run
from search_spaces import ConfigError, Space
from search_spaces._errors import located
from trainers import FitSettings, TrainingData, check_config, load_sklearn

__all__ = ["tune"]

_RESOURCE_KEYS = ("cpu", "gpu")


def _check_int(name: str, value: Any, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"expected an int >= {low}, but got {value!r}.", field=name)


def _resources(resources: Mapping[str, float] | None) -> dict[str, float]:
    resources = {"cpu": 1} if resources is None else dict(resources)
    for key, value in resources.items():
        if key not in _RESOURCE_KEYS:
            raise ConfigError(
                f"unknown resource {key!r}; accepted: {list(_RESOURCE_KEYS)}.",
                field=f"resources_per_trial.{key}",
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not value >= 0
            or math.isinf(value)
        ):
            raise ConfigError(
                f"expected a number >= 0, but got {value!r}.", field=f"resources_per_trial.{key}"
            )
    if resources.get("cpu", 0) <= 0 and resources.get("gpu", 0) <= 0:
        raise ConfigError(
            f"a trial needs some CPU or GPU, but got {resources!r}.", field="resources_per_trial"
        )
    return resources


def _data(data: TrainingData | str) -> TrainingData:
    if isinstance(data, str):
        return load_sklearn(data)
    if not isinstance(data, TrainingData):
        raise ConfigError(
            "expected trainers.TrainingData (from trainers.from_arrays or trainers.load_sklearn) "
            f"or the name of a bundled data set, but got {type(data).__name__}.",
            field="data",
        )
    return data


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

    if ray.is_initialized():
        return
    # Quiet TensorFlow's C++ start-up banner in every worker.
    env = {"TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    ray.init(
        address=address,
        include_dashboard=False,
        logging_level=logging.WARNING,
        # Progress comes from the driver; worker logs stay in Ray's session
        # directory unless asked for.
        log_to_driver=verbose >= 2,
        runtime_env={"env_vars": env},
    )


def tune(
    space: Space,
    *,
    data: TrainingData | str,
    metric: str = "val_accuracy",
    mode: Literal["min", "max"] = "max",
    num_trials: int = 12,
    epochs: int = 20,
    patience: int = 3,
    sampler: str | Mapping[str, Any] | optuna.samplers.BaseSampler = "tpe",
    points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
    scheduler: str | Mapping[str, Any] = "asha",
    seed: int | None = None,
    resources_per_trial: Mapping[str, float] | None = None,
    max_concurrent_trials: int | None = None,
    address: str | None = None,
    tracking_uri: str | None = None,
    experiment_name: str = "automl",
    registered_model_name: str | None = None,
    storage_path: str | Path = "automl_runs",
    name: str | None = None,
    verbose: int = 1,
) -> TuningResult:
    """Tunes a Keras model over ``space``: Optuna samples, Ray Tune schedules, MLflow records.

    Every trial is a full Keras ``compile``/``fit`` with `EarlyStopping`
    (restoring the best weights) and `ModelCheckpoint`. Everything is checked
    before Ray starts; a failing trial is recorded and the others go on.

    Args:
        space: What to search (see `search_spaces.Space`, `search_spaces.mlp`).
        data: Training and validation data, or the name of a data set bundled
            with scikit-learn (``"digits"``, ``"wine"``, ...).
        metric: Metric to optimize; one the trainer reports for the task.
            Defaults to `"val_accuracy"`.
        mode: ``"max"`` or ``"min"``. Defaults to `"max"`.
        num_trials: Number of trials. Defaults to `12`.
        epochs: Most epochs per trial. Defaults to `20`.
        patience: Early-stopping patience, in epochs. Defaults to `3`.
        sampler: An optuna sampler by name (``"tpe"``, ``"random"``,
            ``"cmaes"``, ``"qmc"``, ``"gp"``), or a mapping of the name and
            its main settings (``{"name": "tpe", "multivariate": True,
            "group": True}``), or an ``optuna.samplers.BaseSampler``.
            Defaults to `"tpe"`.
        points_to_evaluate: Configs (nested, as the space samples them) to
            run first, in order, before the sampler proposes its own; the
            sampler learns from their results. Defaults to `None`.
        scheduler: A Ray Tune scheduler that stops poor trials early, by
            name (``"asha"``, ``"hyperband"``, ``"median"``, ``"fifo"``) or
            as a mapping with settings (``{"name": "asha", "grace_period": 2,
            "reduction_factor": 3}``); time is counted in epochs. Defaults
            to `"asha"`.
        seed: Seed of the sampler. Defaults to `None`.
        resources_per_trial: ``{"cpu": n, "gpu": g}`` per trial (fractions
            allowed). Defaults to one CPU.
        max_concurrent_trials: Cap on trials running at once. Defaults to as
            many as the resources allow.
        address: Ray cluster to join (``"auto"``, ``"ray://HOST:PORT"``).
            Defaults to starting a local Ray instance (or using the one this
            process already started).
        tracking_uri: MLflow tracking URI. Defaults to ``mlflow.db`` (sqlite)
            in the working directory.
        experiment_name: MLflow experiment. Defaults to `"automl"`.
        registered_model_name: Model Registry name under which the best
            model gets a new version. Defaults to ``experiment_name``.
        storage_path: Where run directories go. Defaults to `"automl_runs"`.
        name: Name of this run's directory and MLflow parent run. Defaults to
            ``<experiment_name>-<timestamp>``.
        verbose: 0 silent, 1 one line per finished trial, 2 also the
            workers' logs. Defaults to `1`.

    Returns:
        A `TuningResult` with the best config and value, a DataFrame of trials
        and the best model's ``.keras`` path.

    Raises:
        ConfigError: Bad input, before any trial starts.
        AutoMLError: No trial produced a finite value of ``metric``.

    Example:
        >>> import automl
        >>> from search_spaces import mlp
        >>> result = automl.tune(mlp(), data="digits", num_trials=3, epochs=2)
        >>> result.best_config["layers"][0]["type"]
        'dense'
    """
    if not isinstance(space, Space):
        raise ConfigError(f"expected a search_spaces.Space, but got {type(space).__name__}.", field="space")
    check_config(space.default_config())
    data = _data(data)
    settings = FitSettings(epochs=epochs, monitor=metric, mode=mode, patience=patience)
    settings.check_monitor(data.task)
    _check_int("num_trials", num_trials, low=1)
    if max_concurrent_trials is not None:
        _check_int("max_concurrent_trials", max_concurrent_trials, low=1)
    warm_start = _warm_start(space, points_to_evaluate or (), num_trials)
    optuna_sampler = make_sampler(sampler, seed=seed)
    scheduler_choice = parse_scheduler(scheduler, epochs=epochs)
    resources = _resources(resources_per_trial)
    name = name or f"{experiment_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run = Run(
        space=space,
        data=data,
        settings=settings,
        sampler=optuna_sampler,
        points_to_evaluate=warm_start,
        scheduler=scheduler_choice,
        num_trials=num_trials,
        resources=resources,
        max_concurrent_trials=max_concurrent_trials,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        registered_model_name=registered_model_name or experiment_name,
        storage_path=Path(storage_path).resolve(),
        name=name,
        seed=seed,
        verbose=verbose,
    )
    _start_ray(address, verbose=verbose)
    return run.execute()
