"""A trial's TensorBoard: its own event files (``tensorboard=True``) and the user's `TensorBoard` callbacks, per trial."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from automl._trial_names import TENSORBOARD_DIR, read_trial_name

__all__ = ["trial_tensorboard"]


def trial_tensorboard(callbacks: Sequence[Any], trial_dir: Path, *, tensorboard: bool) -> list[Any]:
    """The trial's callbacks: each user `keras.callbacks.TensorBoard` writing where no other trial writes.

    A ``TensorBoard(log_dir=X)`` with an absolute ``X`` writes into
    ``X/<trial name>`` (``trial-001``, as the trial's MLflow run is named),
    so the trials of a run no longer write into one directory and
    ``tensorboard --logdir X`` shows them side by side. A relative ``X`` is
    already the trial's own: the trial runs in its directory (`in_trial_dir`),
    whose files are attached to its MLflow run. The name is the one the
    driver wrote into the trial's directory; a
    worker that cannot see the run directory (another machine, no shared
    storage) names it as the directory, ``trial_<id>``. With
    ``tensorboard``, `EpochSummaries` writes the epoch scalars into
    ``<trial_dir>/tensorboard``.
    """
    import keras  # in the worker, with TensorFlow

    from trainers._callbacks import EpochSummaries

    name = read_trial_name(trial_dir) or trial_dir.name
    made = []
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.TensorBoard) and os.path.isabs(callback.log_dir):
            callback = copy.deepcopy(callback)
            callback.log_dir = os.path.join(callback.log_dir, name)
        made.append(callback)
    if tensorboard:
        made.append(EpochSummaries(trial_dir / TENSORBOARD_DIR))
    return made
