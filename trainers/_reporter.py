"""How the trainer hands results out: a small protocol, so it knows nothing of Ray."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["Reporter"]


class Reporter(Protocol):
    """Receives one report per finished epoch.

    ``epoch`` counts finished epochs (1 after the first). ``checkpoint`` is the
    trial's checkpoint directory, complete for this epoch (or ``None``).
    ``last`` is true on the epoch after which the fit ends by itself (epoch
    cap or early stopping), so a consumer can tell an ended trial from one
    stopped from outside. That report comes after the fit has wound down
    (every callback's ``on_train_end``), so the consumer may end the trial
    at it; a fit that then fails (a diverged loss, a memory limit) never
    sends it as last.
    """

    def report(
        self, metrics: Mapping[str, float], *, epoch: int, checkpoint: Path | None, last: bool
    ) -> None: ...
