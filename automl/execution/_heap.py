"""Full garbage collections that skip what a process imported: its long-lived objects are frozen.

A process that imported TensorFlow, Keras and Ray holds ~500,000 objects the
collector tracks, nearly all of them module state that lives as long as the
process. A full collection visits each one, and Keras runs one at the start
of every trial (``clear_session()``), a large share of a short trial
(benchmarks/LOG.md, section 1). `gc.freeze` moves the objects alive at that moment out of every later
collection; objects made afterwards (each trial's model) are collected as
before. CPython documents it for this use (see `gc.freeze`); Instagram's
servers do the same.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_imports"]


def freeze_imports() -> None:
    """In a trial worker, before its first trial builds a model: freezes what the process holds.

    Once per process (later calls find objects frozen already). A collection
    first, so no garbage is frozen. The objects the first trial's Ray session
    holds at that moment are frozen too, and never freed: a one-off cost per
    process, not per trial.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
