"""When each fit begins and ends in each process: where a variant's wall time goes besides fitting.

`FitTimeline` is a Keras callback that appends one JSON line per fit begin,
epoch end and fit end to a file (short single writes in append mode, so
processes writing at once do not interleave). `phases` reads the file back:
how long the variant took to start its first fit, how long each process
spent between one fit's end and its next fit's begin, how long the variant
ran after its last fit ended, and the median epoch within a fit.

Importing this module imports Keras (and TensorFlow): a driver that imports it
no longer pays that import later in the run, so a timed run with a timeline
is not the one to quote.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

__all__ = ["FitTimeline", "Phases", "phases"]


class FitTimeline(keras.callbacks.Callback):
    """Appends ``{"t", "pid", "event"}`` at each fit's begin (``begin``), epoch end and end."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)

    def _write(self, event: str) -> None:
        line = json.dumps({"t": time.time(), "pid": os.getpid(), "event": event})
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(line + "\n")

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._write("begin")

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._write("epoch")

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self._write("end")


@dataclasses.dataclass(frozen=True)
class Phases:
    """Seconds of a variant outside its fits (wall clock)."""

    first_fit: float  # from the variant's start to its first fit's begin
    between: float  # mean time in a process from one fit's end to its next fit's begin
    gaps: int  # how many such gaps the mean is over
    after_last: float  # from the last fit's end to the variant's end
    processes: int  # processes that ran fits
    epoch: float  # median time from one epoch's end to the next's within a fit (from the 2nd epoch on)


def phases(path: Path, *, start: float, end: float) -> Phases:
    """Reads a `FitTimeline` file of a variant that ran from ``start`` to ``end`` (``time.time()``)."""
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    if not events:
        raise ValueError(f"{path} holds no fit events")
    gaps, epochs = [], []
    for pid in {e["pid"] for e in events}:
        last_end = last_epoch = None
        for event in (e for e in events if e["pid"] == pid):
            if event["event"] == "begin":
                if last_end is not None:
                    gaps.append(event["t"] - last_end)
                last_epoch = None
            elif event["event"] == "epoch":
                if last_epoch is not None:  # from a fit's 2nd epoch on: the 1st also builds the graph
                    epochs.append(event["t"] - last_epoch)
                last_epoch = event["t"]
            elif event["event"] == "end":
                last_end = event["t"]
    begins = [e["t"] for e in events if e["event"] == "begin"]
    ends = [e["t"] for e in events if e["event"] == "end"]
    return Phases(
        first_fit=min(begins) - start,
        between=statistics.mean(gaps) if gaps else 0.0,
        gaps=len(gaps),
        after_last=end - max(ends),
        epoch=statistics.median(epochs) if epochs else math.nan,
        processes=len({e["pid"] for e in events}),
    )
