"""The learning rate per epoch: warm-up, then constant, cosine or exponential decay.

Pure Python (no TensorFlow): a callback sets the optimizer's learning rate from
it at the start of every epoch. The rate depends only on the epoch index, so a
trial resumed at a later epoch gets the same rates as one that never stopped,
and the optimizer's learning rate stays a plain float in saved models.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from trainers._settings import body_layers

__all__ = ["EpochSchedule"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EpochSchedule:
    """Learning rate of each (0-based) epoch.

    Args:
        base: The config's learning rate.
        kind: ``"constant"``, ``"cosine"`` or ``"exponential"``.
        warmup: Epochs of linear warm-up: epoch ``e < warmup`` runs at
            ``base * (e + 1) / (warmup + 1)``.
        decay: Per-epoch factor of the exponential schedule.
        epochs: The trial's epoch cap: cosine reaches 0 there.
        fine_tune_epoch: A backbone's first fine-tuning epoch, from which
            every rate is multiplied by ``fine_tune_factor``; ``None``: no backbone.
        fine_tune_factor: The backbone's ``fine_tune_lr_factor``.
    """

    base: float
    kind: str
    warmup: int
    decay: float
    epochs: int
    fine_tune_epoch: int | None = None
    fine_tune_factor: float = 1.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, epochs: int) -> EpochSchedule:
        """Reads a config returned by `check_config`."""
        backbone = next((layer for _, layer in body_layers(config) if layer["type"] == "backbone"), None)
        return cls(
            base=float(config["learning_rate"]),
            kind=config["lr_schedule"],
            warmup=int(config["warmup_epochs"]),
            decay=float(config["lr_decay"] or 1.0),
            epochs=epochs,
            fine_tune_epoch=None if backbone is None else int(backbone["head_epochs"]),
            fine_tune_factor=1.0 if backbone is None else float(backbone["fine_tune_lr_factor"]),
        )

    @property
    def is_constant(self) -> bool:
        """Whether no epoch needs its rate set (a backbone's switch to fine-tuning compiles at its own rate)."""
        return self.kind == "constant" and self.warmup == 0

    def __call__(self, epoch: int) -> float:
        rate = self._scheduled(epoch)
        if self.fine_tune_epoch is not None and epoch >= self.fine_tune_epoch:
            return rate * self.fine_tune_factor
        return rate

    def _scheduled(self, epoch: int) -> float:
        if epoch < self.warmup:
            return self.base * (epoch + 1) / (self.warmup + 1)
        done = epoch - self.warmup
        if self.kind == "exponential":
            return self.base * self.decay**done
        if self.kind == "cosine":
            # Like keras.optimizers.schedules.CosineDecay: 0 at the cap, so the last epoch still learns.
            progress = min(done / max(self.epochs - self.warmup, 1), 1.0)
            return self.base * 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.base
