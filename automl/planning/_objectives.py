"""One objective or several: parsing ``metric``/``mode`` and finding the Pareto front.

With several objectives (``metric=["val_accuracy", "params"]``,
``mode=["max", "min"]``) the first one drives early stopping, checkpoints and
"the best model"; the sampler (TPE or NSGA-II) optimizes all of them, and the
result's Pareto front lists the trials no other trial beats on every objective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd

from search_spaces import ConfigError
from trainers import better_sign

__all__ = ["EXTRA_METRICS", "Objective", "best_on_front", "parse_objectives", "pareto_front"]

# Reported by automl's workers besides the trainer's metrics (see `automl.execution._model_size`);
# not imported from there: that module imports Keras.
EXTRA_METRICS = ("params",)

Objective = tuple[str, Literal["min", "max"]]


def _names(value: Any, field: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes) and value:
        return list(value)
    raise ConfigError(f"expected a name or a non-empty list of names, but got {value!r}.", field=field)


def parse_objectives(metric: Any, mode: Any) -> tuple[Objective, ...]:
    """``metric`` and ``mode`` (each a name or a list) as (metric, mode) pairs.

    Raises:
        ConfigError: A name is not a non-empty string, a mode is not min or
            max, the lists differ in length, or a metric repeats.
    """
    metrics, modes = _names(metric, "metric"), _names(mode, "mode")
    for i, name in enumerate(metrics):
        if not isinstance(name, str) or not name:
            field = f"metric.{i}" if len(metrics) > 1 else "metric"
            raise ConfigError(f"expected a metric name, but got {name!r}.", field=field)
    for i, direction in enumerate(modes):
        if direction not in ("min", "max"):
            field = f"mode.{i}" if len(modes) > 1 else "mode"
            raise ConfigError(f"expected 'min' or 'max', but got {direction!r}.", field=field)
    if len(metrics) != len(modes):
        raise ConfigError(
            f"needs one mode per metric, but got {len(modes)} modes for metrics {metrics}.", field="mode"
        )
    if len(set(metrics)) != len(metrics):
        raise ConfigError(f"each metric may appear once, but got {metrics}.", field="metric")
    return tuple(zip(metrics, modes, strict=True))


def pareto_front(trials: pd.DataFrame, objectives: Sequence[Objective]) -> pd.DataFrame:
    """The COMPLETE trials that no other COMPLETE trial dominates on the final objective values.

    A trial dominates another when it is at least as good on every objective
    and better on one. Rows are sorted by the first objective, best first,
    ties by the later ones.
    """
    names = [name for name, _ in objectives]
    done = trials[trials["state"] == "COMPLETE"].dropna(subset=names)
    signs = [better_sign(mode) for _, mode in objectives]
    points = [
        [sign * float(row[n]) for n, sign in zip(names, signs, strict=True)] for _, row in done.iterrows()
    ]

    def dominated(i: int) -> bool:
        return any(
            all(a >= b for a, b in zip(other, points[i], strict=True)) and other != points[i]
            for j, other in enumerate(points)
            if j != i
        )

    keep = [i for i in range(len(points)) if all(math.isfinite(v) for v in points[i]) and not dominated(i)]
    front = done.iloc[keep]
    ascending = [mode == "min" for _, mode in objectives]
    return front.sort_values(names, ascending=ascending, kind="stable").reset_index(drop=True)


def best_on_front(trials: pd.DataFrame, objectives: Sequence[Objective]) -> str | None:
    """The trial_id whose model a run of several objectives hands over, if any trial completed.

    A Pareto-front trial, never one another trial dominates: the front's best
    on the first objective, ties broken by the later ones.
    """
    front = pareto_front(trials, objectives)
    return None if front.empty else str(front["trial_id"].iloc[0])
