"""Hyperparameter tuning and AutoML orchestration for Keras.

Optuna samples configurations, Ray Tune schedules the trials, every trial is a
full Keras ``compile``/``fit``, and MLflow records everything.

Example:
    >>> import automl
    >>> from search_spaces import mlp
    >>> result = automl.tune(mlp(), data="digits", num_trials=3, epochs=2)
"""

from automl._api import tune
from automl._experiment import DataSpec, Experiment
from automl._result import TrialState, TuningResult
from automl._resume import resume
from search_spaces import AutoMLError, ConfigError
from trainers import TrialFailedError

__all__ = [
    "AutoMLError",
    "ConfigError",
    "DataSpec",
    "Experiment",
    "TrialFailedError",
    "TrialState",
    "TuningResult",
    "resume",
    "tune",
]
