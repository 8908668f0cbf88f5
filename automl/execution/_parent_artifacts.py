"""The parent MLflow run's end-of-run artifacts: best model (registered), plots, Pareto front, data's columns.

A run logs them as it ends (`automl.execution._run_end`). Those it could not
log (the store took no writes by then, or a step failed) are written down in
the run directory, ``artifacts_pending.json`` with the study's trials as JSON
and ``input_example.npy`` (saved without pickling), and `log_pending`, run
by ``automl sync``, logs them once the store takes writes again.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from automl._result import TuningResult
from automl.tracking._artifacts import log_best_model, log_plot_files
from automl.tracking._plots import render_study_plots, study_from_json

__all__ = ["EXAMPLE_FILE", "PENDING_FILE", "PLOTS", "ParentArtifacts", "Pending", "log_pending"]

logger = logging.getLogger(__name__)

PENDING_FILE = "artifacts_pending.json"
EXAMPLE_FILE = "input_example.npy"
MISSING_TAG = "automl.artifacts_missing"

# The steps' names, in the warnings, the tag and the pending file.
PLOTS = "the plots"
BEST_MODEL = "the best model"
PARETO_FRONT = "the Pareto front"
CLASS_NAMES = "the class names"
COLUMNS = "the data's columns"


@dataclasses.dataclass
class ParentArtifacts:
    """What a run logs to its parent MLflow run at its end, step by step.

    Args:
        client: The tracking store's client.
        result: The run's result (saved in its run directory).
        registered_model_name: The model registry name of the best model, if any.
        flavor: What the best trial's worker wrote for MLflow's Keras flavor, if it did.
        example: The best model's input example rows.
        log_plots: Logs the plots (drawn meanwhile by the run, or now by `log_pending`).
    """

    client: MlflowClient
    result: TuningResult
    registered_model_name: str | None
    flavor: dict[str, Any] | None
    example: np.ndarray | None
    log_plots: Callable[[], Any]

    def steps(self) -> list[tuple[str, Callable[[], Any]]]:
        """Every step for this run, by name; the plots last (they may still be drawing)."""
        client, result, run_id = self.client, self.result, self.result.parent_run_id
        steps: list[tuple[str, Callable[[], Any]]] = [(BEST_MODEL, self._log_best_model)]
        front = result.pareto_front
        if front is not None:
            steps.append((PARETO_FRONT, lambda: self._log_pareto_front(front)))
        if result.columns is None and result.classes is not None:  # e.g. an image folder's class names
            classes = {"classes": list(result.classes)}
            steps.append((CLASS_NAMES, lambda: client.log_dict(run_id, classes, "data_classes.json")))
        if result.columns is not None:  # what the model's inputs are, for people loading it from MLflow
            columns = {"columns": [c.to_dict() for c in result.columns], "classes": result.classes}
            steps.append((COLUMNS, lambda: client.log_dict(run_id, columns, "data_columns.json")))
        steps.append((PLOTS, self.log_plots))
        return steps

    def log(self, only: Collection[str] | None = None) -> list[str]:
        """Logs the steps (those named in ``only``); one that fails does not stop the others.

        A failure (an artifact store that refuses writes, a model MLflow cannot
        log) is warned about; the steps that failed are named in the parent
        run's ``automl.artifacts_missing`` tag, which goes once none is
        missing. Returns the names of the steps that failed.
        """
        run_id = self.result.parent_run_id
        failed = []
        for what, step in self.steps():
            if only is not None and what not in only:
                continue
            try:
                step()
            except Exception as exc:  # any failure of MLflow, its artifact store or Keras: the rest goes on
                failed.append(what)
                logger.warning(
                    "Logging %s to MLflow run %s failed (%s: %s); the run's result is kept at %s.",
                    what,
                    run_id,
                    type(exc).__name__,
                    exc,
                    self.result.run_dir,
                )
        try:
            if failed:
                self.client.set_tag(run_id, MISSING_TAG, ", ".join(failed))
            elif only is not None and MISSING_TAG in self.client.get_run(run_id).data.tags:
                self.client.delete_tag(run_id, MISSING_TAG)
        except MlflowException as exc:
            logger.warning("Tagging MLflow run %s failed: %s", run_id, exc)
        return failed

    def _log_best_model(self) -> None:
        if self.example is None:
            raise ValueError(f"no input example was kept in {self.result.run_dir / EXAMPLE_FILE}")
        version = log_best_model(
            self.client,
            self.result.parent_run_id,
            self.result.best_model_path,
            self.example,
            registered_name=self.registered_model_name,
            flavor=self.flavor,
        )
        if version is not None:
            name = self.registered_model_name
            self.client.set_tag(self.result.parent_run_id, "automl.registered_model", f"{name}/{version}")

    def _log_pareto_front(self, front: pd.DataFrame) -> None:
        run_id = self.result.parent_run_id
        self.client.log_text(run_id, front.to_csv(index=False), "pareto_front.csv")
        for trial_run_id in front["mlflow_run_id"]:
            self.client.set_tag(trial_run_id, "automl.pareto_front", "true")

    def keep_pending(
        self, steps: Collection[str] | None, *, study: dict[str, Any] | None, metric: str
    ) -> Path:
        """Writes down the ``steps`` not logged (`None`: every step), for `log_pending`; returns the pending file."""
        run_dir = self.result.run_dir
        example = False
        if self.example is not None:
            try:
                np.save(run_dir / EXAMPLE_FILE, self.example, allow_pickle=False)
                example = True
            except ValueError:  # object rows (raw text) cannot be kept without pickling
                logger.warning("The best model's input example cannot be kept without pickling.")
        record = Pending(
            steps=[what for what, _ in self.steps() if steps is None or what in steps],
            registered_model_name=self.registered_model_name,
            flavor=self.flavor,
            example=example,
            study=study,
            metric=metric,
        )
        path = run_dir / PENDING_FILE
        path.write_text(json.dumps(dataclasses.asdict(record), indent=1), encoding="utf-8")
        return path


@dataclasses.dataclass(frozen=True)
class Pending:
    """What ``artifacts_pending.json`` holds: the steps left, and what they need beyond the saved result."""

    steps: list[str]
    registered_model_name: str | None
    flavor: dict[str, Any] | None
    example: bool  # whether ``input_example.npy`` was kept
    study: dict[str, Any] | None  # the plots' trials (`automl.tracking._plots.study_to_json`)
    metric: str

    @classmethod
    def read(cls, run_dir: Path) -> Pending | None:
        path = run_dir / PENDING_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def log_pending(run_dir: Path, tracking_uri: str) -> tuple[list[str], list[str]] | None:
    """Logs the parent run's artifacts that its run could not log; None if it left none.

    Returns the steps logged and those that failed again (still pending).
    The pending file goes once every step is logged.
    """
    pending = Pending.read(run_dir)
    if pending is None:
        return None
    example = np.load(run_dir / EXAMPLE_FILE, allow_pickle=False) if pending.example else None
    client = MlflowClient(tracking_uri)
    result = TuningResult.load(run_dir)
    with tempfile.TemporaryDirectory(prefix="automl-plots-") as plots:

        def draw_and_log_plots() -> None:
            if pending.study is None:
                raise ValueError("the run kept no trials to draw")
            study = study_from_json(pending.study)
            drawn = render_study_plots(study, metric=pending.metric, directory=Path(plots))
            log_plot_files(client, result.parent_run_id, Path(plots), drawn)

        artifacts = ParentArtifacts(
            client,
            result,
            registered_model_name=pending.registered_model_name,
            flavor=pending.flavor,
            example=example,
            log_plots=draw_and_log_plots,
        )
        failed = artifacts.log(only=pending.steps)
    if failed:
        artifacts.keep_pending(failed, study=pending.study, metric=pending.metric)
    else:
        (run_dir / PENDING_FILE).unlink()
        (run_dir / EXAMPLE_FILE).unlink(missing_ok=True)
    return [what for what in pending.steps if what not in failed], failed
