"""The trials' records and how their states change, from Ray's events given as plain values."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from automl._result import TrialState
from automl.tracking._ranking import Ranking
from automl.tracking._records import TrialRecord
from automl.tracking._trial_runs import TrialRuns

__all__ = ["Trials"]


class Trials:
    """Keeps a record per trial, moves it through its states, and writes each change to its MLflow run.

    Args:
        runs: Writes the trials' MLflow runs.
        ranking: Scores the trials (each one's best epoch).
        flat_keys: The space's flat param keys: a trial's params (none: each
            config's own keys, as a hypermodel declares them).
        metric_names: Metrics kept (and logged) per epoch.
        mutated: Whether a PBT scheduler changes params while trials train:
            a record then follows its trial's config.
        on_end: Called with each trial's record once it ended.
    """

    def __init__(
        self,
        runs: TrialRuns,
        ranking: Ranking,
        *,
        flat_keys: Sequence[str],
        metric_names: Sequence[str],
        mutated: bool,
        on_end: Callable[[TrialRecord], None],
    ) -> None:
        self.records: dict[str, TrialRecord] = {}
        self._runs = runs
        self._ranking = ranking
        self._flat_keys = tuple(flat_keys)
        self._metric_names = tuple(metric_names)
        self._mutated = mutated
        self._on_end = on_end

    def _params(self, config: Mapping[str, Any]) -> dict[str, Any]:
        if not self._flat_keys:  # a hypermodel's: each config has the keys of the values it declared
            return dict(config)
        return {k: config.get(k) for k in self._flat_keys}

    def start(self, trial_id: str, config: Mapping[str, Any], resources: Mapping[str, Any]) -> None:
        """A trial started: a new record and run, or, on resume, the same run reopened."""
        record = self.records.get(trial_id)
        if record is not None:  # resumed: the same child run
            if record.state is TrialState.RUNNING:  # interrupted: reopened
                record.ended, record.error = None, None
                self._runs.reopen(record)
            # Otherwise it had ended before the driver died, after Ray's last snapshot:
            # Ray runs it again from its final checkpoint, which adds nothing; its run stays as it was.
            return
        number = len(self.records) + 1
        params = self._params(config)
        run = self._runs.create(trial_id, number, params, resources)
        self.records[trial_id] = TrialRecord(trial_id, number, run, params, started=time.time())

    def result(self, trial_id: str, result: Mapping[str, Any], *, config: Mapping[str, Any], source: str) -> None:
        """One epoch's result, trained with ``config``; ``source`` names the trial (PBT's tag for it)."""
        record = self.records[trial_id]
        epoch = int(result["epoch"])
        if record.ended is not None:  # ended before an interruption; see `start`
            return
        if self._mutated:
            self._follow_exploit(record, config, source, epoch)
        moved = self._moved(record, result)
        if epoch <= record.epochs:  # logged before the driver was interrupted; redone from a checkpoint
            if moved:
                self._runs.moved(record)
            return
        metric = self._ranking.metric
        if metric in result:
            self._ranking.follow_best(record, float(result[metric]), epoch)
        values = {name: float(result[name]) for name in self._metric_names if name in result}
        for name, value in values.items():
            record.history.setdefault(name, []).append(value)
        record.epochs = epoch
        record.ended_by_itself = bool(result.get("trial_finished"))
        self._runs.epoch(record, epoch, values, moved=moved)
        if result.get("done") and not record.ended_by_itself:
            # Ray marks a result done when the scheduler stops the trial, and
            # when the trial ends by itself (epoch cap, early stopping).
            record.state = TrialState.PRUNED

    @staticmethod
    def _moved(record: TrialRecord, result: Mapping[str, Any]) -> bool:
        """Notes the worker that runs the trial; True when it changed (first result, a retry)."""
        worker = f"{result.get('node_ip')}:{result.get('pid')}"
        if worker == record.worker:
            return False
        record.worker, record.node = worker, str(result.get("node_id"))
        return True

    def _follow_exploit(self, record: TrialRecord, config: Mapping[str, Any], source: str, epoch: int) -> None:
        """Takes a trial's new config when PBT made it continue from a better trial's checkpoint.

        The trial then goes on from that trial's epoch, which may be one it
        had logged itself: those epochs are logged again (MLflow keeps both
        values of a step). The child run's params stay the trial's first
        config; its current one is in the ``automl.params`` tag.

        The config is the one the result was trained with (the ``config``
        Ray's trainable puts in each result). PBT sets the trial's new config
        while it handles the very result that made it exploit, before the
        callbacks see that result, so the trial's own config would give that
        epoch, trained with the old config, the new one.
        """
        params = self._params(config)
        if params == record.params:
            return
        record.params = params
        record.epochs = min(record.epochs, epoch - 1)
        record.exploits += 1
        self._runs.exploited(record, epoch, source)

    def complete(self, trial_id: str, *, paused: bool, trial_dir: str | None) -> None:
        """Ray completed the trial: it ended by itself, was pruned, or the time budget stopped it."""
        record = self.records[trial_id]
        if record.ended is not None:  # ended before an interruption; see `start`
            return
        self._runs.attach_files(record, trial_dir)
        if record.state is TrialState.RUNNING:
            if record.ended_by_itself:
                record.state = TrialState.COMPLETE
            elif paused:  # HyperBand stops the paused trials that a milestone leaves behind
                record.state = TrialState.PRUNED
            else:  # Ray also "completes" the trials it stops when the time budget runs out
                record.state = TrialState.STOPPED
        self._finish(record)

    def retried(self, trial_id: str, failures: int) -> None:
        # Ray retries the trial from its last checkpoint; it keeps its child run (reopened on
        # start), and epochs it redoes are not logged twice.
        record = self.records.get(trial_id)
        if record is not None:
            self._runs.retried(record, failures)

    def failed(self, trial_id: str, *, trace: str, trial_dir: str | None) -> None:
        """The trial raised; ``trace`` is its traceback. The caller starts a trial that failed before it started."""
        record = self.records[trial_id]
        record.state = TrialState.FAILED
        # The last line of the traceback is "SomeError: what happened".
        lines = [line.strip() for line in trace.splitlines() if line.strip()]
        record.error = lines[-1] if lines else "the trial failed without an error message"
        if trace:
            self._runs.traceback(record, trace)
        self._runs.attach_files(record, trial_dir)
        self._finish(record)

    def close_unfinished(self, state: TrialState, reason: str) -> None:
        """Ends the trials still running when the run stops (time budget, interruption, crash)."""
        for record in self.records.values():
            if record.state is TrialState.RUNNING:
                record.state = state
                record.error = reason if state is TrialState.FAILED else None
                self._finish(record)

    def keep_only(self, known: Collection[str]) -> None:
        """Deletes the trials Ray does not know, and numbers the others again without gaps.

        A trial the killed driver had started but Ray's last experiment-state
        snapshot never recorded is unknown to the resumed run (and to the
        sampler's history); Ray runs a new trial in its place. Its MLflow run
        would be a duplicate.
        """
        for trial_id in [t for t in self.records if t not in known]:
            why = f"trial {trial_id}: started by an interrupted driver, unknown to the resumed run"
            self._runs.deleted(self.records.pop(trial_id), why)
        # Close the gaps deleted runs leave in the numbering (trial-001, trial-002, ...).
        for number, record in enumerate(sorted(self.records.values(), key=lambda r: r.number), start=1):
            if record.number != number:
                record.number = number
                self._runs.renumbered(record)

    def _finish(self, record: TrialRecord) -> None:
        record.ended = time.time()
        self._runs.ended(record, self._ranking.best(record))
        self._on_end(record)
