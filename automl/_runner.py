"""One tuning run on Ray Tune: wiring of searcher, scheduler, trainable and tracker."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import optuna
from mlflow.entities import Param
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.search.optuna import OptunaSearch

from automl._artifacts import git_commit, log_best_model, log_study_plots, optuna_study
from automl._choices import SchedulerChoice
from automl._result import TuningResult
from automl._tracking import MlflowTracker, default_tracking_uri, open_experiment
from automl._trainable import run_trial
from search_spaces import AutoMLError, Space
from trainers import FitSettings, TrainingData, reported_metrics
from trainers._settings import CHECKPOINT_FILE

__all__ = ["Run"]

BEST_MODEL_NAME = "best_model.keras"


def _trial_dirname(trial: Any) -> str:
    # Ray's default name spells out the whole config and overflows paths.
    return f"trial_{trial.trial_id}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Run:
    """A validated tuning run, ready to execute on the current Ray instance."""

    space: Space
    data: TrainingData
    settings: FitSettings
    sampler: optuna.samplers.BaseSampler
    points_to_evaluate: list[dict[str, Any]]
    scheduler: SchedulerChoice
    num_trials: int
    resources: dict[str, float]
    max_concurrent_trials: int | None
    tracking_uri: str | None
    experiment_name: str
    registered_model_name: str | None
    storage_path: Path
    seed: int | None
    callbacks: tuple[Any, ...] = ()

    def _define_by_run(self, trial: optuna.Trial) -> dict[str, Any]:
        # Ray merges the returned dict over the captured optuna params: the
        # trial's config becomes exactly the flat form, the same keys as MLflow.
        return self.space.flatten(self.space.sample(trial))

    def _run_params(self) -> dict[str, str]:
        return {
            "sampler": type(self.sampler).__name__,
            "scheduler": self.scheduler.name,
            **{f"scheduler.{k}": str(v) for k, v in self.scheduler.settings.items()},
            "num_trials": str(self.num_trials),
            "epochs": str(self.settings.epochs),
            "patience": str(self.settings.patience),
            "metric": self.settings.monitor,
            "mode": self.settings.mode,
            "seed": str(self.seed),
            "points_to_evaluate": str(len(self.points_to_evaluate)),
            "data": self.data.name,
            "resources_per_trial": str(self.resources),
        }

    def _tuner(self, tracker: MlflowTracker, name: str) -> tune.Tuner:
        trainable = tune.with_parameters(
            run_trial, space=self.space, data=self.data, settings=self.settings, callbacks=self.callbacks
        )
        return tune.Tuner(
            tune.with_resources(trainable, self.resources),
            tune_config=tune.TuneConfig(
                metric=self.settings.monitor,
                mode=self.settings.mode,
                search_alg=OptunaSearch(
                    space=self._define_by_run,
                    sampler=self.sampler,
                    metric=self.settings.monitor,
                    mode=self.settings.mode,
                    points_to_evaluate=self.points_to_evaluate or None,
                ),
                scheduler=self.scheduler.build(epochs=self.settings.epochs),
                num_samples=self.num_trials,
                max_concurrent_trials=self.max_concurrent_trials,
                reuse_actors=True,  # TF is imported once per worker, not once per trial
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=str(self.storage_path),
                callbacks=[tracker],
                verbose=0,
            ),
        )

    def execute(self, *, name: str, verbose: int) -> TuningResult:
        """Runs the trials on the current Ray instance; ``name`` names the run directory and MLflow run."""
        tracking_uri = self.tracking_uri or default_tracking_uri()
        client = MlflowClient(tracking_uri)
        experiment_id = open_experiment(client, self.experiment_name)
        tags = {"automl.kind": "tuning-run"}
        commit = git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
        parent = client.create_run(experiment_id, run_name=name, tags=tags)
        parent_id = parent.info.run_id
        params = self._run_params()
        client.log_batch(parent_id, params=[Param(k, v) for k, v in params.items()])
        client.log_text(parent_id, self.space.to_yaml(), "space.yaml")
        tracker = MlflowTracker(
            client=client,
            experiment_id=experiment_id,
            parent_run_id=parent_id,
            space=self.space,
            metric=self.settings.monitor,
            mode=self.settings.mode,
            epochs=self.settings.epochs,
            metric_names=reported_metrics(self.data.task),
            num_trials=self.num_trials,
            verbose=verbose,
        )
        status = "FAILED"
        try:
            self._tuner(tracker, name).fit()
            result = self._result(tracker, name, tracking_uri, experiment_id, parent_id)
            result.save()
            self._log_artifacts(client, tracker, result)
            status = "FINISHED"
            return result
        finally:
            best = tracker.best_record()
            tracker.log_summary(self.space.unflatten(best.params) if best else None)
            client.set_terminated(parent_id, status=status)

    def _log_artifacts(self, client: MlflowClient, tracker: MlflowTracker, result: TuningResult) -> None:
        metric, mode = self.settings.monitor, self.settings.mode
        study = optuna_study(self.space, tracker.summaries(), metric=metric, mode=mode)
        log_study_plots(client, result.parent_run_id, study, metric=metric)
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
        self, tracker: MlflowTracker, name: str, tracking_uri: str, experiment_id: str, parent_id: str
    ) -> TuningResult:
        best = tracker.best_record()
        if best is None or best.checkpoint is None:
            raise AutoMLError(
                f"no trial reported a finite {self.settings.monitor!r}; see the `error` column of "
                f"the trials in MLflow run {parent_id} or Ray's logs under {self.storage_path / name}."
            )
        run_dir = self.storage_path / name
        best_model = run_dir / BEST_MODEL_NAME
        with best.checkpoint.as_directory() as directory:
            shutil.copyfile(Path(directory) / CHECKPOINT_FILE, best_model)
        frame = tracker.dataframe()
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
        )
