"""What the trainer accepts, checked without importing TensorFlow.

The driver validates configs and settings with this module before Ray starts;
only the workers import Keras.

A config holds training settings (`CONFIG_KEYS`) and layer stacks: ``layers``
and every key ending in ``_layers``, each a list of layer dicts. The model body
is the concatenation of the stacks in the config's key order. ``None`` for an
optional key means "not set": sampled configs carry ``None`` for parameters
that were conditionally inactive.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from search_spaces import ConfigError
from search_spaces._suggest import did_you_mean

__all__ = [
    "CONFIG_KEYS",
    "MUTABLE_ON_RESUME",
    "LAYER_TYPES",
    "LOSSES",
    "OPTIMIZERS",
    "OPTIONAL_METRICS",
    "FitSettings",
    "best_of",
    "better_sign",
    "body_layers",
    "check_config",
    "check_metric_names",
    "one_hot_targets",
    "reported_metrics",
]

OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine", "exponential")
# Per task, the losses that fit it; the first is the default.
LOSSES: dict[str, tuple[str, ...]] = {
    "regression": ("mse", "mae", "huber", "log_cosh"),
    "binary": ("binary_crossentropy", "binary_focal_crossentropy"),
    "multiclass": (
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
    ),
}
_ALL_LOSSES = tuple(name for names in LOSSES.values() for name in names)
# Metrics reported on request (`FitSettings.metrics`), per task, besides loss and accuracy or mae.
OPTIONAL_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "pr_auc", "precision", "recall"),
    "multiclass": ("top_3_accuracy",),
    "regression": ("rmse", "mse", "mape"),
}
_REQUIRED = object()


@dataclasses.dataclass(frozen=True)
class _Rule:
    """A value check and the words for what it accepts."""

    test: Callable[[Any], bool]
    accepted: str
    choices: tuple[str, ...] = ()  # names, for "unknown optimizer 'adamm' (did you mean ...)"
    what: str = ""

    def check(self, value: Any, field: str) -> None:
        if self.test(value):
            return
        if self.choices:
            raise ConfigError(
                f"unknown {self.what} {value!r}{did_you_mean(str(value), self.choices)}; "
                f"accepted: {list(self.choices)}.",
                field=field,
            )
        raise ConfigError(f"expected {self.accepted}, but got {value!r}.", field=field)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _one_of(what: str, *choices: str) -> _Rule:
    return _Rule(lambda v: isinstance(v, str) and v in choices, f"one of {list(choices)}", choices, what)


_INT_1 = _Rule(lambda v: _is_int(v) and v >= 1, "an int >= 1")
_INT_0 = _Rule(lambda v: _is_int(v) and v >= 0, "an int >= 0")
_BOOL = _Rule(lambda v: isinstance(v, bool), "a bool")
_RATE = _Rule(lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)")
_OPEN_UNIT = _Rule(lambda v: _is_number(v) and 0 < v < 1, "a number in (0, 1)")
_POSITIVE = _Rule(lambda v: _is_number(v) and v > 0, "a finite number > 0")
_NON_NEGATIVE = _Rule(lambda v: _is_number(v) and v >= 0, "a finite number >= 0")
_NAME = _Rule(lambda v: isinstance(v, str) and v != "", "a Keras activation name")

# Training settings: rule and the value used when a config leaves the key unset.
_SETTINGS: dict[str, tuple[_Rule, Any]] = {
    "optimizer": (_one_of("optimizer", *OPTIMIZERS), "adam"),
    "learning_rate": (_POSITIVE, 1e-3),
    "momentum": (_RATE, None),
    "nesterov": (_BOOL, None),
    "beta_1": (_OPEN_UNIT, None),
    "beta_2": (_OPEN_UNIT, None),
    "weight_decay": (_NON_NEGATIVE, None),
    "clipnorm": (_POSITIVE, None),
    "lr_schedule": (_one_of("lr_schedule", *LR_SCHEDULES), "constant"),
    "lr_decay": (_Rule(lambda v: _is_number(v) and 0 < v <= 1, "a number in (0, 1]"), None),
    "warmup_epochs": (_INT_0, 0),
    "batch_size": (_INT_1, 32),
    "epochs": (_INT_1, None),
    "loss": (_one_of("loss", *_ALL_LOSSES), None),
    "label_smoothing": (_RATE, 0.0),
    "class_weight": (_one_of("class_weight", "balanced"), None),
}
CONFIG_KEYS = ("layers", *_SETTINGS)
# Settings a trial can change when it continues from a checkpoint (as Population
# Based Training does): the batch size is read at each fit, and a new learning
# rate is applied to the restored optimizer. Any other key is saved in the
# checkpoint (layer shapes, the compiled loss, the optimizer's kind).
MUTABLE_ON_RESUME = ("learning_rate", "batch_size")

# Settings that only some values of another setting take: key → (that setting, its values).
_ONLY_FOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "momentum": ("optimizer", ("sgd", "rmsprop")),
    "nesterov": ("optimizer", ("sgd",)),
    "beta_1": ("optimizer", ("adam", "adamw", "nadam")),
    "beta_2": ("optimizer", ("adam", "adamw", "nadam")),
    "lr_decay": ("lr_schedule", ("exponential",)),
}

_CONV: dict[str, tuple[_Rule, Any]] = {
    "filters": (_INT_1, _REQUIRED),
    "kernel_size": (_INT_1, _REQUIRED),
    "activation": (_NAME, "relu"),
    "padding": (_one_of("padding", "same", "valid"), "same"),
    "pool": (_one_of("pool", "max", "average", "none"), "max"),
    "pool_size": (_INT_1, 2),
}
_RECURRENT: dict[str, tuple[_Rule, Any]] = {
    "units": (_INT_1, _REQUIRED),
    "dropout": (_RATE, 0.0),
    "bidirectional": (_BOOL, False),
}
# Each layer type's keys besides "type": rule and default (_REQUIRED: no default).
_LAYERS: dict[str, dict[str, tuple[_Rule, Any]]] = {
    "dense": {"units": (_INT_1, _REQUIRED), "activation": (_NAME, "relu"), "dropout": (_RATE, 0.0)},
    "dropout": {"rate": (_RATE, _REQUIRED)},
    "batch_normalization": {},
    "layer_normalization": {},
    "normalization": {},
    "conv1d": _CONV,
    "conv2d": _CONV,
    "lstm": _RECURRENT,
    "gru": _RECURRENT,
    "embedding": {"output_dim": (_INT_1, _REQUIRED), "input_dim": (_INT_1, None)},
}
LAYER_TYPES = tuple(_LAYERS)
# Layers that take the raw features, so only the first layer of the body may be one.
_FIRST_ONLY = ("embedding", "normalization")


def _is_stack(key: Any) -> bool:
    """Whether a config key holds a list of layers (``layers`` or ``<name>_layers``)."""
    return isinstance(key, str) and (key == "layers" or key.endswith("_layers"))


def _check_key(key: Any) -> None:
    if not _is_stack(key) and key not in _SETTINGS:
        raise ConfigError(
            f"the trainer does not know this key{did_you_mean(str(key), CONFIG_KEYS)}; "
            f"accepted: {list(CONFIG_KEYS)}, or a layer stack named '<name>_layers'.",
            field=f"config.{key}",
        )


def _filled(
    given: Mapping[str, Any], rules: Mapping[str, tuple[_Rule, Any]], prefix: str, what: str
) -> dict[str, Any]:
    """Checks each value against its rule; unset (missing or None) keys take their default."""
    out = {}
    for key, (rule, default) in rules.items():
        value = given.get(key)
        if value is None and default is _REQUIRED:
            raise ConfigError(f"{what} needs {key} ({rule.accepted}), but got {value!r}.", field=prefix + key)
        if value is None:
            value = default
        else:
            rule.check(value, prefix + key)
        out[key] = value
    return out


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} layer"


def _check_layer(layer: Any, field: str) -> dict[str, Any]:
    kind = layer.get("type") if isinstance(layer, Mapping) else None
    if not isinstance(layer, Mapping) or kind not in _LAYERS:
        hint = did_you_mean(str(kind), _LAYERS) if isinstance(layer, Mapping) else ""
        raise ConfigError(
            f"unknown layer type {kind!r}{hint}; accepted: {sorted(_LAYERS)}.", field=f"{field}.type"
        )
    rules = _LAYERS[kind]
    for key in layer:
        if key != "type" and key not in rules:
            raise ConfigError(
                f"{_a(kind)} does not take this key{did_you_mean(str(key), rules)}; "
                f"accepted: {['type', *rules]}.",
                field=f"{field}.{key}",
            )
    out = {"type": kind, **_filled(layer, rules, f"{field}.", _a(kind))}
    if kind in ("conv1d", "conv2d"):
        _check_pool_size(layer, out, field)
    return out


def _check_pool_size(given: Mapping[str, Any], out: dict[str, Any], field: str) -> None:
    if out["pool"] != "none":
        return
    if given.get("pool_size") is not None:
        raise ConfigError(
            f"pool_size only applies when pool is 'max' or 'average', but pool is 'none' "
            f"(pool_size={given['pool_size']!r}); make pool_size conditional on pool in the search "
            "space, or leave it unset.",
            field=f"{field}.pool_size",
        )
    out["pool_size"] = None


def _check_stack(value: Any, key: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"expected a list of layer dicts, but got {value!r}.", field=f"config.{key}")
    return [_check_layer(layer, f"config.{key}.{i}") for i, layer in enumerate(value)]


def body_layers(config: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The model body, as (field path, layer dict) pairs in the config's key order.

    Takes a config returned by `check_config`.
    """
    return [
        (f"config.{key}.{i}", layer)
        for key, layers in config.items()
        if _is_stack(key)
        for i, layer in enumerate(layers)
    ]


def _check_positions(config: Mapping[str, Any]) -> None:
    for position, (field, layer) in enumerate(body_layers(config)):
        if layer["type"] in _FIRST_ONLY and position > 0:
            raise ConfigError(
                f"{_a(layer['type'])} takes the raw features, so it must be the first layer of the "
                f"model body, but it is layer {position} (0-based) of "
                f"{[layer['type'] for _, layer in body_layers(config)]}.",
                field=field,
            )


def _check_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    out = _filled(config, _SETTINGS, "config.", "the config")
    for key, (on, takers) in _ONLY_FOR.items():
        if out[key] is not None and out[on] not in takers:
            raise ConfigError(
                f"only {on} {' or '.join(map(repr, takers))} takes {key}, but {on} is {out[on]!r} "
                f"({key}={out[key]!r}); make {key} conditional on {on} in the search space, "
                "or leave it unset.",
                field=f"config.{key}",
            )
    if out["lr_schedule"] == "exponential" and out["lr_decay"] is None:
        out["lr_decay"] = 0.9
    return out


def _check_task(config: dict[str, Any], task: str) -> None:
    accepted = LOSSES[task]
    if config["loss"] is None:
        config["loss"] = accepted[0]
    elif config["loss"] not in accepted:
        raise ConfigError(
            f"loss {config['loss']!r} does not fit a {task} task; accepted for {task}: {list(accepted)}.",
            field="config.loss",
        )
    for key, unset in (("label_smoothing", 0.0), ("class_weight", None)):
        if task == "regression" and config[key] != unset:
            raise ConfigError(
                f"{key} is for classification, but the task is regression ({key}={config[key]!r}); "
                "leave it unset for regression data.",
                field=f"config.{key}",
            )


def check_config(
    config: Mapping[str, Any], *, task: str | None = None, custom_model: bool = False
) -> dict[str, Any]:
    """Returns the config with the trainer's defaults filled in.

    Layer dicts come back with every key of their type; unset keys take their
    defaults. Layer stacks keep the config's order, so the model body does too
    (see `body_layers`).

    Args:
        config: A sampled config.
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``: also checks
            that the loss, label smoothing and class weights fit the task, and
            fills in the task's default loss. Defaults to `None` (no task checks;
            ``loss`` stays ``None`` when unset).
        custom_model: The model comes from the user's ``build(config)``: keys
            other than the training settings are that function's own
            hyperparameters and come back unchecked, and there is no layer
            stack. Defaults to `False`.

    Raises:
        ConfigError: A key is unknown to the trainer, a value is out of range,
            a setting does not apply to the chosen optimizer or schedule, a layer
            is malformed or misplaced, or a setting does not fit ``task``.
    """
    if not isinstance(config, Mapping):
        raise ConfigError(f"expected a mapping, but got {config!r}.", field="config")
    settings = _check_settings(config)
    if custom_model:
        full = {**{k: v for k, v in config.items() if k not in _SETTINGS}, **settings}
        if task is not None:
            _check_task(full, task)
        return full
    for key in config:
        _check_key(key)
    stacks = {key: _check_stack(value, key) for key, value in config.items() if _is_stack(key)}
    full = {**stacks, **settings} if "layers" in stacks else {"layers": [], **stacks, **settings}
    _check_positions(full)
    if task is not None:
        _check_task(full, task)
    return full


def one_hot_targets(config: Mapping[str, Any], task: str) -> bool:
    """Whether the fit needs one-hot targets: a categorical loss or label smoothing on many classes."""
    if task != "multiclass":
        return False
    return str(config["loss"]).startswith("categorical") or config["label_smoothing"] > 0


def best_of(values: Iterable[float], mode: Literal["min", "max"]) -> float:
    """The best of ``values`` under ``mode``: the largest for ``"max"``, the smallest for ``"min"``."""
    return max(values) if mode == "max" else min(values)


def better_sign(mode: Literal["min", "max"]) -> float:
    """1 or -1: a value times it is larger the better it is under ``mode``."""
    return 1.0 if mode == "max" else -1.0


def check_metric_names(metrics: Any, task: str) -> None:
    """Raises if a name in ``metrics`` is not an optional metric of ``task``, offering only the task's.

    A metric of another task is named as such. Anything but a list of names
    is left to `FitSettings`, which says what it expects.
    """
    if isinstance(metrics, str) or not isinstance(metrics, Sequence):
        return
    accepted = list(OPTIONAL_METRICS[task])
    for i, name in enumerate(metrics):
        if name in accepted:
            continue
        other = [t for t, names in OPTIONAL_METRICS.items() if name in names]
        if other:
            message = (
                f"{name!r} is not a {task} metric; accepted for {task}: {accepted}; "
                f"{name!r} is a {other[0]} metric."
            )
        else:
            close = did_you_mean(str(name), accepted)
            message = f"unknown metric {name!r}{close}; accepted for {task}: {accepted}."
        raise ConfigError(message, field=f"metrics.{i}")


def reported_metrics(task: str, metrics: Sequence[str] = ()) -> tuple[str, ...]:
    """The metric names the trainer reports every epoch for a task, with the ``metrics`` asked for."""
    base = ("loss", "mae") if task == "regression" else ("loss", "accuracy")
    names = (*base, *metrics)
    return (*names, *(f"val_{m}" for m in names))


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
        metrics: Metrics to report besides loss and accuracy (mae for
            regression), each also as ``val_<name>`` and so a possible
            ``monitor``: ``auc``, ``pr_auc``, ``precision``, ``recall`` for
            binary tasks, ``top_3_accuracy`` for multiclass, ``rmse``,
            ``mse``, ``mape`` for regression. Defaults to `()`.
        reduce_lr_patience: Epochs without improvement of ``monitor``
            before the learning rate is multiplied by ``reduce_lr_factor``
            (Keras's ``ReduceLROnPlateau``); for configs with a constant
            ``lr_schedule``. Defaults to `None` (off).
        reduce_lr_factor: The factor, in (0, 1). Defaults to `0.5`.
        steps_per_execution: Batches run per call into TensorFlow (Keras's
            ``compile`` argument): fewer Python round trips, the same
            results. An int, or ``"auto"``: one epoch's batches, at most
            32; 1 when a callback of the fit needs every batch or the fit
            runs on several replicas (see `train`). Batch-level callbacks
            see every n-th batch. Defaults to `"auto"`.
        jit_compile: Compile the train step with XLA: ``True``, ``False``
            or ``"auto"`` (Keras decides). Defaults to `"auto"`.
        mixed_precision: Build the model under Keras's ``mixed_float16``
            policy (float16 compute, float32 weights and outputs, loss
            scaling): faster on GPUs with tensor cores, slower on CPUs.
            Defaults to `False`.
        seed: Seeds Python, NumPy and TensorFlow (Keras's
            ``set_random_seed``) before the model is built, so the initial
            weights, dropout and the order of batches repeat from one fit to
            the next; a fit resumed at epoch ``e`` is seeded with
            ``seed + e``. Any int in [0, 2**32). Defaults to `None` (unseeded).
        checkpoint_interval_s: Seconds between checkpoints of an epoch that
            did not improve ``monitor`` (``last.keras`` and ``state.json``,
            what a restarted trial continues from). An epoch that improves
            it, and the fit's last, always write one, so the newest
            checkpoint always holds the best model so far. `0` writes one
            every epoch, as schedulers that pause trials (HyperBand, PBT)
            need. Defaults to `30.0`.
    """

    epochs: int = 20
    monitor: str = "val_loss"
    mode: Literal["min", "max"] = "min"
    patience: int = 3
    min_delta: float = 0.0
    metrics: Sequence[str] = ()
    reduce_lr_patience: int | None = None
    reduce_lr_factor: float = 0.5
    steps_per_execution: int | Literal["auto"] = "auto"
    jit_compile: bool | Literal["auto"] = "auto"
    mixed_precision: bool = False
    seed: int | None = None
    checkpoint_interval_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("epochs", "patience"):
            value = getattr(self, name)
            low = 0 if name == "patience" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"expected an int >= {low}, but got {value!r}.", field=name)
        steps = self.steps_per_execution
        if steps != "auto" and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ConfigError(
                f"expected an int >= 1 or 'auto', but got {steps!r}.", field="steps_per_execution"
            )
        if self.mode not in ("min", "max"):
            raise ConfigError(f"expected 'min' or 'max', but got {self.mode!r}.", field="mode")
        if not (
            isinstance(self.min_delta, (int, float)) and math.isfinite(self.min_delta) and self.min_delta >= 0
        ):
            raise ConfigError(
                f"expected a finite number >= 0, but got {self.min_delta!r}.", field="min_delta"
            )
        known = sorted({name for names in OPTIONAL_METRICS.values() for name in names})
        if isinstance(self.metrics, str) or not isinstance(self.metrics, Sequence):
            raise ConfigError(f"expected a list of metric names, but got {self.metrics!r}.", field="metrics")
        for i, name in enumerate(self.metrics):
            if name not in known:
                raise ConfigError(
                    f"unknown metric {name!r}{did_you_mean(str(name), known)}; accepted: {known}.",
                    field=f"metrics.{i}",
                )
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if not isinstance(self.mixed_precision, bool):
            raise ConfigError(
                f"expected true or false, but got {self.mixed_precision!r}.", field="mixed_precision"
            )
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise ConfigError(
                f"expected true, false or 'auto', but got {self.jit_compile!r}.", field="jit_compile"
            )
        seed = self.seed
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32
        ):
            raise ConfigError(f"expected an int in [0, 2**32), but got {seed!r}.", field="seed")
        interval = self.checkpoint_interval_s
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not 0 <= interval < math.inf
        ):
            raise ConfigError(
                f"expected a finite number of seconds >= 0, but got {interval!r}.",
                field="checkpoint_interval_s",
            )
        patience = self.reduce_lr_patience
        if patience is not None and (
            isinstance(patience, bool) or not isinstance(patience, int) or patience < 0
        ):
            raise ConfigError(f"expected an int >= 0, but got {patience!r}.", field="reduce_lr_patience")
        if not _OPEN_UNIT.test(self.reduce_lr_factor):
            raise ConfigError(
                f"expected a number in (0, 1), but got {self.reduce_lr_factor!r}.", field="reduce_lr_factor"
            )

    def check_schedule(self, config: Mapping[str, Any]) -> None:
        """Raises if ``reduce_lr_patience`` is on and the config (from `check_config`) sets the rate per epoch."""
        if self.reduce_lr_patience is None:
            return
        if config["lr_schedule"] != "constant" or config["warmup_epochs"]:
            raise ConfigError(
                "reduce_lr_patience lowers the learning rate on a plateau, but the config sets it every "
                f"epoch (lr_schedule={config['lr_schedule']!r}, warmup_epochs={config['warmup_epochs']}); "
                "use one or the other.",
                field="reduce_lr_patience",
            )

    def check_metrics(self, task: str) -> None:
        """Raises if one of ``metrics`` is not one of ``task``'s."""
        check_metric_names(self.metrics, task)

    def check_monitor(self, task: str, *, reported: Sequence[str] | None = None) -> None:
        """Raises if ``metrics`` do not fit ``task`` or ``monitor`` is not among the metrics reported.

        Args:
            task: The data's task.
            reported: What the models of a custom ``build`` report (`reported_by_model`),
                where they chose their own metrics. Defaults to `None`: the trainer's.
        """
        self.check_metrics(task)
        available = reported_metrics(task, self.metrics) if reported is None else tuple(reported)
        if self.monitor in available:
            return
        who = "the trainer" if reported is None else "the model build(config) returns"
        raise ConfigError(
            f"{who} never reports {self.monitor!r} for a {task} task; available: {list(available)}."
            f"{self._monitor_hint(task, custom=reported is not None)}",
            field="metric",
        )

    def _monitor_hint(self, task: str, *, custom: bool) -> str:
        base = self.monitor.removeprefix("val_")
        if base in OPTIONAL_METRICS[task] and base not in self.metrics:
            ask = f"metrics=[{', '.join(repr(m) for m in (*self.metrics, base))}]"
            if custom:
                return f" Compile the model with it in build(config), or return it uncompiled and pass {ask}."
            return f" Ask for it with {ask}."
        if custom:
            return " Compile the model with that metric in build(config); Keras names it by its `name`."
        return ""
