"""One trial of Keras training: data → model → compile → fit → reports.

Knows nothing of Ray or MLflow: results go to a `Reporter` it is given.
Data, settings and config checks import no TensorFlow; the Keras parts
(`train`, `build_model`, ...) import it on first use, so a driver that only
validates and schedules never loads it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainers._data import Task, TrainingData, from_arrays, load_sklearn
from trainers._dataset import from_dataset
from trainers._errors import TrialFailedError
from trainers._images import image_directory
from trainers._reporter import Reporter
from trainers._settings import (
    CONFIG_KEYS,
    MUTABLE_ON_RESUME,
    OPTIMIZERS,
    OPTIONAL_METRICS,
    FitSettings,
    best_of,
    better_sign,
    check_config,
    reported_metrics,
)
from trainers._stream import StreamingData, from_loader
from trainers._tables import table
from trainers._tabular import Column, from_frame, raw_input_model
from trainers._texts import text_directory
from trainers._tfrecords import tfrecords

if TYPE_CHECKING:
    from trainers._callbacks import ReporterCallback
    from trainers._devices import configure_threads, distribution_strategy, enable_memory_growth
    from trainers._fit import TrainOutcome, reported_by_model, train
    from trainers._model import BuildFn, build_custom, build_model, compile_model

_LAZY = {
    "ReporterCallback": "trainers._callbacks",
    "TrainOutcome": "trainers._fit",
    "train": "trainers._fit",
    "reported_by_model": "trainers._fit",
    "BuildFn": "trainers._model",
    "build_custom": "trainers._model",
    "build_model": "trainers._model",
    "compile_model": "trainers._model",
    "configure_threads": "trainers._devices",
    "distribution_strategy": "trainers._devices",
    "enable_memory_growth": "trainers._devices",
}

__all__ = [
    "BuildFn",
    "CONFIG_KEYS",
    "Column",
    "MUTABLE_ON_RESUME",
    "OPTIMIZERS",
    "OPTIONAL_METRICS",
    "FitSettings",
    "Reporter",
    "StreamingData",
    "ReporterCallback",
    "Task",
    "TrainOutcome",
    "TrainingData",
    "TrialFailedError",
    "best_of",
    "better_sign",
    "build_custom",
    "build_model",
    "check_config",
    "compile_model",
    "configure_threads",
    "distribution_strategy",
    "enable_memory_growth",
    "from_arrays",
    "from_dataset",
    "from_frame",
    "from_loader",
    "image_directory",
    "load_sklearn",
    "raw_input_model",
    "reported_by_model",
    "reported_metrics",
    "table",
    "text_directory",
    "tfrecords",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainers' has no attribute {name!r}")
