"""Hyperparameter tuning and AutoML orchestration for Keras.

Optuna samples configurations, Ray Tune schedules the trials, every trial is a
full Keras ``compile``/``fit``, and MLflow records everything.

Examples:
    >>> import automl
    >>> from search_spaces import mlp
    >>> result = automl.tune(mlp(), data="digits", num_trials=3, epochs=2)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from search_spaces import AutoMLError, ConfigError
from trainers import TrialFailedError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from automl._result import RunInterrupted, TrialState, TrialSummary, TuningResult
    from automl.planning._api import tune
    from automl.planning._experiment import DataSpec, Experiment
    from automl.planning._resume import resume

# Where the rest of the public names live. They are imported on first use, so
# Ray's trial workers, which import only automl.execution._trainable, do not load MLflow
# and Optuna: each worker starts sooner and smaller.
_LAZY = {
    "tune": "automl.planning._api",
    "DataSpec": "automl.planning._experiment",
    "Experiment": "automl.planning._experiment",
    "RunInterrupted": "automl._result",
    "TrialState": "automl._result",
    "TrialSummary": "automl._result",
    "TuningResult": "automl._result",
    "resume": "automl.planning._resume",
}

__all__ = [
    "AutoMLError",
    "ConfigError",
    "DataSpec",
    "Experiment",
    "RunInterrupted",
    "TrialFailedError",
    "TrialState",
    "TrialSummary",
    "TuningResult",
    "resume",
    "tune",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
