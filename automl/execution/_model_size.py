"""Keras callbacks of the trial's worker: the model's parameter count, and what its MLflow flavor records.

The parameter count is reported with every epoch: an objective for
accuracy-vs-size searches. Imported in the workers only (it imports Keras).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from automl.execution._flavor_info import FLAVOR_FILE

__all__ = ["PARAMS_METRIC", "FlavorInfo", "ModelSize"]

logger = logging.getLogger(__name__)

PARAMS_METRIC = "params"


class ModelSize(keras.callbacks.Callback):
    """Adds ``params`` (the model's parameter count) to each epoch's logs.

    Keras hands the same logs to the callbacks after it, so the trainer's
    reporter sends it along with the epoch's metrics.
    """

    def on_epoch_end(self, epoch: int, logs: MutableMapping[str, Any] | None = None) -> None:
        if logs is not None:
            logs[PARAMS_METRIC] = float(self.model.count_params())


class FlavorInfo(keras.callbacks.Callback):
    """Writes what the best model's MLflow flavor records into the checkpoint directory, after the first epoch.

    The Keras version and backend, TensorFlow's version (the model's pip
    requirements), and the shape and dtype of the model's output on
    ``sample`` (its signature): the driver reads them from the best trial's
    checkpoint (`automl.execution._flavor_info`). Runs before the trainer's
    reporter, so the first checkpoint it hands over holds the file. A model
    whose output is not one array writes nothing; the driver then loads the
    model itself.

    Args:
        checkpoint_dir: The directory the trainer writes the trial's checkpoints into.
        sample: A few input rows, the ones the driver gives MLflow as input example.
    """

    def __init__(self, checkpoint_dir: Path, sample: Any) -> None:
        super().__init__()
        self._dir = checkpoint_dir
        self._sample = sample
        self._written = False

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self._written:
            return
        self._written = True
        try:
            import tensorflow as tf

            output = np.asarray(keras.ops.convert_to_numpy(self.model(self._sample, training=False)))
        except Exception:  # e.g. several outputs: the driver falls back to loading the model
            logger.debug("No MLflow flavor info for this model", exc_info=True)
            return
        info = {
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "tensorflow_version": tf.__version__,
            "output_shape": list(output.shape[1:]),
            "output_dtype": str(output.dtype),
        }
        tmp = self._dir / f".{FLAVOR_FILE}.tmp"
        tmp.write_text(json.dumps(info), encoding="utf-8")
        os.replace(tmp, self._dir / FLAVOR_FILE)
