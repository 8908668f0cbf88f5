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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from search_spaces import ConfigError
from search_spaces._checks import check_int
from search_spaces._schema import (
    BOOL,
    FIRST_ONLY,
    LAYERS,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    PREPROCESSING,
    RATE,
    REQUIRED,
    Arg,
    Rule,
    one_of,
)
from search_spaces._suggest import did_you_mean

__all__ = [
    "CONFIG_KEYS",
    "MUTABLE_ON_RESUME",
    "CheckedConfig",
    "LAYER_TYPES",
    "LOSSES",
    "OPTIMIZERS",
    "OPTIONAL_METRICS",
    "FitSettings",
    "best_of",
    "better_sign",
    "body_layers",
    "split_preprocessing",
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
_OPEN_UNIT = Rule(low=0, high=1, low_open=True, high_open=True)
# Metrics reported on request (`FitSettings.metrics`), per task, besides loss and accuracy or mae.
OPTIONAL_METRICS: dict[str, tuple[str, ...]] = {
    "binary": ("auc", "pr_auc", "precision", "recall"),
    "multiclass": ("top_3_accuracy",),
    "regression": ("rmse", "mse", "mape"),
}

# Training settings, and the value used when a config leaves the key unset. A setting with
# `when` is taken only by some values of another (e.g. momentum by optimizers with momentum).
_SETTINGS: dict[str, Arg] = {
    "optimizer": Arg(one_of("optimizer", *OPTIMIZERS), "adam"),
    "learning_rate": Arg(Rule(low=0, low_open=True), 1e-3),
    "momentum": Arg(RATE, None, when=("optimizer", ("sgd", "rmsprop"))),
    "nesterov": Arg(BOOL, None, when=("optimizer", ("sgd",))),
    "beta_1": Arg(_OPEN_UNIT, None, when=("optimizer", ("adam", "adamw", "nadam"))),
    "beta_2": Arg(_OPEN_UNIT, None, when=("optimizer", ("adam", "adamw", "nadam"))),
    "weight_decay": Arg(Rule(low=0), None),
    "clipnorm": Arg(Rule(low=0, low_open=True), None),
    "lr_schedule": Arg(one_of("lr_schedule", *LR_SCHEDULES), "constant"),
    "lr_decay": Arg(Rule(low=0, high=1, low_open=True), 0.9, when=("lr_schedule", ("exponential",))),
    "warmup_epochs": Arg(NON_NEGATIVE_INT, 0),
    "batch_size": Arg(POSITIVE_INT, 32),
    "epochs": Arg(POSITIVE_INT, None),
    "loss": Arg(one_of("loss", *_ALL_LOSSES), None),
    "label_smoothing": Arg(RATE, 0.0),
    "class_weight": Arg(one_of("class_weight", "balanced"), None),
}
CONFIG_KEYS = ("layers", *_SETTINGS)
# Settings a trial can change when it continues from a checkpoint (as Population
# Based Training does): the batch size is read at each fit, and a new learning
# rate is applied to the restored optimizer. Any other key is saved in the
# checkpoint (layer shapes, the compiled loss, the optimizer's kind).
MUTABLE_ON_RESUME = ("learning_rate", "batch_size")
LAYER_TYPES = tuple(LAYERS)


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


def _filled(given: Mapping[str, Any], args: Mapping[str, Arg], prefix: str, what: str) -> dict[str, Any]:
    """Checks each value against its rule; unset (missing or None) keys take their default."""
    out = {}
    for key, arg in args.items():
        value = given.get(key)
        if value is None and arg.default is REQUIRED:
            raise ConfigError(
                f"{what} needs {key} ({arg.rule.accepted()}), but got {value!r}.", field=prefix + key
            )
        if value is None:
            value = arg.default
        else:
            arg.rule.check_value(value, prefix + key)
        out[key] = value
    return out


def _drop_inactive(
    given: Mapping[str, Any], args: Mapping[str, Arg], out: dict[str, Any], prefix: str, *, settings: bool
) -> None:
    """Unsets each key whose `Arg.when` does not hold; raises if the config set it."""
    for key, arg in args.items():
        if arg.when is None or out[arg.when[0]] in arg.when[1]:
            continue
        on, takers = arg.when
        if given.get(key) is not None:
            values = " or ".join(map(repr, takers))
            if settings:
                lead = f"only {on} {values} takes {key}, but {on} is {out[on]!r}"
            else:
                lead = f"{key} only applies when {on} is {values}, but {on} is {out[on]!r}"
            raise ConfigError(
                f"{lead} ({key}={given[key]!r}); make {key} conditional on {on} in the search space, "
                "or leave it unset.",
                field=prefix + key,
            )
        out[key] = None


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} layer"


def _check_layer(layer: Any, field: str) -> dict[str, Any]:
    kind = layer.get("type") if isinstance(layer, Mapping) else None
    if not isinstance(layer, Mapping) or kind not in LAYERS:
        hint = did_you_mean(str(kind), LAYERS) if isinstance(layer, Mapping) else ""
        raise ConfigError(
            f"unknown layer type {kind!r}{hint}; accepted: {sorted(LAYERS)}.", field=f"{field}.type"
        )
    args = LAYERS[kind]
    for key in layer:
        if key != "type" and key not in args:
            raise ConfigError(
                f"{_a(kind)} does not take this key{did_you_mean(str(key), args)}; "
                f"accepted: {['type', *args]}.",
                field=f"{field}.{key}",
            )
    out = {"type": kind, **_filled(layer, args, f"{field}.", _a(kind))}
    _drop_inactive(layer, args, out, f"{field}.", settings=False)
    return out


def _check_stack(value: Any, key: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"expected a list of layer dicts, but got {value!r}.", field=f"config.{key}")
    return [_check_layer(layer, f"config.{key}.{i}") for i, layer in enumerate(value)]


# A model body: (field path, layer dict) pairs.
Body = list[tuple[str, dict[str, Any]]]


def body_layers(config: Mapping[str, Any]) -> Body:
    """The model body, as (field path, layer dict) pairs in the config's key order.

    Takes a config returned by `check_config`.
    """
    return [
        (f"config.{key}.{i}", layer)
        for key, layers in config.items()
        if _is_stack(key)
        for i, layer in enumerate(layers)
    ]


def split_preprocessing(body: Body) -> tuple[Body, Body]:
    """The body's leading image preprocessing layers, and the layers after them."""
    count = next((i for i, (_, layer) in enumerate(body) if layer["type"] not in PREPROCESSING), len(body))
    return body[:count], body[count:]


def _check_positions(config: Mapping[str, Any]) -> None:
    body = body_layers(config)
    leading, rest = split_preprocessing(body)
    kinds = [layer["type"] for _, layer in body]
    for position, (field, layer) in enumerate(rest, start=len(leading)):
        kind = layer["type"]
        if kind in PREPROCESSING:
            raise ConfigError(
                f"{_a(kind)} preprocesses the raw images, so it must come before every other layer of the "
                f"model body, but it is layer {position} (0-based) of {kinds}.",
                field=field,
            )
        if kind in FIRST_ONLY and position > len(leading):
            raise ConfigError(
                f"{_a(kind)} takes the raw features, so it must be the first layer of the model body, but it "
                f"is layer {position} (0-based) of {kinds}; only image preprocessing layers may come before it.",
                field=field,
            )


def _check_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    out = _filled(config, _SETTINGS, "config.", "the config")
    _drop_inactive(config, _SETTINGS, out, "config.", settings=True)
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
) -> CheckedConfig:
    """Returns the config with the trainer's defaults filled in, as a read-only `CheckedConfig`.

    Layer dicts come back with every key of their type; unset keys take their
    defaults. Layer stacks keep the config's order, so the model body does too
    (see `body_layers`). A `CheckedConfig` already checked for ``task`` (and,
    unless ``custom_model``, with its layers) comes back as it is, so the
    functions a trial calls in turn check its config once.

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
    if isinstance(config, CheckedConfig) and config.covers(task, custom_model=custom_model):
        return config
    if not isinstance(config, Mapping):
        raise ConfigError(f"expected a mapping, but got {config!r}.", field="config")
    settings = _check_settings(config)
    if custom_model:
        full = {**{k: v for k, v in config.items() if k not in _SETTINGS}, **settings}
    else:
        for key in config:
            _check_key(key)
        stacks = {key: _check_stack(value, key) for key, value in config.items() if _is_stack(key)}
        full = {**stacks, **settings} if "layers" in stacks else {"layers": [], **stacks, **settings}
        _check_positions(full)
    if task is not None:
        _check_task(full, task)
    return CheckedConfig(full, task=task, custom_model=custom_model)


class CheckedConfig(dict[str, Any]):
    """A config `check_config` returned: defaults filled in, checked for ``task``; read-only.

    A plain dict otherwise (JSON, ``dict(config)``, equality), so code that
    reads configs needs no change.
    """

    __slots__ = ("custom_model", "task")

    def __init__(self, full: Mapping[str, Any], *, task: str | None, custom_model: bool) -> None:
        super().__init__(full)
        self.task = task
        self.custom_model = custom_model

    def covers(self, task: str | None, *, custom_model: bool) -> bool:
        """Whether checking it for ``task`` (``None``: any) and ``custom_model`` would add nothing."""
        return task in (None, self.task) and (custom_model or not self.custom_model)

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and deepcopy without the mutators below
        return (_restore_checked, (dict(self), self.task, self.custom_model))

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a checked config is read-only; copy it with dict(config) to change it.")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _read_only  # type: ignore[assignment]


def _restore_checked(full: dict[str, Any], task: str | None, custom_model: bool) -> CheckedConfig:
    return CheckedConfig(full, task=task, custom_model=custom_model)


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
        self._check_counts()
        if self.mode not in ("min", "max"):
            raise ConfigError(f"expected 'min' or 'max', but got {self.mode!r}.", field="mode")
        Rule(low=0).check_value(self.min_delta, "min_delta")
        self._check_metric_names()
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if not isinstance(self.mixed_precision, bool):
            raise ConfigError(
                f"expected true or false, but got {self.mixed_precision!r}.", field="mixed_precision"
            )
        if not (isinstance(self.jit_compile, bool) or self.jit_compile == "auto"):
            raise ConfigError(
                f"expected true, false or 'auto', but got {self.jit_compile!r}.", field="jit_compile"
            )
        Rule(low=0, words="a finite number of seconds >= 0").check_value(
            self.checkpoint_interval_s, "checkpoint_interval_s"
        )
        _OPEN_UNIT.check_value(self.reduce_lr_factor, "reduce_lr_factor")

    def _check_counts(self) -> None:
        check_int(self.epochs, "epochs", low=1, plain=True)
        check_int(self.patience, "patience", low=0, plain=True)
        if self.steps_per_execution != "auto":
            check_int(
                self.steps_per_execution,
                "steps_per_execution",
                low=1,
                accepted="an int >= 1 or 'auto'",
                plain=True,
            )
        if self.seed is not None:
            check_int(self.seed, "seed", low=0, high=2**32, accepted="an int in [0, 2**32)", plain=True)
        if self.reduce_lr_patience is not None:
            check_int(self.reduce_lr_patience, "reduce_lr_patience", low=0, plain=True)

    def _check_metric_names(self) -> None:
        known = sorted({name for names in OPTIONAL_METRICS.values() for name in names})
        if isinstance(self.metrics, str) or not isinstance(self.metrics, Sequence):
            raise ConfigError(f"expected a list of metric names, but got {self.metrics!r}.", field="metrics")
        for i, name in enumerate(self.metrics):
            if name not in known:
                raise ConfigError(
                    f"unknown metric {name!r}{did_you_mean(str(name), known)}; accepted: {known}.",
                    field=f"metrics.{i}",
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
