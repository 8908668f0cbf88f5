"""Errors raised while a trial trains."""

from __future__ import annotations

from search_spaces import AutoMLError

__all__ = ["TrialFailedError"]


class TrialFailedError(AutoMLError):
    """This trial failed (its loss diverged, say); the run records it and goes on."""
