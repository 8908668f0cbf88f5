"""MLflow tracking from the driver: the single writer of the run's records.

One parent run per tuning run; one nested child run per trial with its flat
params (the same keys for every trial), one metric point per epoch
(step = epoch), and its end state. Workers never touch the tracking store.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.tune import Callback
from ray.tune.experiment import Trial

from automl._result import TrialState
from automl.execution._workers import RSS_KEY
from automl.tracking._records import TrialRecord
from automl.tracking._store_template import copy_empty_store, machine_lock
from automl.tracking._trial_runs import _CHECKPOINT_PREFIX, _RAY_TRIAL_FILES, param_batches
from automl.tracking._writer import MlflowWriter, RunRef, unsent
from search_spaces import ConfigError, Space
from trainers import best_of, better_sign

__all__ = ["MlflowTracker", "TrialRecord", "default_tracking_uri", "open_experiment", "param_batches"]

# MLflow 3's UI opens an experiment on its GenAI overview unless told otherwise.
_EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# The writer may move its calls to a helper process (automl/tracking/_mlflow_process.py)
# only in runs of this many trials or more: the helper's start pays for itself
# only over many short trials (benchmarks/RESULTS.md, benchmarks.scale).
OFFLOAD_MIN_TRIALS = 200


def default_tracking_uri(cwd: Path | None = None) -> str:
    """``sqlite:///<cwd>/mlflow.db`` as an absolute URI."""
    return f"sqlite:///{((cwd or Path.cwd()) / 'mlflow.db').resolve()}"


def _artifact_location(tracking_uri: str) -> str | None:
    # MLflow puts a sqlite store's artifacts in ./mlruns of whatever the working
    # directory is; keep them beside the database instead.
    if tracking_uri.startswith("sqlite:///"):
        return (Path(tracking_uri.removeprefix("sqlite:///")).parent / "mlruns").resolve().as_uri()
    return None


@contextlib.contextmanager
def _warnings_only(log: logging.Logger) -> Iterator[None]:
    """Within, ``log`` passes on warnings and errors only; its own level comes back after."""
    level = log.level
    if log.getEffectiveLevel() < logging.WARNING:
        log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def tracking_client(tracking_uri: str) -> MlflowClient:
    """An MLflow client; a new sqlite store gets its tables one process at a time.

    MLflow creates the schema of an empty sqlite file when a client first opens
    it, without a lock: two runs started at once in a fresh directory both
    migrate it, and one fails ("table experiments already exists"). A new file
    starts as a copy of an empty store (`automl.tracking._store_template`), which MLflow
    then opens as an existing one. Other stores (a server, a database service)
    set themselves up.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri)
    path = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
    # MLflow logs building the tables ("Creating initial MLflow database tables...") at
    # INFO: part of the run's start, which automl's own first lines already describe.
    with machine_lock(str(path)), _warnings_only(logging.getLogger("mlflow.store.db.utils")):
        if "?" not in tracking_uri:  # no connection options: a plain file
            copy_empty_store(path)
        client = MlflowClient(tracking_uri)  # the tracking store: builds the tables of a new file
        client.search_registered_models(max_results=1)  # the registry's store, on the same file
    return client


def open_experiment(client: MlflowClient, name: str) -> str:
    """Returns the id of experiment ``name``, created if missing, tagged for training runs."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        location = _artifact_location(client.tracking_uri)
        try:
            experiment_id = client.create_experiment(name, artifact_location=location)
        except MlflowException as exc:
            # Another run created it between the lookup and here (two runs started at once).
            experiment = client.get_experiment_by_name(name)
            if exc.error_code != "RESOURCE_ALREADY_EXISTS" or experiment is None:
                raise
            experiment_id = experiment.experiment_id
    else:
        experiment_id = experiment.experiment_id
    client.set_experiment_tag(experiment_id, *_EXPERIMENT_KIND)
    return experiment_id


def _error_text(trial: Any) -> str:
    """The trial's traceback as Ray wrote it (in the local trial directory, at this point)."""
    path = trial.error_file
    if path and Path(path).exists():
        return Path(path).read_text(errors="replace")
    return str(trial.get_error() or "")


def _last(values: Sequence[float]) -> float:
    return values[-1] if values else math.nan


WAIT_VARIABLE = "AUTOML_TRACKING_WAIT_S"


def tracking_wait_s() -> float:
    """Seconds the end of a run waits for an unreachable tracking store: ``$AUTOML_TRACKING_WAIT_S`` or 60.

    Raises:
        ConfigError: The variable is set to something other than a number >= 0.
    """
    text = os.environ.get(WAIT_VARIABLE, "60")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value < math.inf:
        raise ConfigError(f"expected a number of seconds >= 0, but got {text!r}.", field=WAIT_VARIABLE)
    return value


class MlflowTracker(Callback):
    """A Ray Tune callback that records every trial in MLflow and in memory.

    Args:
        client: Client of the tracking store.
        experiment_id: Experiment of the parent run.
        parent_run_id: The tuning run's MLflow run; trials are nested under it.
        space: The space, for the flat param keys.
        metric: Optimized metric.
        mode: ``"min"`` or ``"max"``.
        epochs: Epoch cap; a trial stopped by the scheduler before it is pruned.
        metric_names: Metrics logged per epoch.
        num_trials: Trial budget, for progress lines.
        time_budget_s: The run's wall-time budget, if any: the estimate of
            the time left never goes past its end. Defaults to `None`.
        journal: The run's MLflow journal: every write is recorded there
            before it is sent, and acknowledged once the store took it.
        objectives: More metrics optimized besides ``metric``; the trials
            table gets each one's final value.
        mutated: Params a PBT scheduler changes while trials train: each is
            also logged every epoch as the metric ``config.<key>``, and a
            trial's record follows its config when PBT replaces it with a
            better trial's (mutated) one. Defaults to `()`.
        drain_timeout_s: How long the end of a run waits for an unreachable
            store before leaving the unsent writes to the journal. Defaults
            to the environment variable ``AUTOML_TRACKING_WAIT_S``, else `60`.
        verbose: 0 silent, 1 one line per finished trial, and a status line
            after `status_every_s` seconds without one. An attribute too: a
            resumed run sets it on the copy Ray restores.

    MLflow itself holds the trial → run mapping: each child run is tagged with
    its trial id, number and typed params, so a resumed run finds and reuses
    its children (no duplicates). Ray pickles its callbacks into the
    experiment state; the client and the records are left out of the pickle
    and come back from the tracking store when Ray calls `setup` on a
    restored run.
    """

    status_every_s = 60.0  # seconds with no line before a status line (verbose 1)
    # From Ray's trial list at its last step: trials paused (HyperBand) and the most run at once.
    _paused = 0
    _slots = 1

    def __init__(
        self,
        *,
        client: MlflowClient,
        experiment_id: str,
        parent_run_id: str,
        space: Space,
        metric: str,
        mode: Literal["min", "max"],
        epochs: int,
        metric_names: Sequence[str],
        num_trials: int,
        journal: Path,
        objectives: Sequence[str] = (),
        mutated: Sequence[str] = (),
        drain_timeout_s: float | None = None,
        time_budget_s: float | None = None,
        verbose: int = 1,
    ) -> None:
        self._client = client
        self._tracking_uri = client.tracking_uri
        self._experiment_id = experiment_id
        self._parent = parent_run_id
        self._space = space
        self._metric = metric
        self._mode = mode
        self._epochs = epochs
        self._metric_names = tuple(metric_names)
        self._num_trials = num_trials
        self._time_budget_s = time_budget_s
        self._objectives = tuple(objectives)
        self._mutated = tuple(mutated)
        self._journal = journal
        self._drain_timeout_s = tracking_wait_s() if drain_timeout_s is None else drain_timeout_s
        self._writer = self._new_writer()
        self.verbose = verbose
        self.records: dict[str, TrialRecord] = {}
        self._started = self._said_at = time.time()

    def _new_writer(self) -> MlflowWriter:
        # None: the writer starts the helper if its calls crowd the driver; False: never.
        offload = None if self._num_trials >= OFFLOAD_MIN_TRIALS else False
        return MlflowWriter(self._tracking_uri, journal=self._journal, offload=offload)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client"] = None
        state["_writer"] = None
        state["records"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_verbose" in state:  # pickled by a version before `verbose` was public
            state = {**state, "verbose": state["_verbose"]}
            del state["_verbose"]
        state.setdefault("_time_budget_s", None)  # likewise, before the budget reached the tracker
        self.__dict__.update(state)
        self._client = MlflowClient(self._tracking_uri)
        self._writer = self._new_writer()

    # Sending: every write goes through the background writer -----------------

    def flush(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for every write to reach the store; True if all did
        and the store still takes writes."""
        return self._writer.flush(timeout) and self._writer.reachable()

    def close(self, parent_status: str) -> None:
        """Ends the parent run and drains the writes; unsent ones go to the pending file."""
        self._writer.call("set_terminated", RunRef("parent", self._parent), status=parent_status)
        self._drain()
        self._writer.stop()
        if not unsent(self._journal):  # everything reached the store, this run's writers included
            self._journal.unlink(missing_ok=True)

    def _drain(self) -> None:
        # The last writes of a run take well under a second to a reachable store: say
        # nothing about those, only about a wait.
        if self._writer.flush(min(2.0, self._drain_timeout_s)):
            return
        if self._writer.pending() and self.verbose:
            print(
                f"[automl] sending {self._writer.pending()} queued writes to MLflow "
                f"(waiting up to {self._drain_timeout_s:.0f}s)",
                flush=True,
            )
        self._writer.spill(timeout=self._drain_timeout_s)

    # Persistence: MLflow is the record ---------------------------------------

    def load(self) -> None:
        """Rebuilds the records from the parent's child runs (after a restart of the driver)."""
        self.records = {}
        for run in self._children():
            tags = run.data.tags
            if "automl.trial_id" not in tags:
                continue
            # Interrupted trials continue on resume, like those a killed driver left RUNNING.
            running = run.info.status == "RUNNING" or tags.get("automl.state") == TrialState.INTERRUPTED.value
            record = TrialRecord(
                trial_id=tags["automl.trial_id"],
                number=int(tags["automl.trial_number"]),
                run=RunRef(tags["automl.trial_id"], run.info.run_id),
                params=json.loads(tags["automl.params"]),
                started=run.info.start_time / 1000,
                state=TrialState.RUNNING if running else TrialState(tags.get("automl.state", "FAILED")),
                ended=None if running or run.info.end_time is None else run.info.end_time / 1000,
                error=tags.get("automl.error"),
                worker=tags.get("automl.worker"),
                node=tags.get("automl.node_id"),
                ended_by_itself="automl.finished_epoch" in tags,
                exploits=int(tags.get("automl.pbt_exploits", 0)),
            )
            for name in self._metric_names:
                points = sorted(self._client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
                if points:
                    record.history[name] = []
                    for point in points:
                        if name == self._metric:
                            self._follow_best(record, point.value, point.step)
                        record.history[name].append(point.value)
                    record.epochs = max(record.epochs, points[-1].step)
            self.records[record.trial_id] = record

    def _children(self) -> list[Any]:
        runs: list[Any] = []
        token = None
        while True:
            page = self._client.search_runs(
                [self._experiment_id],
                filter_string=f"tags.mlflow.parentRunId = '{self._parent}'",
                max_results=1000,
                page_token=token,
            )
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    def close_unfinished(self, state: TrialState, reason: str) -> None:
        """Ends the child runs of trials still running when the run stops (time budget, interruption, crash)."""
        for record in self.records.values():
            if record.state is TrialState.RUNNING:
                record.state = state
                record.error = reason if state is TrialState.FAILED else None
                self._finish(record)

    # Ray Tune hooks -----------------------------------------------------------

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._started = self._said_at = time.time()
        self.load()  # records of an earlier driver of this run, if any

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # A trial the killed driver had started but Ray's last experiment-state snapshot
        # never recorded is unknown to the resumed run (and to the sampler's history); Ray
        # runs a new trial in its place. Its MLflow run would be a duplicate: delete it
        # (MLflow keeps deleted runs restorable).
        known = {trial.trial_id for trial in trials}
        for trial_id in [t for t in self.records if t not in known]:
            orphan = self.records.pop(trial_id)
            self._writer.call("delete_run", orphan.run)
            self._writer.call(
                "set_tag",
                RunRef("parent", self._parent),
                key=f"automl.deleted.{orphan.run_id}",
                value=f"trial {trial_id}: started by an interrupted driver, unknown to the resumed run",
            )
        # Close the gaps deleted runs leave in the numbering (trial-001, trial-002, ...).
        for number, record in enumerate(sorted(self.records.values(), key=lambda r: r.number), start=1):
            if record.number != number:
                record.number = number
                self._writer.call("set_tag", record.run, key="automl.trial_number", value=str(number))
                self._writer.call("set_tag", record.run, key="mlflow.runName", value=f"trial-{number:03d}")
        # Ray's restored copy of this tracker (on resume) ends here: send what it queued.
        self._drain()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self.records.get(trial.trial_id)
        if record is not None:  # resumed: the same child run
            if record.state is TrialState.RUNNING:  # interrupted: reopened
                record.ended, record.error = None, None
                self._writer.call("update_run", record.run, status="RUNNING")
            # Otherwise it had ended before the driver died, after Ray's last snapshot:
            # Ray runs it again from its final checkpoint, which adds nothing; its run stays as it was.
            return
        number = len(self.records) + 1
        params = {k: trial.config.get(k) for k in self._space.flat_keys()}
        run = self._writer.create_run(
            trial.trial_id,
            experiment_id=self._experiment_id,
            run_name=f"trial-{number:03d}",
            tags={
                "mlflow.parentRunId": self._parent,
                "automl.trial_id": trial.trial_id,
                "automl.trial_number": str(number),
                "automl.resources": json.dumps(trial.placement_group_factory.required_resources),
                "automl.params": json.dumps(params),  # typed, for a resumed driver
            },
        )
        for batch in param_batches(params):
            self._writer.call("log_batch", run, params=batch)
        self.records[trial.trial_id] = TrialRecord(trial.trial_id, number, run, params, started=time.time())

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        record = self.records[trial.trial_id]
        epoch = int(result["epoch"])
        if record.ended is not None:  # ended before an interruption; see on_trial_start
            return
        if self._mutated:
            self._follow_exploit(record, trial, result, epoch)
        if epoch <= record.epochs:  # logged before the driver was interrupted; redone from a checkpoint
            where = self._where(record, result)
            if where:
                self._writer.call("log_batch", record.run, tags=where)
            return
        now = int(time.time() * 1000)
        metrics = []
        if self._metric in result:
            self._follow_best(record, float(result[self._metric]), epoch)
        for name in self._metric_names:
            if name in result:
                value = float(result[name])
                record.history.setdefault(name, []).append(value)
                metrics.append(Metric(name, value, now, epoch))
        metrics.extend(
            Metric(f"config.{key}", float(record.params[key]), now, epoch) for key in self._mutated
        )
        tags = self._where(record, result)
        record.epochs = epoch
        record.ended_by_itself = bool(result.get("trial_finished"))
        if record.ended_by_itself:  # kept with the last epoch: a restored trial Ray restarts ends COMPLETE
            tags.append(RunTag("automl.finished_epoch", str(epoch)))
        self._writer.call("log_batch", record.run, metrics=metrics, tags=tags)
        if result.get("done") and not record.ended_by_itself:
            # Ray marks a result done when the scheduler stops the trial, and
            # when the trial ends by itself (epoch cap, early stopping).
            record.state = TrialState.PRUNED

    def _follow_exploit(
        self, record: TrialRecord, trial: Any, result: Mapping[str, Any], epoch: int
    ) -> None:
        """Takes a trial's new config when PBT made it continue from a better trial's checkpoint.

        The trial then goes on from that trial's epoch, which may be one it
        had logged itself: those epochs are logged again (MLflow keeps both
        values of a step). The child run's params stay the trial's first
        config; its current one is in the ``automl.params`` tag.

        The config is the one the result was trained with (the ``config``
        Ray's trainable puts in each result). PBT sets the trial's new config
        while it handles the very result that made it exploit, before the
        callbacks see that result, so ``trial.config`` would give that
        epoch, trained with the old config, the new one.
        """
        config = result.get("config") or trial.config
        params = {k: config.get(k) for k in self._space.flat_keys()}
        if params == record.params:
            return
        record.params = params
        record.epochs = min(record.epochs, epoch - 1)
        record.exploits += 1
        tags = [
            RunTag("automl.params", json.dumps(params)),
            RunTag("automl.pbt_exploits", str(record.exploits)),
            RunTag("automl.pbt_last_exploit", f"at epoch {epoch - 1}: {trial.experiment_tag}"),
        ]
        self._writer.call("log_batch", record.run, tags=tags)

    @staticmethod
    def _where(record: TrialRecord, result: Mapping[str, Any]) -> list[RunTag]:
        """Tags saying which worker runs the trial, when that changed (first result, a retry)."""
        worker = f"{result.get('node_ip')}:{result.get('pid')}"
        if worker == record.worker:
            return []
        record.worker, record.node = worker, str(result.get("node_id"))
        return [
            RunTag("automl.worker", record.worker),
            RunTag("automl.node_ip", str(result.get("node_ip"))),
            RunTag("automl.node_id", record.node),
        ]

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self.records[trial.trial_id]
        if record.ended is not None:  # ended before an interruption; see on_trial_start
            return
        self._attach_files(record, trial.path)
        if record.state is TrialState.RUNNING:
            if record.ended_by_itself:
                record.state = TrialState.COMPLETE
            elif trial.status == "PAUSED":  # HyperBand stops the paused trials that a milestone leaves behind
                record.state = TrialState.PRUNED
            else:  # Ray also "completes" the trials it stops when the time budget runs out
                record.state = TrialState.STOPPED
        self._finish(record)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Ray retries the trial from its last checkpoint; it keeps its child run (reopened on
        # start), and epochs it redoes are not logged twice.
        record = self.records.get(trial.trial_id)
        if record is not None:
            self._writer.call(
                "set_tag", record.run, key="automl.retries", value=str(trial.run_metadata.num_failures)
            )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record = self.records.get(trial.trial_id)
        if record is None:  # failed before it started
            self.on_trial_start(iteration, trials, trial)
            record = self.records[trial.trial_id]
        record.state = TrialState.FAILED
        trace = _error_text(trial)
        # The last line of the traceback is "SomeError: what happened".
        lines = [line.strip() for line in trace.splitlines() if line.strip()]
        record.error = lines[-1] if lines else "the trial failed without an error message"
        if trace:
            self._writer.call("log_text", record.run, text=trace, artifact_file="error.txt")
        self._attach_files(record, trial.path)
        self._finish(record)

    def _attach_files(self, record: TrialRecord, trial_dir: str | None) -> None:
        """Attaches what the trial's callbacks wrote into its directory to its MLflow run, under ``files/``.

        The trial runs in its directory (`automl.execution._trainable.in_trial_dir`);
        Ray's own files and the checkpoints there are left out.
        """
        if not trial_dir or not os.path.isdir(trial_dir):
            return
        for root, folders, files in os.walk(trial_dir):
            here = Path(root).relative_to(trial_dir)
            if here == Path("."):
                folders[:] = [f for f in folders if not f.startswith(_CHECKPOINT_PREFIX)]
                files = [f for f in files if f not in _RAY_TRIAL_FILES]
            for name in sorted(files):
                artifact_path = "files" if here == Path(".") else f"files/{here.as_posix()}"
                self._writer.call(
                    "log_artifact", record.run, local_path=os.path.join(root, name), artifact_path=artifact_path
                )

    # Summaries ----------------------------------------------------------------

    def _best(self, record: TrialRecord) -> float:
        values = [v for v in record.history.get(self._metric, []) if math.isfinite(v)]
        if not values:
            return math.nan
        return best_of(values, self._mode)

    def _follow_best(self, record: TrialRecord, value: float, epoch: int) -> None:
        """Notes ``epoch`` as the trial's best when ``value`` beats its history so far (call before adding it).

        Strictly better only: as Keras's EarlyStopping, the first of equal values is the best epoch.
        """
        best = self._best(record)
        if not math.isfinite(value):
            return
        if not math.isfinite(best) or (value > best if self._mode == "max" else value < best):
            record.best_epoch = epoch

    def _finish(self, record: TrialRecord) -> None:
        record.ended = time.time()
        best = self._best(record)
        tags = [RunTag("automl.state", record.state.value)]
        if record.state is TrialState.PRUNED:
            tags.append(RunTag("automl.pruned_at_epoch", str(record.epochs)))
        if record.state is TrialState.STOPPED:
            tags.append(RunTag("automl.stopped", f"by the run's time budget at epoch {record.epochs}"))
        if record.error:
            tags.append(RunTag("automl.error", record.error[:5000]))
        metrics = [Metric(f"best_{self._metric}", best, int(record.ended * 1000), record.epochs)]
        self._writer.call("log_batch", record.run, metrics=metrics if math.isfinite(best) else [], tags=tags)
        status = {
            TrialState.COMPLETE: "FINISHED",
            TrialState.PRUNED: "KILLED",
            TrialState.STOPPED: "KILLED",
            TrialState.INTERRUPTED: "KILLED",
        }.get(record.state, "FAILED")
        self._writer.call("set_terminated", record.run, status=status)
        if self.verbose:
            self._print_progress(record, best)

    def _print_progress(self, record: TrialRecord, best: float) -> None:
        took = (record.ended or time.time()) - record.started
        detail = textwrap.shorten(record.error, 80) if record.error else f"{self._metric}={best:.4f}"
        self._say(
            f"trial {record.number:>3} {record.state.value:<8} {detail} ({record.epochs} epochs, {took:.1f}s)"
            f" | {self._status()}"
        )

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        # Ray's loop comes here many times a second; a long stretch with no trial
        # ending still gets a line now and then, so a log shows the run is alive.
        if self.verbose:
            statuses = [t.status for t in trials]
            self._paused = statuses.count(Trial.PAUSED)
            self._slots = max(self._slots, statuses.count(Trial.RUNNING))
            if time.time() - self._said_at >= self.status_every_s:
                self._say(self._status())

    def _say(self, line: str) -> None:
        print(f"[automl] {line}", flush=True)
        self._said_at = time.time()

    def _status(self) -> str:
        """Trials done (by state), running and paused, the best finished value, elapsed and time left."""
        states = [r.state for r in self.records.values()]
        done = sum(state.is_finished() for state in states)
        counts = ", ".join(
            f"{n} {state.value.lower()}"
            for state in TrialState
            if (n := states.count(state)) and state.is_finished()
        )
        status = f"{done}/{self._num_trials} done" + (f" ({counts})" if counts else "")
        unfinished = states.count(TrialState.RUNNING)  # a paused trial has not finished either
        paused = min(self._paused, unfinished)
        if running := unfinished - paused:
            status += f", {running} running"
        if paused:
            status += f", {paused} paused"
        overall = self.best_record(finished=True)
        if overall is not None:
            status += f", best {self._metric}={self._best(overall):.4f}"
        return f"{status} | {self._clock()}"

    def _clock(self) -> str:
        """Elapsed time, and the time left once a round of trials (one per slot) has finished.

        The trials left take the finished ones' mean duration, as many at once
        as ran at once so far; a time budget bounds the estimate.
        """
        elapsed = time.time() - self._started
        took = [r.ended - r.started for r in self.records.values() if r.state.is_finished() and r.ended]
        left_trials = self._num_trials - len(took)
        if len(took) < self._slots or left_trials <= 0:
            return f"elapsed {elapsed:.0f}s"
        left = sum(took) / len(took) * math.ceil(left_trials / self._slots)
        if self._time_budget_s is not None:
            left = max(min(left, self._time_budget_s - elapsed), 0.0)
        return f"elapsed {elapsed:.0f}s, ~{left:.0f}s left"

    def best_record(self, *, finished: bool = False) -> TrialRecord | None:
        """The trial with the best value of the metric over its epochs, among those that did not fail.

        A failed trial's epochs before its failure may score well, but its
        model is not one to hand over (it raised, ran out of memory, diverged).
        ``finished``: among the trials that ended only, not those still running.
        """
        scored = [
            r
            for r in self.records.values()
            if r.state is not TrialState.FAILED
            and (r.state.is_finished() or not finished)
            and math.isfinite(self._best(r))
        ]
        if not scored:
            return None
        sign = better_sign(self._mode)
        return max(scored, key=lambda r: sign * self._best(r))

    def dataframe(self) -> pd.DataFrame:
        rows = []
        for record in sorted(self.records.values(), key=lambda r: r.number):
            history = record.history.get(self._metric, [])
            rows.append(
                {
                    "trial_id": record.trial_id,
                    "number": record.number,
                    "state": record.state.value,
                    "epochs": record.epochs,
                    "duration_s": (record.ended or time.time()) - record.started,
                    self._metric: history[-1] if history else math.nan,
                    f"best_{self._metric}": self._best(record),
                    "best_epoch": record.best_epoch,
                    **{name: _last(record.history.get(name, [])) for name in self._objectives},
                    "error": record.error,
                    "worker": record.worker,
                    RSS_KEY: _last(record.history.get(RSS_KEY, [])),  # at its last epoch
                    "node": record.node,
                    "mlflow_run_id": record.run_id,
                    **{f"params.{k}": v for k, v in record.params.items()},
                }
            )
        return pd.DataFrame(rows)

    def summaries(self) -> list[dict[str, Any]]:
        """Per trial: flat params, state, best value and per-epoch history of the metric."""
        return [
            {
                "params": r.params,
                "state": r.state,
                "value": self._best(r),
                "history": r.history.get(self._metric, []),
            }
            for r in sorted(self.records.values(), key=lambda r: r.number)
        ]

    def log_summary(self, best_config: Mapping[str, Any] | None) -> None:
        """Writes the run's summary to the parent run."""
        frame = self.dataframe()
        counts = frame["state"].value_counts().to_dict() if len(frame) else {}
        best = self.best_record()
        metrics = [
            Metric(f"trials_{state.lower()}", float(n), int(time.time() * 1000), 0)
            for state, n in counts.items()
        ]
        if best is not None:
            metrics.append(Metric(f"best_{self._metric}", self._best(best), int(time.time() * 1000), 0))
        parent = RunRef("parent", self._parent)
        self._writer.call("log_batch", parent, metrics=metrics)
        self._writer.call("log_text", parent, text=frame.to_csv(index=False), artifact_file="trials.csv")
        if best_config is not None:
            self._writer.call(
                "log_dict", parent, dictionary=dict(best_config), artifact_file="best_config.json"
            )
