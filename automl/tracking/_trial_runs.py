"""What happens to a trial, as writes to its nested MLflow run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlflow.entities import Param

__all__ = ["param_batches"]

_BATCH_LIMIT = 100  # params per log_batch call accepted by every MLflow store


def param_batches(params: Mapping[str, Any]) -> list[list[Param]]:
    """A flat config as MLflow params (``None`` as ``"None"``), in batches every store accepts."""
    items = [Param(k, "None" if v is None else str(v)) for k, v in params.items()]
    return [items[start : start + _BATCH_LIMIT] for start in range(0, len(items), _BATCH_LIMIT)]


# What Ray Tune writes into a trial's directory itself; other files there came from the trial's callbacks.
_RAY_TRIAL_FILES = frozenset({"params.json", "params.pkl", "progress.csv", "result.json", "error.txt", "error.pkl"})
_CHECKPOINT_PREFIX = "checkpoint_"
