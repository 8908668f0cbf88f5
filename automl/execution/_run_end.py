"""A run's loop and its end: Ray's `Tuner.fit`, then unfinished trials closed, the best model
copied, the `TuningResult` saved and the parent MLflow run's artifacts logged step by step."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from ray import tune

from automl._environ import environment_variable
from automl._objectives import best_on_front, pareto_front
from automl._result import RunInterrupted, TrialState, TuningResult
from automl.execution._flavor_info import example_rows, read_flavor_info
from automl.execution._parent_artifacts import ParentArtifacts
from automl.execution._ray_compat import plain_trial_actors, ray_console_replaced
from automl.execution._run_record import RunRecord
from automl.execution._scratch import remove_run_caches
from automl.execution._tuner import trial_id
from automl.execution._workers import reusing_workers
from automl.tracking._artifacts import log_plot_files, optuna_study
from automl.tracking._plots import PlotProcess, study_to_json
from automl.tracking._tracking import MlflowTracker, TrialRecord
from search_spaces import AutoMLError
from trainers._checkpoint import BEST_FILE

if TYPE_CHECKING:
    from automl.execution._runner import RunBase

__all__ = ["BEST_MODEL_NAME", "RunEnd"]

BEST_MODEL_NAME = "best_model.keras"

logger = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class _Drawing:
    """The plots being drawn into ``directory``, or why they could not be.

    ``study`` is what they are drawn from: kept for ``automl sync`` if they
    cannot be logged now.
    """

    directory: Path
    study: optuna.Study | None = None
    failed: Exception | None = None

    def study_json(self) -> dict[str, Any] | None:
        return None if self.study is None else study_to_json(self.study)


@contextlib.contextmanager
def _ray_as_automl_runs_it(run: RunBase) -> Iterator[None]:
    """Ray Tune within: reused workers, automl's console, plain trial actors, and no TensorBoard files.

    Ray adds its own loggers unless told not to; a run asks for Ray's
    ``result.json`` and ``progress.csv`` (a `ResultGrid` reads them) but not
    for the TensorBoard events, whose writes (an fsync each) delayed each
    epoch's report in the driver; the run's record is MLflow.
    """
    with (
        reusing_workers(run.workers),
        ray_console_replaced(),
        plain_trial_actors(),
        environment_variable("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1"),
    ):
        yield


class RunEnd:
    """Runs a run's `Tuner` and ends the run, whether its trials finished or it was interrupted.

    Args:
        run: What the run trains and how it ends (objectives, registered model name).
        record: Where the run is recorded.
        tracker: The tracker that reads the trials' records; for a resumed run,
            a new one that loads what Ray's restored copy logged.
        plots: What draws the plots; a new run's was started ahead by its
            `ImportsForArtifacts`. Defaults to drawing them in this process.
    """

    def __init__(
        self, run: RunBase, record: RunRecord, tracker: MlflowTracker, plots: PlotProcess | None = None
    ) -> None:
        self.run = run
        self.record = record
        self.tracker = tracker
        self.plots = plots or PlotProcess()
        self._flavor: dict[str, Any] | None = None  # what the best trial's worker wrote for MLflow

    def fit(self, tuner: tune.Tuner, *, resumed: bool = False) -> TuningResult:
        """Runs the trials, then returns the run's result; an interruption says how to resume.

        Raises:
            RunInterrupted: Ray's loop returned early on Ctrl-C.
            AutoMLError: No trial reported a finite value of the metric.
        """
        status, interrupted = "FAILED", False
        started = time.monotonic()
        try:
            try:
                with _ray_as_automl_runs_it(self.run):
                    grid = tuner.fit()
            except (KeyboardInterrupt, SystemExit):  # a second Ctrl-C; SIGTERM (Ray's handler exits)
                interrupted = True
                raise
            if resumed:  # the tracker that ran is Ray's restored copy; read what it logged
                self.tracker.load()
            if self._cut_short(time.monotonic() - started):
                interrupted = True
                raise RunInterrupted(self.record.run_dir)
            result = self._finished([grid[i] for i in range(len(grid))])
            status = "FINISHED"
            return result
        finally:
            self.plots.close()  # a plot process that got no study (the run failed or was interrupted)
            remove_run_caches(self.record.run_dir)  # the workers' caches of file-backed data, on this node
            self._close("KILLED" if interrupted else status, interrupted=interrupted)

    def _cut_short(self, elapsed_s: float) -> bool:
        """Whether Ray's loop returned early because of Ctrl-C.

        On Ctrl-C, Ray Tune saves its state and returns as if done. Trials still
        running, or fewer trials than asked for, then mean an interruption,
        unless the time budget ran out: Ray's budget clock starts after
        ``elapsed_s``'s, so it has not run out while ``elapsed_s`` is below it.
        """
        budget = self.run.time_budget_s
        if budget is not None and elapsed_s >= budget:
            return False
        records = self.tracker.records.values()
        return any(r.state is TrialState.RUNNING for r in records) or len(records) < self.run.num_trials

    def _finished(self, results: list[Any]) -> TuningResult:
        """The result of a run whose loop ended: saved, and logged to MLflow if it is reachable."""
        # Ray stops running trials when the time budget runs out without "completing" them.
        self.tracker.close_unfinished(TrialState.STOPPED, "stopped by the run's time budget")
        checkpoints = {trial_id(r.path): r.checkpoint for r in results if r.checkpoint is not None}
        result = self._result(checkpoints)
        with tempfile.TemporaryDirectory(prefix="automl-plots-") as plots:
            # Drawn from here on (in the plot process, if it runs) while the result is saved and the best model logged.
            drawing = self._draw_plots(Path(plots))
            result.save()
            if self.tracker.flush():
                self._log_artifacts(result, drawing)
            else:
                self.plots.close()  # gives up plots that will not be logged now
                artifacts = self._artifacts(result, drawing)
                artifacts.keep_pending(None, study=drawing.study_json(), metric=self.run.settings.monitor)
                logger.warning(
                    "MLflow at %s takes no writes: the best model and the plots were not logged to it; "
                    "the model is at %s, and `automl sync %s` logs them once the store takes writes again.",
                    self.record.public_uri,
                    result.best_model_path,
                    result.run_dir,
                )
        return result

    def _draw_plots(self, directory: Path) -> _Drawing:
        """Begins drawing the plots into ``directory``; a study that cannot be made is `_log_plots`'s failure."""
        metric, mode = self.run.settings.monitor, self.run.settings.mode
        try:
            study = optuna_study(self.run.space, self.tracker.summaries(), metric=metric, mode=mode)
            self.plots.render(study, metric=metric, directory=directory)
        except Exception as exc:  # named in the warning and the tag as the plots' failure
            return _Drawing(directory, failed=exc)
        return _Drawing(directory, study=study)

    def _close(self, status: str, *, interrupted: bool) -> None:
        """Closes the trials still open and the parent run, with the run's summary."""
        run_dir = self.record.run_dir
        if interrupted:
            self.tracker.close_unfinished(TrialState.INTERRUPTED, "")
            print(
                f"[automl] interrupted; continue the run with automl.resume({str(run_dir)!r}) "
                f"or `automl resume {run_dir}`",
                file=sys.stderr,
                flush=True,
            )
        self.tracker.close_unfinished(TrialState.FAILED, "the tuning run ended while this trial was running")
        best = self.best_record()
        self.tracker.log_summary(self.run.space.unflatten(best.params) if best else None)
        self.tracker.close(parent_status=status)

    def best_record(self) -> TrialRecord | None:
        """The trial whose model the run hands over: with several objectives, a Pareto-front trial."""
        if self.run.extra_objectives:
            chosen = best_on_front(self.tracker.dataframe(), self.run.objectives)
            if chosen is not None:
                return self.tracker.records[chosen]
        return self.tracker.best_record()

    def _result(self, checkpoints: dict[str, Any]) -> TuningResult:
        run, record = self.run, self.record
        monitor = run.settings.monitor
        best = self.best_record()
        if best is None or best.trial_id not in checkpoints:
            raise AutoMLError(
                f"no trial reported a finite {monitor!r}; see the `error` column of the trials in "
                f"MLflow run {record.parent_run_id} or Ray's logs under {record.run_dir}."
            )
        best_model = record.run_dir / BEST_MODEL_NAME
        with checkpoints[best.trial_id].as_directory() as directory:
            shutil.copyfile(Path(directory) / BEST_FILE, best_model)
            self._flavor = read_flavor_info(Path(directory))
        frame = self.tracker.dataframe()
        return TuningResult(
            best_config=run.space.unflatten(best.params),
            best_value=float(frame.loc[frame.trial_id == best.trial_id, f"best_{monitor}"].iloc[0]),
            metric=monitor,
            mode=run.settings.mode,
            trials=frame,
            best_model_path=best_model,
            run_dir=record.run_dir,
            tracking_uri=record.public_uri,
            experiment_id=record.experiment_id,
            parent_run_id=record.parent_run_id,
            objectives=run.objectives,
            pareto_front=pareto_front(frame, run.objectives) if run.extra_objectives else None,
            columns=run.data.columns,
            classes=run.data.classes,
            space=run.space,
        )

    # Artifacts of the parent run ---------------------------------------------

    def _log_artifacts(self, result: TuningResult, drawing: _Drawing) -> None:
        """Logs the parent run's artifacts; those that fail are kept for ``automl sync``.

        The trials' records are in MLflow and the result on disk by now: a
        failure here is warned about and named in the parent run's
        ``automl.artifacts_missing`` tag, and the run still returns its result.
        """
        artifacts = self._artifacts(result, drawing)
        failed = artifacts.log()
        if failed:
            artifacts.keep_pending(failed, study=drawing.study_json(), metric=self.run.settings.monitor)

    def _artifacts(self, result: TuningResult, drawing: _Drawing) -> ParentArtifacts:
        return ParentArtifacts(
            self.record.client,
            result,
            registered_model_name=self.run.registered_model_name,
            flavor=self._flavor,
            example=example_rows(self.run.data),
            log_plots=lambda: self._log_plots(result.parent_run_id, drawing),
        )

    def _log_plots(self, run_id: str, drawing: _Drawing) -> None:
        if drawing.failed is not None:
            raise drawing.failed
        log_plot_files(self.record.client, run_id, drawing.directory, self.plots.result())


