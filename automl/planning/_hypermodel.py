"""A KerasTuner hypermodel (``build_model(hp)`` or a ``HyperModel``): loaded, and checked before Ray starts.

As KerasTuner builds the model when the tuner is made, the plan samples the
first trial's values (with a copy of the run's sampler, so the run's first
trial gets the same ones), builds the model with them and, for an overridden
``HyperModel.fit``, fits it one epoch on a few rows: a hypermodel that fails
does so here, with its error and the values, not in every trial.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Literal

import optuna

from automl.execution._runner import optuna_warnings_only
from automl.planning._build import _check_reloads, _reported, load_build, resolve_build_ref
from search_spaces import ConfigError
from search_spaces._hypermodel import FIT_KEYWORDS, HyperModelSpace, as_hypermodel
from search_spaces._hyperparameters import sampling_hyperparameters
from trainers import FitSettings, TrainingData, TrialFailedError

__all__ = ["check_hypermodel", "hypermodel_space", "resolve_hypermodel_ref"]

# Rows of each split a check fits on: enough for a batch, few enough to take a moment.
_CHECK_ROWS = 32


def resolve_hypermodel_ref(ref: Any, base_dir: Any) -> Any:
    """A ``'file.py:build_model'`` of an experiment file made absolute; an object as it is."""
    return resolve_build_ref(ref, base_dir, field="hypermodel") if isinstance(ref, str) else ref


def hypermodel_space(hypermodel: Any, data: TrainingData) -> HyperModelSpace:
    """The space ``hypermodel`` (an object or a ``'file.py:name'`` reference) declares.

    Raises:
        ConfigError: The reference cannot be loaded, or names no hypermodel.
    """
    ref = resolve_build_ref(hypermodel, Path.cwd(), field="hypermodel") if isinstance(hypermodel, str) else None
    if ref is not None:
        hypermodel = load_build(ref, field="hypermodel", objects=True)
    loaded = as_hypermodel(hypermodel)
    loaded.ref = ref
    rows = (data.x_train[:2], data.y_train[:2], data.x_val[:2], data.y_val[:2])
    return HyperModelSpace(loaded, fit_rows=rows)


def check_hypermodel(
    space: HyperModelSpace,
    data: TrainingData,
    settings: FitSettings,
    sampler: optuna.samplers.BaseSampler,
    direction: Literal["min", "max"],
) -> tuple[str, ...]:
    """Builds (and, with an overridden ``fit``, fits briefly) the model of the first values the sampler picks.

    Returns:
        The metric names the model reports each epoch.

    Raises:
        ConfigError: The hypermodel raised (its error and the values sampled
            so far), returned something other than a Keras model or one that
            does not fit the data or cannot be saved, or its ``fit`` did not
            train with the callbacks it was given or did not return the objective.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as in the workers
    import keras

    from trainers import build_custom, check_config

    name = space.hypermodel.name
    with optuna_warnings_only():
        study = optuna.create_study(
            sampler=copy.deepcopy(sampler), direction="minimize" if direction == "min" else "maximize"
        )
    hp = sampling_hyperparameters(study.ask())
    try:
        space.declare(hp)
        values = dict(hp.values)
        build, fit = space.trial_parts(values)
        full = check_config({}, task=data.task, custom_model=True)
        model = build_custom(build, full, data, settings=settings)
        reported = _reported(model, full, data)
        _check_reloads(model)
        if fit is not None:
            _check_fit(fit, model, data, settings.monitor)
    except ConfigError as exc:  # the trainer's checks name the function as build(config)
        reason = exc.reason.replace(f"{name}(config)", f"{name}(hp)")
        field = "hypermodel" if exc.field in (None, "build") else exc.field
        raise ConfigError(f"{reason} (hp.values: {hp.values})", field=field) from exc
    except Exception as exc:  # the user's code raised
        raise ConfigError(
            f"{name} raised {type(exc).__name__}: {exc}{_hint(exc)} (hp.values: {hp.values})", field="hypermodel"
        ) from exc
    finally:
        keras.backend.clear_session()
    return reported


def _hint(exc: Exception) -> str:
    """For a ``fit`` that sets an argument automl passes too (KerasTuner passes search()'s the same way)."""
    if isinstance(exc, TypeError) and "multiple values for keyword argument" in str(exc):
        return (
            f"; HyperModel.fit gets {list(FIT_KEYWORDS)} as keyword arguments, as KerasTuner passes "
            "search()'s: to choose one with hp, replace it in kwargs (kwargs['epochs'] = hp.Int(...))"
        )
    return ""


def _check_fit(fit: Any, model: Any, data: TrainingData, monitor: str) -> None:
    """One epoch of the overridden ``HyperModel.fit`` on a few rows, checked as the trials check it."""
    from trainers._fit import one_hot_for, users_fit

    rows = slice(0, _CHECK_ROWS)
    train = (data.x_train[rows], one_hot_for(model, data.y_train[rows]))
    validation = (data.x_val[rows], one_hot_for(model, data.y_val[rows]))
    try:
        users_fit(fit, model, train, validation, monitor=monitor, callbacks=[], epochs=(0, 1))
    except TrialFailedError as exc:
        raise ConfigError(str(exc), field="hypermodel.fit") from exc
