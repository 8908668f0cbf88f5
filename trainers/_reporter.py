"""How the trainer hands results out: a small protocol, so it knows nothing of Ray."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

__all__ = ["Reporter"]


class Reporter(Protocol):
    """Receives one report per finished epoch.

    ``epoch`` counts finished epochs (1 after the first). ``checkpoint`` is the
    trial's checkpoint directory when a new best model was saved this epoch,
    else ``None``.
    """

    def report(self, metrics: Mapping[str, float], *, epoch: int, checkpoint: Path | None) -> None: ...
