"""A tuning run on Ray Tune: a new run (`Run`) or an interrupted one continued (`ResumedRun`).

The pieces live beside this module: the Tuner's wiring (``_tuner``, ``_searcher``), the run's
directory and parent MLflow run (``_run_record``), and Ray's loop and the run's end (``_run_end``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from mlflow.tracking import MlflowClient
from ray import tune

from automl._objectives import EXTRA_METRICS, Objective
from automl._result import TuningResult
from automl.execution._ray_compat import run_config_callbacks
from automl.execution._resources import check_fits
from automl.execution._run_end import RunEnd
from automl.execution._run_record import RunRecord
from automl.execution._trainable import restore_missing_checkpoints
from automl.execution._tuner import new_tuner, trainable
from automl.execution._workers import RSS_KEY, WorkerPolicy
from automl.tracking._lineage import dataset_input
from automl.tracking._plots import PlotProcess
from automl.tracking._tracking import MlflowTracker, default_tracking_uri, tracking_client
from search_spaces import Space
from trainers import FitSettings, StreamingData, TrainingData, reported_metrics
from trainers._backbones import PHASE_METRIC

if TYPE_CHECKING:  # the plan's parts, as planning makes them
    from automl.planning._choices import SchedulerChoice
    from automl.planning._warm_start import KnownPoint

__all__ = ["MANIFEST_FORMAT", "ResumedRun", "Run", "RunBase", "optuna_warnings_only"]

MANIFEST_FORMAT = "automl-run/1"

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def optuna_warnings_only() -> Iterator[None]:
    """Optuna's log shows only warnings within: the studies a run creates are its own.

    Optuna logs every study it creates at INFO ("A new study created in memory
    ..."): Ray's searcher, PBT's population and the plots each make one.
    """
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


def _qualname(function: Any) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunBase:
    """What a new run and a resumed one share: what each trial trains, and how the run ends."""

    space: Space
    data: TrainingData | StreamingData
    settings: FitSettings
    num_trials: int
    resources: dict[str, float]
    registered_model_name: str | None
    extra_objectives: tuple[Objective, ...] = ()  # after (settings.monitor, settings.mode)
    workers: WorkerPolicy = WorkerPolicy()
    time_budget_s: float | None = None
    callbacks: tuple[Any, ...] = ()
    build: Callable[[dict[str, Any]], Any] | None = None  # the user's model, instead of the space's layers
    # The metrics `build`'s models report each epoch (their own, custom ones included); else the trainer's.
    reported: tuple[str, ...] | None = None
    tensorboard: bool = False  # each trial writes its epoch scalars as TensorBoard event files
    log_tensorboard_to_mlflow: bool = False  # and they are attached to its MLflow run

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return ((self.settings.monitor, self.settings.mode), *self.extra_objectives)

    def check_resources_fit(self) -> None:
        """Raises a ConfigError unless some live node of the Ray cluster can hold one trial."""
        import ray

        check_fits(self.resources, (node["Resources"] for node in ray.nodes() if node.get("Alive")))

    def _tracker(self, record: RunRecord, verbose: int, *, mutated: Sequence[str] = ()) -> MlflowTracker:
        return MlflowTracker(
            client=record.client,
            experiment_id=record.experiment_id,
            parent_run_id=record.parent_run_id,
            space=self.space,
            metric=self.settings.monitor,
            mode=self.settings.mode,
            epochs=self.settings.epochs,
            metric_names=[
                *(self.reported or reported_metrics(self.data.task, self.settings.metrics)),
                *EXTRA_METRICS,
                RSS_KEY,
                PHASE_METRIC,  # a backbone's fine-tuning phase per epoch; other models do not report it
            ],
            objectives=[name for name, _ in self.extra_objectives],
            mutated=list(mutated),
            num_trials=self.num_trials,
            time_budget_s=self.time_budget_s,
            tensorboard_artifacts=self.log_tensorboard_to_mlflow,
            journal=record.journal,
            dataset=dataset_input(self.data),
            verbose=verbose,
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run(RunBase):
    """A validated new tuning run, ready to execute on the current Ray instance."""

    tracking_uri: str | None
    experiment_name: str
    storage_path: Path
    sampler: optuna.samplers.BaseSampler
    scheduler: SchedulerChoice
    points_to_evaluate: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    known_points: list[KnownPoint] = dataclasses.field(default_factory=list)
    max_concurrent_trials: int | None = None
    max_failures: int = 0
    seed: int | None = None
    data_spec: dict[str, Any] | None = None  # where the data came from, for resume
    callback_refs: tuple[str, ...] = ()  # where `callbacks` came from ('file.py:function' each), for resume
    build_ref: str | None = None  # where `build` came from ("file.py:function"), for resume

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or default_tracking_uri()

    def execute(self, *, name: str, verbose: int, client: MlflowClient | None = None) -> TuningResult:
        """Runs the trials on the current Ray instance; ``name`` names the run directory and MLflow run.

        ``client`` is this run's tracking store, when opened beforehand (see `Experiment.run`).
        """
        self.check_resources_fit()
        tracking_uri = self.resolved_tracking_uri()
        record = RunRecord.create(
            storage_path=self.storage_path,
            name=name,
            client=client or tracking_client(tracking_uri),
            tracking_uri=tracking_uri,
            experiment_name=self.experiment_name,
            params=self._run_params(),
            space=self.space,
            dataset=dataset_input(self.data),
        )
        record.write_manifest(self.manifest(name=name, record=record))
        tracker = self._tracker(record, verbose, mutated=list(self.scheduler.mutations))
        if verbose:
            print(f"[automl] run {name}: {self._describe()}", flush=True)
            record.print_where(self.experiment_name)
        plots = PlotProcess()  # started with the last trials, it draws the plots at the end
        tuner = new_tuner(self, name=name, run_dir=record.run_dir, tracker=tracker, plots=plots)
        return RunEnd(self, record, tracker, plots).fit(tuner)

    def manifest(self, *, name: str, record: RunRecord) -> dict[str, Any]:
        """What `automl.resume` needs to rebuild this run; the rest is in Ray's experiment state."""
        return {
            "format": MANIFEST_FORMAT,
            "name": name,
            "owner_uid": os.getuid(),
            "space": self.space.to_dict(),
            "settings": dataclasses.asdict(self.settings),
            "data": self.data_spec,
            "resources": self.resources,
            "num_trials": self.num_trials,
            "time_budget_s": self.time_budget_s,  # tells a budget's end from an interruption
            "callbacks": len(self.callbacks),
            "callback_refs": list(self.callback_refs),
            # A file reference is loaded again on resume; a Python function must be passed again.
            "build": self.build_ref or (_qualname(self.build) if self.build else None),
            "build_is_ref": self.build_ref is not None,
            "reported": list(self.reported) if self.reported is not None else None,
            "tracking_uri": record.public_uri,  # a password comes from the environment on resume
            "experiment_id": record.experiment_id,
            "experiment_name": self.experiment_name,
            "registered_model_name": self.registered_model_name,
            "parent_run_id": record.parent_run_id,
            "extra_objectives": [list(o) for o in self.extra_objectives],
            "workers": dataclasses.asdict(self.workers),
            "tensorboard": self.tensorboard,
            "log_tensorboard_to_mlflow": self.log_tensorboard_to_mlflow,
        }

    def _run_params(self) -> dict[str, str]:
        """The parent MLflow run's params: the run's search settings."""
        return {
            "sampler": type(self.sampler).__name__,
            "scheduler": self.scheduler.name,
            **{f"scheduler.{k}": str(v) for k, v in self.scheduler.settings.items()},
            "num_trials": str(self.num_trials),
            "time_budget_s": str(self.time_budget_s),
            "epochs": str(self.settings.epochs),
            "patience": str(self.settings.patience),
            "metric": ",".join(name for name, _ in self.objectives),
            "mode": ",".join(mode for _, mode in self.objectives),
            "seed": str(self.seed),
            "points_to_evaluate": str(len(self.points_to_evaluate)),
            "evaluated_points": str(len(self.known_points)),
            "data": self.data.name,
            "resources_per_trial": str(self.resources),
        }

    def _describe(self) -> str:
        """The run's search settings in one phrase, for its first progress line."""
        budget = f"{self.num_trials} trial{'s' if self.num_trials != 1 else ''}"
        if self.time_budget_s is not None:
            budget += f" or {self.time_budget_s:g}s"
        at_once = self.max_concurrent_trials or "as many as fit"
        each = ", ".join(f"{k}={v:g}" for k, v in self.resources.items())
        return (
            f"{budget} of up to {self.settings.epochs} epochs, {at_once} at a time ({each} each); "
            f"sampler {type(self.sampler).__name__}, scheduler {self.scheduler.name}"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResumedRun(RunBase):
    """An interrupted run, rebuilt from its ``run.json``: Ray restores its search from its experiment state."""

    def resume(self, run_dir: Path, manifest: Mapping[str, Any], *, verbose: int) -> TuningResult:
        """Continues the run from Ray's experiment state in ``run_dir``."""
        self.check_resources_fit()
        record = RunRecord.reopen(run_dir, manifest)
        for made in restore_missing_checkpoints(run_dir):
            logger.info("Ray's state named a checkpoint it had deleted; %s now holds the newest one.", made)
        tuner = tune.Tuner.restore(str(run_dir), trainable=trainable(self, run_dir), resume_unfinished=True)
        restored = _restored_tracker(tuner)
        if restored is not None:  # the copy that runs prints as this call asks, not as the first did
            restored.verbose = verbose
        tracker = self._tracker(record, verbose)
        if verbose:
            print(f"[automl] resuming run {manifest['name']}", flush=True)
            record.print_where(manifest["experiment_name"])
        return RunEnd(self, record, tracker).fit(tuner, resumed=True)


def _restored_tracker(tuner: tune.Tuner) -> MlflowTracker | None:
    """The tracker Ray restored among a resumed run's callbacks: that copy runs, not a new one."""
    return next((c for c in run_config_callbacks(tuner) if isinstance(c, MlflowTracker)), None)
