"""MLflow tracking from the driver: the single writer of the run's records.

One parent run per tuning run; one nested child run per trial with its flat
params (the same keys for every trial), one metric point per epoch
(step = epoch), and its end state. Workers never touch the tracking store.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from mlflow.entities import DatasetInput
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.tune import Callback
from ray.tune.experiment import Trial

from automl._result import TrialState
from automl._trial_names import write_trial_name
from automl.tracking._credentials import check_store, is_local_store, is_tracking_server, public_uri
from automl.tracking._progress import Progress
from automl.tracking._ranking import Ranking
from automl.tracking._records import TrialRecord
from automl.tracking._reload import load_records
from automl.tracking._store_template import copy_empty_store, machine_lock
from automl.tracking._trial_runs import TrialRuns, param_batches
from automl.tracking._trials import Trials
from automl.tracking._writer import MlflowWriter, unsent
from search_spaces import ConfigError, Space

# TrialRecord (the values of `MlflowTracker.records`) and param_batches are imported from here too.
__all__ = ["MlflowTracker", "TrialRecord", "default_tracking_uri", "open_experiment", "param_batches"]

# MLflow 3's UI opens an experiment on its GenAI overview unless told otherwise.
_EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
# The writer may move its calls to a helper process (automl/tracking/_mlflow_process.py)
# only in runs of this many trials or more: the helper's start pays for itself
# only over many short trials (benchmarks/LOG.md, benchmarks.scale).
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
    set themselves up; they are checked to answer and take the credentials first.

    Raises:
        ConfigError: A server or database store is unreachable or refuses the credentials.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return MlflowClient(tracking_uri) if is_local_store(tracking_uri) else check_store(tracking_uri)
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
    key, value = _EXPERIMENT_KIND
    if experiment is not None and experiment.tags.get(key) == value:
        return experiment_id
    try:
        client.set_experiment_tag(experiment_id, key, value)
    except MlflowException:
        # Runs starting at once on a database store both insert the tag, and one insert fails.
        if client.get_experiment(experiment_id).tags.get(key) != value:
            raise
    return experiment_id


def _error_text(trial: Any) -> str:
    """The trial's traceback as Ray wrote it (in the local trial directory, at this point)."""
    path = trial.error_file
    if path and Path(path).exists():
        return Path(path).read_text(errors="replace")
    return str(trial.get_error() or "")


WAIT_VARIABLE = "AUTOML_TRACKING_WAIT_S"


def tracking_wait_s() -> float:
    """Seconds the end of a run waits for a tracking store that takes no write: ``$AUTOML_TRACKING_WAIT_S`` or 60.

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

    It hands Ray's events to its parts: `Trials` keeps the records and their
    states, `TrialRuns` writes them to MLflow, `Progress` prints the console
    lines, `Ranking` scores the trials, `load_records` rebuilds the records
    from MLflow.

    Args:
        client: Client of the tracking store.
        experiment_id: Experiment of the parent run.
        parent_run_id: The tuning run's MLflow run; trials are nested under it.
        space: The space, for the flat param keys.
        metric: Optimized metric.
        mode: ``"min"`` or ``"max"``.
        epochs: Epoch cap.
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
        drain_timeout_s: How long the end of a run waits for a store that
            takes no write (unreachable, or not answering) before leaving the
            unsent writes to the journal; a slow store that keeps taking them
            is waited for. Defaults to the environment variable
            ``AUTOML_TRACKING_WAIT_S``, else `60`.
        tensorboard_artifacts: Whether each trial's TensorBoard files are
            attached to its run. Defaults to `False`.
        dataset: File-backed data as an MLflow dataset input, logged to each
            trial's run. Defaults to `None`.
        verbose: 0 silent, 1 one line per finished trial, and a status line
            after `status_every_s` seconds without one. An attribute too: a
            resumed run sets it on the copy Ray restores.

    Ray pickles its callbacks into the experiment state; the client, the
    writer and the records are left out of the pickle and come back from the
    tracking store when Ray calls `setup` on a restored run.
    """

    status_every_s = 60.0  # seconds with no line before a status line (verbose 1)
    # Made again on unpickling: they hold the store's client, the writer's thread and the records.
    _UNPICKLED = ("_client", "_writer", "_runs", "_trials")

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
        tensorboard_artifacts: bool = False,
        dataset: DatasetInput | None = None,
        verbose: int = 1,
    ) -> None:
        self._tracking_uri = client.tracking_uri
        self._dataset = dataset
        self._tensorboard_artifacts = tensorboard_artifacts
        self._experiment_id = experiment_id
        self._parent = parent_run_id
        self._space = space
        self._epochs = epochs
        self._metric_names = tuple(metric_names)
        self._num_trials = num_trials
        self._mutated = tuple(mutated)
        self._journal = journal
        self._drain_timeout_s = tracking_wait_s() if drain_timeout_s is None else drain_timeout_s
        self.verbose = verbose
        self.ranking = Ranking(metric, mode, objectives)
        self.progress = Progress(self.ranking, num_trials=num_trials, time_budget_s=time_budget_s)
        self._connect(client)

    def _connect(self, client: MlflowClient) -> None:
        self._client = client
        self._writer = self._new_writer()
        self._runs = TrialRuns(
            self._writer,
            experiment_id=self._experiment_id,
            parent_run_id=self._parent,
            metric=self.ranking.metric,
            mutated=self._mutated,
            tensorboard_artifacts=self._tensorboard_artifacts,
            dataset=self._dataset,
        )
        self._trials = Trials(
            self._runs,
            self.ranking,
            flat_keys=self._space.flat_keys(),
            metric_names=self._metric_names,
            mutated=bool(self._mutated),
            on_end=self._ended,
        )

    def _new_writer(self) -> MlflowWriter:
        # A tracking server's calls go from the helper from the start, where MLflow's
        # minutes of HTTP retries are off (automl/tracking/_mlflow_process.py). Otherwise
        # None: the writer starts the helper if its calls crowd the driver; False: never.
        if is_tracking_server(self._tracking_uri):
            offload: bool | None = True
        else:
            offload = None if self._num_trials >= OFFLOAD_MIN_TRIALS else False
        return MlflowWriter(self._tracking_uri, journal=self._journal, offload=offload)

    def __getstate__(self) -> dict[str, Any]:
        # Ray writes the pickle into the run directory: no password there (a resumed
        # run's client takes it from the environment, as MLflow documents).
        state = {k: v for k, v in self.__dict__.items() if k not in self._UNPICKLED}
        return {**state, "_tracking_uri": public_uri(self._tracking_uri)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._connect(MlflowClient(self._tracking_uri))

    @property
    def records(self) -> dict[str, TrialRecord]:
        """Each trial's record, by Ray's trial id."""
        return self._trials.records

    @records.setter
    def records(self, records: dict[str, TrialRecord]) -> None:
        self._trials.records = records

    # Sending: every write goes through the background writer -----------------

    def flush(self) -> bool:
        """Waits for the queued writes to reach the store while it takes them; True if all did and it takes writes.

        Gives up once the store has taken no write for the run's tracking
        wait (``drain_timeout_s``). Writes an earlier drain left to the
        journal (at the end of Ray's loop) are not waited for: `automl sync`
        sends them, and the parent run's artifacts go to the store now.
        """
        return self._writer.drain(self._drain_timeout_s) and self._writer.reachable()

    def close(self, parent_status: str) -> None:
        """Ends the parent run and drains the writes; unsent ones go to the pending file."""
        self._runs.terminate_parent(parent_status)
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
                f"(waiting while it takes them, up to {self._drain_timeout_s:.0f}s without one)",
                flush=True,
            )
        self._writer.spill(timeout=self._drain_timeout_s)

    # Persistence: MLflow is the record ---------------------------------------

    def load(self) -> None:
        """Rebuilds the records from the parent's child runs (after a restart of the driver)."""
        self.records = load_records(
            self._client,
            experiment_id=self._experiment_id,
            parent_run_id=self._parent,
            metric_names=self._metric_names,
            ranking=self.ranking,
        )

    def close_unfinished(self, state: TrialState, reason: str) -> None:
        """Ends the child runs of trials still running when the run stops (time budget, interruption, crash)."""
        self._trials.close_unfinished(state, reason)

    # Ray Tune hooks -----------------------------------------------------------

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self.progress.restart()
        self.load()  # records of an earlier driver of this run, if any

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        # Runs of trials the resumed Ray does not know are deleted (MLflow keeps deleted runs restorable).
        self._trials.keep_only({trial.trial_id for trial in trials})
        for trial in trials:  # the names of trials that keep_only numbered again
            self._write_name(trial, new=False)
        # Ray's restored copy of this tracker (on resume) ends here: send what it queued.
        self._drain()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trials.start(trial.trial_id, trial.config, trial.placement_group_factory.required_resources)
        self._write_name(trial, new=True)

    def _write_name(self, trial: Any, *, new: bool) -> None:
        """The trial's name into its directory: Ray starts the trial's code after this hook returns.

        The worker names what the trial writes outside its directory after it
        (`automl.execution._tensorboard`); `automl tensorboard` names its runs so.
        """
        record = self.records.get(trial.trial_id)
        if record is not None and (new or os.path.isdir(trial.path)):
            write_trial_name(trial.path, record.number)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        # The config the result was trained with: PBT may have given the trial its next one already.
        config = result.get("config") or trial.config
        self._trials.result(trial.trial_id, result, config=config, source=trial.experiment_tag)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trials.complete(trial.trial_id, paused=trial.status == Trial.PAUSED, trial_dir=trial.path)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._trials.retried(trial.trial_id, trial.run_metadata.num_failures)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id not in self.records:  # failed before it started
            self.on_trial_start(iteration, trials, trial)
        self._trials.failed(trial.trial_id, trace=_error_text(trial), trial_dir=trial.path)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        # Ray's loop comes here many times a second; a long stretch with no trial
        # ending still gets a line now and then, so a log shows the run is alive.
        if self.verbose:
            statuses = [t.status for t in trials]
            self.progress.step(
                self.records,
                running=statuses.count(Trial.RUNNING),
                paused=statuses.count(Trial.PAUSED),
                every_s=self.status_every_s,
            )

    def _ended(self, record: TrialRecord) -> None:
        if self.verbose:
            self.progress.ended(record, self.records)

    # Summaries ----------------------------------------------------------------

    def best_record(self, *, finished: bool = False) -> TrialRecord | None:
        """The trial with the best value of the metric over its epochs, among those that did not fail.

        ``finished``: among the trials that ended only, not those still running.
        """
        return self.ranking.best_record(self.records.values(), finished=finished)

    def dataframe(self) -> pd.DataFrame:
        return self.ranking.dataframe(self.records.values())

    def summaries(self) -> list[dict[str, Any]]:
        """Per trial: flat params, state, best value and per-epoch history of the metric."""
        return self.ranking.summaries(self.records.values())

    def log_summary(self, best_config: Mapping[str, Any] | None) -> None:
        """Writes the run's summary to the parent run."""
        frame = self.dataframe()
        counts = frame["state"].value_counts().to_dict() if len(frame) else {}
        best = self.best_record()
        best_value = self.ranking.best(best) if best is not None else None
        self._runs.summary(counts, best_value, frame.to_csv(index=False), best_config)
