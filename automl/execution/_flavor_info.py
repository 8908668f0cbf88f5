"""What the driver needs from a trial's worker to log the best model in MLflow's Keras flavor.

The flavor records the Keras version and backend, and the model's signature
needs the shape and dtype of its output: all known in the worker, which has
TensorFlow imported and the model built. The worker writes them beside its
checkpoint (`automl.execution._model_size.FlavorInfo`); the driver then writes
the MLflow model's files from the saved ``.keras`` file without importing
TensorFlow. Imported in the driver: nothing here imports Keras.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainers import StreamingData, TrainingData

__all__ = ["FLAVOR_FILE", "example_rows", "read_flavor_info"]

FLAVOR_FILE = "keras_flavor.json"
_KEYS = {"keras_version", "keras_backend", "tensorflow_version", "output_shape", "output_dtype"}


def example_rows(data: TrainingData | StreamingData) -> np.ndarray:
    """The input rows of the best model's MLflow input example: five validation rows, or a file source's."""
    rows = data.x_val if isinstance(data, TrainingData) else data.example
    return rows[:5]


def read_flavor_info(directory: Path) -> dict[str, Any] | None:
    """What the worker wrote into the checkpoint ``directory``, or None (a checkpoint without it)."""
    try:
        info = json.loads((directory / FLAVOR_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and _KEYS <= info.keys() else None
