"""Objectives as planning and execution both see them: the (metric, mode) pair, the metrics a
trial reports besides its model's, and the Pareto front of a run's finished trials.

Planning checks a run's objectives against these (`automl.planning._objectives`); the
runner finds the front and the trial whose model a run hands over when it ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from trainers import better_sign

__all__ = ["EXTRA_METRICS", "Objective", "best_on_front", "pareto_front"]

# Reported by automl's workers besides the trainer's metrics (see `automl.execution._model_size`);
# not imported from there: that module imports Keras.
EXTRA_METRICS = ("params",)

Objective = tuple[str, Literal["min", "max"]]


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
