"""One tuning run on Ray Tune: wiring of searcher, scheduler, trainable and tracker."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from mlflow.entities import Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.search import BasicVariantGenerator

from automl._objectives import EXTRA_METRICS, Objective, best_on_front, pareto_front
from automl._result import MANIFEST_FILE, TRIAL_DIR_PREFIX, RunInterrupted, TrialState, TuningResult
from automl.execution._ray_compat import (
    plain_trial_actors,
    ray_console_replaced,
    run_config_callbacks,
)
from automl.execution._searcher import STUDY_NAME, EndedTrials, FlatSample, Searcher, seeded_storage
from automl.execution._shipped_build import RegisteringBuild
from automl.execution._trainable import KeepNewestCheckpoints, restore_missing_checkpoints, run_trial
from automl.execution._workers import RSS_KEY, WorkerPolicy, environment_variable, reusing_workers
from automl.planning._choices import SchedulerChoice
from automl.planning._warm_start import KnownPoint
from automl.tracking._artifacts import (
    ImportsForArtifacts,
    git_commit,
    log_best_model,
    log_study_plots,
    optuna_study,
)
from automl.tracking._tracking import (
    MlflowTracker,
    TrialRecord,
    default_tracking_uri,
    open_experiment,
    tracking_client,
)
from automl.tracking._writer import PENDING_FILE, replay
from search_spaces import AutoMLError, ConfigError, Space
from trainers import FitSettings, TrainingData, reported_metrics
from trainers._checkpoint import BEST_FILE

__all__ = ["Run", "optuna_warnings_only"]

BEST_MODEL_NAME = "best_model.keras"

MANIFEST_FORMAT = "automl-run/1"


logger = logging.getLogger(__name__)

# resources_per_trial keys → Ray's resource names (a TPU is Ray's custom resource "TPU").
_RAY_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU", "memory": "memory"}


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


def _log_pareto_front(client: MlflowClient, run_id: str, front: pd.DataFrame) -> None:
    client.log_text(run_id, front.to_csv(index=False), "pareto_front.csv")
    for trial_run_id in front["mlflow_run_id"]:
        client.set_tag(trial_run_id, "automl.pareto_front", "true")


def _qualname(function: Any) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"


def _restored_tracker(tuner: tune.Tuner) -> MlflowTracker | None:
    """The tracker Ray restored among a resumed run's callbacks: that copy runs, not a new one."""
    return next((c for c in run_config_callbacks(tuner) if isinstance(c, MlflowTracker)), None)


@contextlib.contextmanager
def _no_tensorboard_files() -> Iterator[None]:
    """Ray Tune adds no loggers of its own within: no TensorBoard files, only those the run asked for.

    Every run asks for Ray's ``result.json`` and ``progress.csv`` (a
    `ResultGrid` reads them). Writing the TensorBoard events (an fsync each)
    delayed each epoch's report in the driver while the trial waited; the
    run's record is MLflow.
    """
    with environment_variable("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"):
        yield


def _print_where(run_dir: Path, experiment_name: str, tracking_uri: str) -> None:
    print(
        f"[automl] run directory {run_dir} | MLflow experiment {experiment_name!r} at {tracking_uri}",
        flush=True,
    )


def _ray_resources(resources: Mapping[str, float]) -> dict[str, float]:
    return {_RAY_NAMES[k]: float(v) for k, v in resources.items()}


def _trial_dirname(trial: Any) -> str:
    # Ray's default name spells out the whole config and overflows paths.
    return f"{TRIAL_DIR_PREFIX}{trial.trial_id}"


def _trial_id(trial_path: str) -> str:
    return Path(trial_path).name.removeprefix(TRIAL_DIR_PREFIX)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """A validated tuning run, ready to execute (or resume) on the current Ray instance.

    The search settings (sampler, warm-start points, scheduler, concurrency)
    are ``None`` for a resumed run: Ray restores them from its experiment state.
    """

    space: Space
    data: TrainingData
    settings: FitSettings
    num_trials: int
    resources: dict[str, float]
    tracking_uri: str | None
    experiment_name: str
    registered_model_name: str | None
    storage_path: Path
    sampler: optuna.samplers.BaseSampler | None = None
    points_to_evaluate: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    known_points: list[KnownPoint] = dataclasses.field(default_factory=list)
    extra_objectives: tuple[Objective, ...] = ()  # after (settings.monitor, settings.mode)
    scheduler: SchedulerChoice | None = None
    max_concurrent_trials: int | None = None
    max_failures: int = 0
    workers: WorkerPolicy = WorkerPolicy()
    time_budget_s: float | None = None
    seed: int | None = None
    data_spec: dict[str, Any] | None = None  # where the data came from, for resume
    callbacks: tuple[Any, ...] = ()
    callback_refs: tuple[str, ...] = ()  # where `callbacks` came from ('file.py:function' each), for resume
    build: Callable[[dict[str, Any]], Any] | None = None  # the user's model, instead of the space's layers
    build_ref: str | None = None  # where `build` came from ("file.py:function"), for resume
    # The metrics `build`'s models report each epoch (their own, custom ones included); else the trainer's.
    reported: tuple[str, ...] | None = None

    @property
    def objectives(self) -> tuple[Objective, ...]:
        return ((self.settings.monitor, self.settings.mode), *self.extra_objectives)

    @property
    def _reported_metrics(self) -> tuple[str, ...]:
        return self.reported or reported_metrics(self.data.task, self.settings.metrics)

    @property
    def _define_by_run(self) -> FlatSample:
        return FlatSample(self.space)

    def _run_params(self) -> dict[str, str]:
        return {
            "sampler": type(self.sampler).__name__,
            "scheduler": self.scheduler.name if self.scheduler else "None",
            **{
                f"scheduler.{k}": str(v)
                for k, v in (self.scheduler.settings if self.scheduler else {}).items()
            },
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

    @property
    def _pbt(self) -> bool:
        return self.scheduler is not None and self.scheduler.name == "pbt"

    def _population(self) -> list[dict[str, Any]]:
        """PBT's starting configs, flat: the points to evaluate, then the sampler's picks.

        Ray's PBT takes no search algorithm (it evolves configs itself), so the
        sampler picks the whole population up front, with no scores to learn
        from: TPE's start-up trials are random, QMC spreads them out.
        """
        study = optuna.create_study(sampler=self.sampler)
        for params in self.points_to_evaluate:
            study.enqueue_trial(params)
        return [self._define_by_run(study.ask()) for _ in range(self.num_trials)]

    def _param_space(self, population: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Ray's param space: only PBT's (OptunaSearch samples define-by-run).

        Ray accepts a starting config only over keys of the param space, and
        warns about values outside it: each flat key gets the population's values.
        """
        if not population:
            return None
        space: dict[str, list[Any]] = {key: [] for key in self.space.flat_keys()}
        for config in population:
            for key, value in config.items():
                if value not in space[key]:
                    space[key].append(value)
        return {key: tune.choice(values) for key, values in space.items()}

    def _search_alg(
        self, storage: optuna.storages.BaseStorage | None, population: list[dict[str, Any]]
    ) -> Any:
        if population:
            return BasicVariantGenerator(points_to_evaluate=population)
        return Searcher(
            space=self._define_by_run,
            sampler=self.sampler,
            # One objective as a string: OptunaSearch treats a list as several.
            metric=[n for n, _ in self.objectives] if self.extra_objectives else self.settings.monitor,
            mode=[m for _, m in self.objectives] if self.extra_objectives else self.settings.mode,
            points_to_evaluate=self.points_to_evaluate or None,
            storage=storage,
            study_name=STUDY_NAME,
        )

    def _tune_config(self, population: list[dict[str, Any]]) -> tune.TuneConfig:
        if self.sampler is None or self.scheduler is None:
            raise AutoMLError("a resumed run takes its search settings from Ray's experiment state")
        storage = None
        if self.known_points:
            storage = seeded_storage(
                self.known_points,
                direction=self.settings.mode,
                sample=self._define_by_run,
                study_name=STUDY_NAME,
            )
        return tune.TuneConfig(
            metric=self.settings.monitor,
            mode=self.settings.mode,
            search_alg=self._search_alg(storage, population),
            scheduler=self.scheduler.build(epochs=self.settings.epochs),
            num_samples=self.num_trials,
            max_concurrent_trials=self.max_concurrent_trials,
            time_budget_s=self.time_budget_s,
            reuse_actors=True,  # TF is imported once per worker, not once per trial
            trial_dirname_creator=_trial_dirname,
        )

    def manifest(
        self, *, name: str, experiment_id: str, parent_run_id: str, tracking_uri: str
    ) -> dict[str, Any]:
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
            "tracking_uri": tracking_uri,
            "experiment_id": experiment_id,
            "experiment_name": self.experiment_name,
            "registered_model_name": self.registered_model_name,
            "parent_run_id": parent_run_id,
            "extra_objectives": [list(o) for o in self.extra_objectives],
            "workers": dataclasses.asdict(self.workers),
        }

    def _trainable(self, run_dir: Path) -> Any:
        trainable = tune.with_parameters(
            run_trial,
            run_dir=run_dir,
            space=self.space,
            data=self.data,
            settings=self.settings,
            callbacks=self.callbacks,
            build=RegisteringBuild(self.build) if self.build is not None else None,
            memory_limit=self.resources.get("memory"),
        )
        return tune.with_resources(trainable, _ray_resources(self.resources))

    def check_resources_fit(self) -> None:
        """Raises unless some live node of the Ray cluster can hold one trial.

        Ray would otherwise wait forever for a node that never comes (on a
        cluster without autoscaling).

        Raises:
            ConfigError: No node has every resource a trial asks for.
        """
        import ray

        need = {k: v for k, v in _ray_resources(self.resources).items() if v > 0}
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
            return
        shown = [{k: node.get(k, 0) for k in need} for node in nodes]
        raise ConfigError(
            f"a trial asks for {self.resources}, but no node of the Ray cluster has that much "
            f"(nodes: {shown}); lower resources_per_trial or add a larger node.",
            field="resources_per_trial",
        )

    def _tracker(
        self, client: MlflowClient, experiment_id: str, parent_id: str, run_dir: Path, verbose: int
    ) -> MlflowTracker:
        return MlflowTracker(
            client=client,
            experiment_id=experiment_id,
            parent_run_id=parent_id,
            space=self.space,
            metric=self.settings.monitor,
            mode=self.settings.mode,
            epochs=self.settings.epochs,
            metric_names=[*self._reported_metrics, *EXTRA_METRICS, RSS_KEY],
            objectives=[name for name, _ in self.extra_objectives],
            mutated=list(self.scheduler.mutations) if self.scheduler else (),
            num_trials=self.num_trials,
            time_budget_s=self.time_budget_s,
            journal=run_dir / PENDING_FILE,
            verbose=verbose,
        )

    def _describe(self) -> str:
        """The run's search settings in one phrase, for its first progress line."""
        budget = f"{self.num_trials} trial{'s' if self.num_trials != 1 else ''}"
        if self.time_budget_s is not None:
            budget += f" or {self.time_budget_s:g}s"
        at_once = self.max_concurrent_trials or "as many as fit"
        each = ", ".join(f"{k}={v:g}" for k, v in self.resources.items())
        scheduler = self.scheduler.name if self.scheduler else "none"
        return (
            f"{budget} of up to {self.settings.epochs} epochs, {at_once} at a time ({each} each); "
            f"sampler {type(self.sampler).__name__}, scheduler {scheduler}"
        )

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or default_tracking_uri()

    def execute(self, *, name: str, verbose: int, client: MlflowClient | None = None) -> TuningResult:
        """Runs the trials on the current Ray instance; ``name`` names the run directory and MLflow run.

        ``client`` is this run's tracking store, when opened beforehand (see `Experiment.run`).
        """
        self.check_resources_fit()
        run_dir = self.storage_path / name
        if run_dir.exists():
            raise ConfigError(
                f"{run_dir} already exists; resume it with automl.resume({str(run_dir)!r}) or pick another name.",
                field="name",
            )
        run_dir.mkdir(parents=True)
        tracking_uri = self.resolved_tracking_uri()
        client = client or tracking_client(tracking_uri)
        experiment_id = open_experiment(client, self.experiment_name)
        tags = {"automl.kind": "tuning-run", "automl.run_dir": str(run_dir)}
        commit = git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
        parent_id = client.create_run(experiment_id, run_name=name, tags=tags).info.run_id
        client.log_batch(parent_id, params=[Param(k, v) for k, v in self._run_params().items()])
        client.log_text(parent_id, self.space.to_yaml(), "space.yaml")
        manifest = self.manifest(
            name=name, experiment_id=experiment_id, parent_run_id=parent_id, tracking_uri=tracking_uri
        )
        (run_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        tracker = self._tracker(client, experiment_id, parent_id, run_dir, verbose)
        if verbose:
            print(f"[automl] run {name}: {self._describe()}", flush=True)
            _print_where(run_dir, self.experiment_name, tracking_uri)
        population = self._population() if self._pbt else []
        tuner = tune.Tuner(
            self._trainable(run_dir),
            param_space=self._param_space(population),
            tune_config=self._tune_config(population),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(self.storage_path),
                callbacks=[
                    tracker,
                    ImportsForArtifacts(self.num_trials, self.time_budget_s),
                    CSVLoggerCallback(),  # Ray's per-trial progress.csv and result.json,
                    JsonLoggerCallback(),  # but not its TensorBoard files (_no_tensorboard_files)
                    # PBT hands a trial another's checkpoint, perhaps several epochs old: keep them all.
                    *([] if self._pbt else [KeepNewestCheckpoints()]),
                ],
                failure_config=tune.FailureConfig(max_failures=self.max_failures),
                stop=EndedTrials(),
                verbose=0,
            ),
        )
        return self._fit(tuner, tracker, client, run_dir, tracking_uri, experiment_id, parent_id)

    def resume(self, run_dir: Path, manifest: Mapping[str, Any], *, verbose: int) -> TuningResult:
        """Continues an interrupted run from Ray's experiment state in ``run_dir``."""
        tracking_uri, experiment_id, parent_id = (
            manifest["tracking_uri"],
            manifest["experiment_id"],
            manifest["parent_run_id"],
        )
        self.check_resources_fit()
        journal = run_dir / PENDING_FILE
        if journal.exists():  # writes the interrupted driver had not sent yet: send them first
            replay(journal, tracking_uri)
        client = MlflowClient(tracking_uri)
        client.update_run(parent_id, status="RUNNING")
        for made in restore_missing_checkpoints(run_dir):
            logger.info("Ray's state named a checkpoint it had deleted; %s now holds the newest one.", made)
        tuner = tune.Tuner.restore(str(run_dir), trainable=self._trainable(run_dir), resume_unfinished=True)
        restored = _restored_tracker(tuner)
        if restored is not None:  # the copy that runs prints as this call asks, not as the first did
            restored.verbose = verbose
        tracker = self._tracker(client, experiment_id, parent_id, run_dir, verbose)
        if verbose:
            print(f"[automl] resuming run {manifest['name']}", flush=True)
            _print_where(run_dir, manifest["experiment_name"], tracking_uri)
        return self._fit(
            tuner, tracker, client, run_dir, tracking_uri, experiment_id, parent_id, resumed=True
        )

    def _fit(
        self,
        tuner: tune.Tuner,
        tracker: MlflowTracker,
        client: MlflowClient,
        run_dir: Path,
        tracking_uri: str,
        experiment_id: str,
        parent_id: str,
        *,
        resumed: bool = False,
    ) -> TuningResult:
        status = "FAILED"
        interrupted = False
        started = time.monotonic()
        try:
            try:
                with (
                    reusing_workers(self.workers),
                    ray_console_replaced(),
                    plain_trial_actors(),
                    _no_tensorboard_files(),
                ):
                    grid = tuner.fit()
            except (KeyboardInterrupt, SystemExit):  # a second Ctrl-C; SIGTERM (Ray's handler exits)
                interrupted = True
                raise
            if resumed:  # the tracker that ran is Ray's restored copy; read what it logged
                tracker.load()
            if self._cut_short(tracker, time.monotonic() - started):
                interrupted = True
                raise RunInterrupted(run_dir)
            # Ray stops running trials when the time budget runs out without "completing" them.
            tracker.close_unfinished(TrialState.STOPPED, "stopped by the run's time budget")
            results = [grid[i] for i in range(len(grid))]
            checkpoints = {_trial_id(r.path): r.checkpoint for r in results if r.checkpoint is not None}
            result = self._result(tracker, checkpoints, run_dir, tracking_uri, experiment_id, parent_id)
            result.save()
            if tracker.flush(timeout=60):
                self._log_artifacts(client, tracker, result)
            else:
                logger.warning(
                    "MLflow at %s is unreachable: the best model and the plots were not logged to it; "
                    "the model is at %s.",
                    tracking_uri,
                    result.best_model_path,
                )
            status = "FINISHED"
            return result
        finally:
            if interrupted:
                tracker.close_unfinished(TrialState.INTERRUPTED, "")
                status = "KILLED"
                print(
                    f"[automl] interrupted; continue the run with automl.resume({str(run_dir)!r}) "
                    f"or `automl resume {run_dir}`",
                    file=sys.stderr,
                    flush=True,
                )
            tracker.close_unfinished(TrialState.FAILED, "the tuning run ended while this trial was running")
            best = self._best_record(tracker)
            tracker.log_summary(self.space.unflatten(best.params) if best else None)
            tracker.close(parent_status=status)

    def _best_record(self, tracker: MlflowTracker) -> TrialRecord | None:
        """The trial whose model the run hands over: with several objectives, a Pareto-front trial."""
        if self.extra_objectives:
            chosen = best_on_front(tracker.dataframe(), self.objectives)
            if chosen is not None:
                return tracker.records[chosen]
        return tracker.best_record()

    def _cut_short(self, tracker: MlflowTracker, elapsed_s: float) -> bool:
        """Whether Ray's loop returned early because of Ctrl-C.

        On Ctrl-C, Ray Tune saves its state and returns as if done. Trials still
        running, or fewer trials than asked for, then mean an interruption,
        unless the time budget ran out: Ray's budget clock starts after
        ``elapsed_s``'s, so it has not run out while ``elapsed_s`` is below it.
        """
        if self.time_budget_s is not None and elapsed_s >= self.time_budget_s:
            return False
        records = tracker.records.values()
        return any(r.state is TrialState.RUNNING for r in records) or len(records) < self.num_trials

    def _log_artifacts(self, client: MlflowClient, tracker: MlflowTracker, result: TuningResult) -> None:
        """Logs the parent run's plots, tables and best model; one that fails does not stop the others.

        The trials' records are in MLflow and the result on disk by now: a
        failure here (an artifact store that refuses writes, a model MLflow
        cannot log) is warned about and named in the parent run's
        ``automl.artifacts_missing`` tag, and the run still returns its result.
        """
        run_id = result.parent_run_id
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("the plots", lambda: self._log_plots(client, tracker, run_id)),
            ("the best model", lambda: self._log_best_model(client, result)),
        ]
        if result.pareto_front is not None:
            steps.append(("the Pareto front", lambda: _log_pareto_front(client, run_id, result.pareto_front)))
        if result.columns is not None:  # what the model's inputs are, for people loading it from MLflow
            columns = {"columns": [c.to_dict() for c in result.columns], "classes": result.classes}
            steps.append(("the data's columns", lambda: client.log_dict(run_id, columns, "data_columns.json")))
        missing = []
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # any failure of MLflow, its artifact store or Keras: the rest goes on
                missing.append(what)
                logger.warning(
                    "Logging %s to MLflow run %s failed (%s: %s); the run's result is kept at %s.",
                    what,
                    run_id,
                    type(exc).__name__,
                    exc,
                    result.run_dir,
                )
        if missing:
            try:
                client.set_tag(run_id, "automl.artifacts_missing", ", ".join(missing))
            except MlflowException as exc:
                logger.warning("Tagging MLflow run %s failed: %s", run_id, exc)

    def _log_plots(self, client: MlflowClient, tracker: MlflowTracker, run_id: str) -> None:
        metric, mode = self.settings.monitor, self.settings.mode
        study = optuna_study(self.space, tracker.summaries(), metric=metric, mode=mode)
        log_study_plots(client, run_id, study, metric=metric)

    def _log_best_model(self, client: MlflowClient, result: TuningResult) -> None:
        version = log_best_model(
            client,
            result.parent_run_id,
            result.best_model_path,
            self.data.x_val,
            registered_name=self.registered_model_name,
        )
        if version is not None:
            client.set_tag(
                result.parent_run_id, "automl.registered_model", f"{self.registered_model_name}/{version}"
            )

    def _result(
        self,
        tracker: MlflowTracker,
        checkpoints: Mapping[str, Any],
        run_dir: Path,
        tracking_uri: str,
        experiment_id: str,
        parent_id: str,
    ) -> TuningResult:
        best = self._best_record(tracker)
        if best is None or best.trial_id not in checkpoints:
            raise AutoMLError(
                f"no trial reported a finite {self.settings.monitor!r}; see the `error` column of "
                f"the trials in MLflow run {parent_id} or Ray's logs under {run_dir}."
            )
        best_model = run_dir / BEST_MODEL_NAME
        with checkpoints[best.trial_id].as_directory() as directory:
            shutil.copyfile(Path(directory) / BEST_FILE, best_model)
        frame = tracker.dataframe()
        front = pareto_front(frame, self.objectives) if self.extra_objectives else None
        return TuningResult(
            best_config=self.space.unflatten(best.params),
            best_value=float(
                frame.loc[frame.trial_id == best.trial_id, f"best_{self.settings.monitor}"].iloc[0]
            ),
            metric=self.settings.monitor,
            mode=self.settings.mode,
            trials=frame,
            best_model_path=best_model,
            run_dir=run_dir,
            tracking_uri=tracking_uri,
            experiment_id=experiment_id,
            parent_run_id=parent_id,
            objectives=self.objectives,
            pareto_front=front,
            columns=self.data.columns,
            classes=self.data.classes,
            space=self.space,
        )
