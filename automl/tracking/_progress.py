"""The run's progress on the console: a line per finished trial, a status line now and then, the time left."""

from __future__ import annotations

import math
import textwrap
import time
from collections.abc import Mapping

from automl._result import TrialState
from automl.tracking._ranking import Ranking
from automl.tracking._records import TrialRecord

__all__ = ["Progress"]


class Progress:
    """Prints the run's progress lines; the caller decides when (verbosity, Ray's steps).

    Args:
        ranking: Scores the trials (the best value so far).
        num_trials: Trial budget.
        time_budget_s: The run's wall-time budget, if any: the estimate of
            the time left never goes past its end.
    """

    def __init__(self, ranking: Ranking, *, num_trials: int, time_budget_s: float | None) -> None:
        self.ranking = ranking
        self.num_trials = num_trials
        self.time_budget_s = time_budget_s
        self.started = self.said_at = time.time()
        # From Ray's trial list at its last step: trials paused (HyperBand) and the most run at once.
        self.paused = 0
        self.slots = 1

    def restart(self) -> None:
        """The clock starts again (a resumed run's driver)."""
        self.started = self.said_at = time.time()

    def ended(self, record: TrialRecord, records: Mapping[str, TrialRecord]) -> None:
        """A line for a trial that ended, with the run's status."""
        took = (record.ended or time.time()) - record.started
        best = self.ranking.best(record)
        detail = textwrap.shorten(record.error, 80) if record.error else f"{self.ranking.metric}={best:.4f}"
        self.say(
            f"trial {record.number:>3} {record.state.value:<8} {detail} ({record.epochs} epochs, {took:.1f}s)"
            f" | {self.status(records)}"
        )

    def step(self, records: Mapping[str, TrialRecord], *, running: int, paused: int, every_s: float) -> None:
        """Ray's trials at one step of its loop; a status line once ``every_s`` seconds passed without a line."""
        self.paused = paused
        self.slots = max(self.slots, running)
        if time.time() - self.said_at >= every_s:
            self.say(self.status(records))

    def say(self, line: str) -> None:
        print(f"[automl] {line}", flush=True)
        self.said_at = time.time()

    def status(self, records: Mapping[str, TrialRecord]) -> str:
        """Trials done (by state), running and paused, the best finished value, elapsed and time left."""
        states = [r.state for r in records.values()]
        done = sum(state.is_finished() for state in states)
        counts = ", ".join(
            f"{n} {state.value.lower()}"
            for state in TrialState
            if (n := states.count(state)) and state.is_finished()
        )
        status = f"{done}/{self.num_trials} done" + (f" ({counts})" if counts else "")
        unfinished = states.count(TrialState.RUNNING)  # a paused trial has not finished either
        paused = min(self.paused, unfinished)
        if running := unfinished - paused:
            status += f", {running} running"
        if paused:
            status += f", {paused} paused"
        overall = self.ranking.best_record(records.values(), finished=True)
        if overall is not None:
            status += f", best {self.ranking.metric}={self.ranking.best(overall):.4f}"
        return f"{status} | {self.clock(records)}"

    def clock(self, records: Mapping[str, TrialRecord]) -> str:
        """Elapsed time, and the time left once a round of trials (one per slot) has finished.

        The trials left take the finished ones' mean duration, as many at once
        as ran at once so far; a time budget bounds the estimate.
        """
        elapsed = time.time() - self.started
        took = [r.ended - r.started for r in records.values() if r.state.is_finished() and r.ended]
        left_trials = self.num_trials - len(took)
        if len(took) < self.slots or left_trials <= 0:
            return f"elapsed {elapsed:.0f}s"
        left = sum(took) / len(took) * math.ceil(left_trials / self.slots)
        if self.time_budget_s is not None:
            left = max(min(left, self.time_budget_s - elapsed), 0.0)
        return f"elapsed {elapsed:.0f}s, ~{left:.0f}s left"
