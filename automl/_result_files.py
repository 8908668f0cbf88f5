"""A `TuningResult` on disk: ``result.json``, ``trials.csv`` and ``pareto_front.csv`` (plain text, nothing pickled)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from automl._result import TuningResult
from search_spaces import ConfigError, Space
from search_spaces._hypermodel import HyperModel, HyperModelSpace
from trainers import Column

__all__ = ["PARETO_FILE", "RESULT_FILE", "load_result", "save_result"]

RESULT_FILE = "result.json"
RESULT_FORMAT = "automl-result/1"
TRIALS_FILE = "trials.csv"
PARETO_FILE = "pareto_front.csv"
# Read as text: an id of digits only would otherwise come back as a number.
_ID_COLUMNS = {"trial_id": str, "mlflow_run_id": str}


def save_result(result: TuningResult) -> Path:
    """Writes ``result.json`` and ``trials.csv`` (and the Pareto front) into the run directory."""
    summary = {
        "format": RESULT_FORMAT,
        "best_config": result.best_config,
        "best_value": result.best_value,
        "metric": result.metric,
        "mode": result.mode,
        "best_model": result.best_model_path.name,
        "tracking_uri": result.tracking_uri,
        "experiment_id": result.experiment_id,
        "parent_run_id": result.parent_run_id,
        "objectives": [list(o) for o in result.objectives],
        "columns": None if result.columns is None else [c.to_dict() for c in result.columns],
        "classes": None if result.classes is None else list(result.classes),
        "space": None if result.space is None else result.space.to_dict(),
    }
    result.trials.to_csv(result.run_dir / TRIALS_FILE, index=False)
    if result.pareto_front is not None:
        result.pareto_front.to_csv(result.run_dir / PARETO_FILE, index=False)
    path = result.run_dir / RESULT_FILE
    path.write_text(json.dumps(summary, indent=2))
    return path


def load_result(run_dir: Path) -> TuningResult:
    """The `TuningResult` that `save_result` wrote into ``run_dir``.

    Raises:
        ConfigError: ``run_dir`` holds no result written by this tool.
    """
    summary = _summary(run_dir)
    front = run_dir / PARETO_FILE
    return TuningResult(
        best_config=summary["best_config"],
        best_value=float(summary["best_value"]),
        metric=summary["metric"],
        mode=summary["mode"],
        trials=pd.read_csv(run_dir / TRIALS_FILE, dtype=_ID_COLUMNS),
        best_model_path=run_dir / summary["best_model"],
        run_dir=run_dir,
        tracking_uri=summary["tracking_uri"],
        experiment_id=summary["experiment_id"],
        parent_run_id=summary["parent_run_id"],
        objectives=tuple((name, mode) for name, mode in summary["objectives"]),
        pareto_front=pd.read_csv(front, dtype=_ID_COLUMNS) if front.exists() else None,
        columns=None if summary["columns"] is None else tuple(map(Column.from_dict, summary["columns"])),
        classes=None if summary["classes"] is None else tuple(summary["classes"]),
        space=_stored_space(summary["space"]),
    )


def _stored_space(data: dict[str, Any] | None) -> Space | None:
    """The run's space; a hypermodel's is known by name only (its configs are flat, `top` needs no more)."""
    if data is None:
        return None
    if "hypermodel" in data:
        return HyperModelSpace(HyperModel(_not_stored(data["hypermodel"]), None, data["hypermodel"]))
    return Space.from_dict(data)


def _not_stored(name: str) -> Any:
    def build(hp: Any) -> Any:
        raise ConfigError(f"a saved result does not hold the hypermodel {name}; pass it again.", field="hypermodel")

    return build


def _summary(run_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{run_dir} holds no readable {RESULT_FILE}; pass the directory of a finished run "
            "(printed at its end, under storage_path).",
            field="run_dir",
        ) from exc
    if not isinstance(summary, dict) or summary.get("format") != RESULT_FORMAT:
        raise ConfigError(f"{run_dir / RESULT_FILE} was not written by automl.", field="run_dir")
    return summary
