"""A trial's memory limit, enforced: ``resources_per_trial["memory"]`` is more than a scheduling hint.

Ray only reserves the ``memory`` resource when it places a trial; nothing stops
the trial from using more, and the first sign is usually the whole node
swapping or Ray's memory monitor killing some worker. This callback watches
the worker's resident memory while the trial trains and fails the trial —
with the figures in its error — once it goes over.

Imported in the workers only (it imports Keras).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from automl.execution._workers import worker_rss_mib
from trainers import TrialFailedError

__all__ = ["MemoryLimit"]

_EVERY = 10  # batches between checks: reading /proc costs a good share of a small model's batch


class MemoryLimit(keras.callbacks.Callback):
    """Fails the trial once its worker's resident memory exceeds ``limit_bytes``.

    Checked once the model and its optimizer are built, before the first
    batch (a model too big for the limit fails there, without training); then
    after the first batch, every 10 batches and at each epoch's end: a soft
    limit, at batch granularity (one batch that allocates far more runs to its
    end before it is caught). With ``steps_per_execution`` above 10, Keras
    calls it once per call into TensorFlow, and it checks then: it does not
    make ``"auto"`` fall back to one batch per call.
    """

    needs_every_batch = False

    def __init__(self, limit_bytes: float) -> None:
        super().__init__()
        self._limit_mib = limit_bytes / 2**20
        self._next_check = 0  # the batch index, within the epoch, of the next check
        self._epoch = 0
        self._over: tuple[float, int] | None = None

    def _check(self, epoch: int) -> None:
        rss = worker_rss_mib()
        if rss > self._limit_mib and self._over is None:
            self._over = (rss, epoch + 1)
            self.model.stop_training = True

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # Keras builds the weights and the optimizer's slots before this hook: nothing has trained yet,
        # so nothing is lost by failing at once rather than after the first call into TensorFlow.
        self._over = None
        rss = worker_rss_mib()
        if rss > self._limit_mib:
            raise self._error(rss, "before its first batch")

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._next_check = 0

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        # `batch` is the last batch the call ran: steps_per_execution apart.
        if batch >= self._next_check:
            self._check(self._epoch)
            self._next_check = batch + _EVERY

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._check(epoch)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._over is not None:
            rss, epoch = self._over
            raise self._error(rss, f"in epoch {epoch}")

    def _error(self, rss_mib: float, when: str) -> TrialFailedError:
        return TrialFailedError(
            f"the trial's worker used {rss_mib:.0f} MiB {when}, over its memory limit of "
            f"{self._limit_mib:.0f} MiB (resources_per_trial.memory); give trials more memory or "
            "narrow the space (smaller layers or batches)."
        )
