"""One objective or several: parsing ``metric``/``mode`` (the Pareto front is in `automl._objectives`).

With several objectives (``metric=["val_accuracy", "params"]``,
``mode=["max", "min"]``) the first one drives early stopping, checkpoints and
"the best model"; the sampler (TPE or NSGA-II) optimizes all of them, and the
result's Pareto front lists the trials no other trial beats on every objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Shared with execution (the runner finds the front when a run ends); re-exported for planning.
from automl._objectives import EXTRA_METRICS, Objective, best_on_front, pareto_front
from search_spaces import ConfigError

__all__ = ["EXTRA_METRICS", "Objective", "best_on_front", "parse_objectives", "pareto_front"]


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
