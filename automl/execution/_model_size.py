"""The model's parameter count, reported with every epoch: an objective for accuracy-vs-size searches.

Imported in the workers only (it imports Keras).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import keras

__all__ = ["PARAMS_METRIC", "ModelSize"]

PARAMS_METRIC = "params"


class ModelSize(keras.callbacks.Callback):
    """Adds ``params`` (the model's parameter count) to each epoch's logs.

    Keras hands the same logs to the callbacks after it, so the trainer's
    reporter sends it along with the epoch's metrics.
    """

    def on_epoch_end(self, epoch: int, logs: MutableMapping[str, Any] | None = None) -> None:
        if logs is not None:
            logs[PARAMS_METRIC] = float(self.model.count_params())
