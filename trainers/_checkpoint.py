"""A trial's checkpoint directory: enough to continue the trial exactly where it was.

best.keras   the best model so far (ModelCheckpoint, save_best_only)
last.keras   the model after the latest epoch, optimizer state included
state.json   epochs done, metric history, early-stopping, best-checkpoint and plateau state,
             and a backbone's fine-tuning phase
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

from search_spaces import ConfigError

__all__ = ["BEST_FILE", "LAST_FILE", "STATE_FILE", "Progress", "copy_checkpoint"]

BEST_FILE = "best.keras"
LAST_FILE = "last.keras"
STATE_FILE = "state.json"


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a trial stands after ``epoch`` finished epochs."""

    epoch: int
    history: dict[str, list[float]]
    stopping_wait: int
    stopping_best: float | None
    stopping_best_epoch: int  # 0-based, as Keras' EarlyStopping counts
    checkpoint_best: float | None
    # ReduceLROnPlateau's counters (the reduced rate itself is an optimizer variable in last.keras).
    plateau_wait: int = 0
    plateau_best: float | None = None
    plateau_cooldown: int = 0
    # The config's learning rate the checkpoint was trained with: a trial resumed
    # with another one (Population Based Training) scales the optimizer's rate.
    learning_rate: float | None = None
    # A backbone's trial: 1 while the backbone is frozen, 2 once it is fine-tuned (last.keras holds which).
    phase: int = 1

    def write(self, directory: Path) -> None:
        """Writes ``state.json`` atomically (a crash never leaves half a file)."""
        tmp = directory / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(dataclasses.asdict(self)))
        os.replace(tmp, directory / STATE_FILE)

    @classmethod
    def read(cls, directory: Path) -> Progress:
        path = directory / STATE_FILE
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                f"{path} is not a trial checkpoint written by this trainer: {exc}.", field="resume_from"
            ) from exc


def copy_checkpoint(source: Path, target: Path) -> None:
    """Copies a checkpoint's files from ``source`` into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for name in (BEST_FILE, LAST_FILE, STATE_FILE):
        if (source / name).exists() and source.resolve() != target.resolve():
            shutil.copyfile(source / name, target / name)
