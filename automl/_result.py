"""What a tuning run returns."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Any, Literal

import pandas as pd

__all__ = ["TrialState", "TuningResult"]


class TrialState(enum.Enum):
    """How a trial ended (or where it is)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


@dataclasses.dataclass(frozen=True, eq=False)
class TuningResult:
    """The outcome of `automl.tune`.

    Attributes:
        best_config: The best trial's config (a plain nested dict).
        best_value: The best trial's best value of ``metric``.
        metric: The metric that was optimized.
        mode: ``"min"`` or ``"max"``.
        trials: One row per trial: ``trial_id``, ``number``, ``state``,
            ``epochs``, ``duration_s``, ``<metric>`` (final), ``best_<metric>``,
            ``error``, ``worker`` (``node_ip:pid``), ``mlflow_run_id``, and one ``params.<key>`` column per flat config key.
        best_model_path: The best model as a ``.keras`` file
            (``keras.saving.load_model`` opens it).
        run_dir: Directory of the run (Ray Tune's experiment directory).
        tracking_uri: MLflow tracking URI of the run.
        experiment_id: MLflow experiment id.
        parent_run_id: MLflow run id of the tuning run; trials are nested under it.
    """

    best_config: dict[str, Any]
    best_value: float
    metric: str
    mode: Literal["min", "max"]
    trials: pd.DataFrame
    best_model_path: Path
    run_dir: Path
    tracking_uri: str
    experiment_id: str
    parent_run_id: str

    @property
    def ui_command(self) -> str:
        """The shell command that opens the MLflow UI on this run's store (loopback only)."""
        return f"mlflow ui --backend-store-uri '{self.tracking_uri}' --host 127.0.0.1 --port 5000"

    @property
    def ui_url(self) -> str:
        """The training-runs page of this run's experiment, for a UI started with `ui_command`."""
        return f"http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"

    def __repr__(self) -> str:
        counts = self.trials["state"].value_counts().to_dict() if len(self.trials) else {}
        return (
            f"TuningResult({self.metric}={self.best_value:.4g}, trials={counts}, "
            f"best_model_path='{self.best_model_path}')"
        )
