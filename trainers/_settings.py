"""What the trainer accepts, checked without importing TensorFlow.

The driver validates configs and settings with this module before Ray starts;
only the workers import Keras.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from search_spaces import ConfigError
from search_spaces._suggest import did_you_mean

__all__ = ["CONFIG_KEYS", "OPTIMIZERS", "FitSettings", "check_config", "reported_metrics"]

# What the trainer reads from a config, with the value used when a space
# doesn't search it.
CONFIG_DEFAULTS: dict[str, Any] = {
    "layers": [],
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 32,
}
CONFIG_KEYS = tuple(CONFIG_DEFAULTS)

OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
_LAYER_KEYS = {"dense": {"units", "activation", "dropout"}, "dropout": {"rate"}}


def check_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the config with the trainer's defaults filled in.

    Raises:
        ConfigError: A key is unknown to the trainer, or a layer is malformed.
    """
    for key in config:
        if key not in CONFIG_DEFAULTS:
            raise ConfigError(
                f"the trainer does not know this key{did_you_mean(key, CONFIG_KEYS)}; "
                f"accepted: {list(CONFIG_KEYS)}.",
                field=f"config.{key}",
            )
    full = {**CONFIG_DEFAULTS, **config}
    if full["optimizer"] not in OPTIMIZERS:
        raise ConfigError(
            f"unknown optimizer {full['optimizer']!r}; accepted: {list(OPTIMIZERS)}.",
            field="config.optimizer",
        )
    for i, layer in enumerate(full["layers"]):
        kind = layer.get("type") if isinstance(layer, Mapping) else None
        if kind not in _LAYER_KEYS:
            raise ConfigError(
                f"unknown layer type {kind!r}; accepted: {sorted(_LAYER_KEYS)}.",
                field=f"config.layers.{i}.type",
            )
        extra = set(layer) - _LAYER_KEYS[kind] - {"type"}
        if extra:
            raise ConfigError(
                f"unknown keys {sorted(extra)} for a {kind} layer; accepted: {sorted(_LAYER_KEYS[kind])}.",
                field=f"config.layers.{i}",
            )
    return full


def reported_metrics(task: str) -> tuple[str, ...]:
    """The metric names the trainer reports every epoch for a task."""
    base = ("loss", "mae") if task == "regression" else ("loss", "accuracy")
    return (*base, *(f"val_{m}" for m in base))


@dataclasses.dataclass(frozen=True, kw_only=True)
class FitSettings:
    """How each trial is fitted: what is monitored and when it stops.

    Args:
        epochs: Most epochs per trial. Defaults to `20`.
        monitor: Metric watched by early stopping and checkpointing.
            Defaults to `"val_loss"`.
        mode: ``"min"`` or ``"max"``: which direction of ``monitor`` is
            better. Defaults to `"min"`.
        patience: Epochs without improvement before early stopping.
            Defaults to `3`.
        min_delta: Smallest change that counts as improvement. Defaults to `0.0`.
    """

    epochs: int = 20
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = 3
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "patience"):
            value = getattr(self, name)
            low = 1 if name == "epochs" else 0
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"expected an int >= {low}, but got {value!r}.", field=name)
        if self.mode not in ("min", "max"):
            raise ConfigError(f"expected 'min' or 'max', but got {self.mode!r}.", field="mode")
        if not (
            isinstance(self.min_delta, (int, float)) and math.isfinite(self.min_delta) and self.min_delta >= 0
        ):
            raise ConfigError(
                f"expected a finite number >= 0, but got {self.min_delta!r}.", field="min_delta"
            )

    def check_monitor(self, task: str) -> None:
        """Raises if ``monitor`` is not among the metrics reported for ``task``."""
        available = reported_metrics(task)
        if self.monitor not in available:
            raise ConfigError(
                f"the trainer never reports {self.monitor!r} for a {task} task; "
                f"available: {list(available)}.",
                field="metric",
            )
