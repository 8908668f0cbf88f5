"""Warm start: configs whose scores are already known seed the sampler without being trained again.

They come from the user (``evaluated_points``) or from an earlier run's
directory (``warm_start``). Each becomes a COMPLETE trial of the optuna study
before the first Ray trial, so TPE and friends learn from it; it costs no
Ray trial, no MLflow run and none of the trial budget.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from automl._result import TuningResult
from search_spaces import ConfigError, Space
from search_spaces._checks import is_real
from search_spaces._errors import located
from trainers import check_config

__all__ = ["KnownPoint", "known_points"]

logger = logging.getLogger(__name__)

KnownPoint = tuple[dict[str, Any], float]  # (optuna params, score)


def _score(value: Any, field: str) -> float:
    if not is_real(value, plain=True) or not math.isfinite(value):
        raise ConfigError(f"expected a finite number, but got {value!r}.", field=field)
    return float(value)


def _from_user(space: Space, points: Sequence[Any]) -> list[KnownPoint]:
    known = []
    for i, point in enumerate(points):
        with located(f"evaluated_points.{i}"):
            if not isinstance(point, Mapping) or set(point) != {"config", "value"}:
                raise ConfigError(f"expected a mapping with exactly `config` and `value`, but got {point!r}.")
            with located("config"):
                params = space.params_of(point["config"])
                check_config(point["config"])
            known.append((params, _score(point["value"], "value")))
    return known


def _plain(value: Any) -> Any:
    """A CSV cell as the space sampled it: NaN → None, 32.0 → 32, numpy scalars → Python."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _from_run(space: Space, run_dir: str | Path, metric: str, mode: str) -> list[KnownPoint]:
    with located("warm_start"):
        earlier = TuningResult.load(run_dir)
        if (earlier.metric, earlier.mode) != (metric, mode):
            raise ConfigError(
                f"{earlier.run_dir} optimized ({earlier.metric!r}, {earlier.mode!r}), but this run "
                f"optimizes ({metric!r}, {mode!r}); its scores can't seed this sampler."
            )
    trials = earlier.trials
    done = trials[(trials["state"] == "COMPLETE") & trials[f"best_{metric}"].notna()]
    columns = [c for c in trials.columns if c.startswith("params.")]
    known, outside = [], 0
    for _, row in done.iterrows():
        flat = {c.removeprefix("params."): _plain(row[c]) for c in columns}
        try:
            config = space.unflatten(flat)
            known.append((space.params_of(config), float(row[f"best_{metric}"])))
        except (ConfigError, KeyError, TypeError):  # the space has changed since that run
            outside += 1
    if outside:
        logger.warning(
            "warm start: %d of the %d finished trials of %s fall outside this space and are not used.",
            outside,
            len(done),
            earlier.run_dir,
        )
    return known


def known_points(
    space: Space,
    *,
    evaluated_points: Sequence[Any],
    warm_start: str | Path | None,
    metric: str,
    mode: Literal["min", "max"],
) -> list[KnownPoint]:
    """The known (params, score) pairs from the user's points and an earlier run.

    Raises:
        ConfigError: A point is malformed, outside the space or unknown to the
            trainer; the earlier run can't be read or optimized another metric.
    """
    if isinstance(evaluated_points, (str, bytes, Mapping)) or not isinstance(evaluated_points, Sequence):
        raise ConfigError(
            f"expected a list of {{config, value}} mappings, but got {evaluated_points!r}.",
            field="evaluated_points",
        )
    known = _from_user(space, evaluated_points)
    if warm_start is not None:
        known += _from_run(space, warm_start, metric, mode)
    return known
