"""`TuningResult.top`'s ranking: the trials that did not fail, best first, as `TrialSummary` values."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from automl._result import TRIAL_DIR_PREFIX, TrialState, TrialSummary
from search_spaces import Space
from trainers._checkpoint import BEST_FILE

__all__ = ["ranked", "summary_of"]


def ranked(
    trials: pd.DataFrame, metric: str, mode: Literal["min", "max"], pareto_front: pd.DataFrame | None
) -> pd.DataFrame:
    """The trials that did not fail and have a finite score, best first (see `TuningResult.top`)."""
    score = f"best_{metric}"
    scores = pd.to_numeric(trials[score], errors="coerce")
    kept = trials[(trials["state"] != TrialState.FAILED.value) & scores.abs().lt(math.inf)]
    order = kept.sort_values([score, "number"], ascending=[mode == "min", True], kind="stable")
    if pareto_front is None:
        return order
    place_of = {str(trial_id): i for i, trial_id in enumerate(pareto_front["trial_id"])}
    place = order["trial_id"].astype(str).map(place_of).fillna(len(place_of))
    return order.assign(_place=place).sort_values("_place", kind="stable").drop(columns="_place")


def summary_of(row: dict[str, Any], *, metric: str, space: Space, run_dir: Path) -> TrialSummary:
    """One ranked row of the trials table, its flat params nested back with the space's types."""
    flat = {key.removeprefix("params."): value for key, value in row.items() if key.startswith("params.")}
    best_epoch = row["best_epoch"]
    run_id = row["mlflow_run_id"]
    return TrialSummary(
        number=int(row["number"]),
        trial_id=str(row["trial_id"]),
        config=space.unflatten_stored(flat),
        score=float(row[f"best_{metric}"]),
        best_epoch=int(best_epoch) if _present(best_epoch) and best_epoch else None,
        epochs=int(row["epochs"]),
        state=TrialState(row["state"]),
        mlflow_run_id=str(run_id) if _present(run_id) else None,
        model_path=_kept_model(run_dir, str(row["trial_id"])),
    )


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def _kept_model(run_dir: Path, trial_id: str) -> Path | None:
    """The best model in the trial's newest checkpoint still on disk (older ones are deleted as it trains)."""
    kept = sorted((run_dir / f"{TRIAL_DIR_PREFIX}{trial_id}").glob("checkpoint_*/" + BEST_FILE))
    return kept[-1] if kept else None
