"""Layer stacks: a variable number of layers, each sampled per position, and repeated blocks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from search_spaces._checks import check_int, is_real
from search_spaces._errors import ConfigError, located
from search_spaces._layers import LayerTemplate, template_from_dict
from search_spaces._params import Categorical, Fixed, Int, Parameter, as_parameter, parameter_from_dict
from search_spaces._suggest import check_fields

if TYPE_CHECKING:
    import optuna

__all__ = ["LayerStack", "Repeat", "stack_from_dict"]

_WIDTH_ARGS = ("units", "filters")


def _as_templates(
    templates: LayerTemplate | Sequence[LayerTemplate], field: str
) -> tuple[LayerTemplate, ...]:
    if isinstance(templates, LayerTemplate):
        templates = (templates,)
    if isinstance(templates, (str, bytes)) or not isinstance(templates, Sequence):
        raise ConfigError(f"expected one or more layer templates, but got {templates!r}.", field=field)
    templates = tuple(templates)
    if not templates or not all(isinstance(t, LayerTemplate) for t in templates):
        raise ConfigError(f"expected one or more layer templates, but got {templates!r}.", field=field)
    return templates


def _check_count(name: str, value: Any) -> None:
    check_int(value, name, low=0, plain=True)


def _layers_from_dict(data: Mapping[str, Any], key: str) -> list[LayerTemplate]:
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise ConfigError(f"expected a non-empty list of layer templates, but got {items!r}.", field=key)
    templates = []
    for i, item in enumerate(items):
        with located(f"{key}.{i}"):
            templates.append(template_from_dict(item))
    return templates


def _compatible(a: Parameter, b: Parameter) -> bool:
    """Whether optuna accepts both distributions under one name (ranges may differ)."""
    if isinstance(a, Fixed) or isinstance(b, Fixed):
        return True  # a fixed value is never sampled
    if type(a) is not type(b):
        return False
    if isinstance(a, Categorical):
        return tuple(a.choices) == tuple(b.choices)  # type: ignore[union-attr]
    return getattr(a, "log", False) == getattr(b, "log", False)


def _check_compatible(templates: Sequence[LayerTemplate]) -> None:
    """Templates of one stack sample an argument of the same name under one optuna name
    (``layers.<i>.units``), so its distributions must be ones optuna takes together."""
    for i, first in enumerate(templates):
        for second in templates[i + 1 :]:
            for name, param in first.parameters().items():
                other = second.parameters().get(name)
                if other is not None and not _compatible(param, other):
                    raise ConfigError(
                        f"the {first.kind} and {second.kind} layers both sample {name!r}, as {param!r} and "
                        f"{other!r}; at one position they share the optuna name '<stack>.<i>.{name}', which "
                        "takes one kind of distribution (same type and log scale; same choices). "
                        "Align them or put the layers in separate stacks.",
                        field="layers",
                    )


@dataclasses.dataclass(frozen=True, init=False)
class LayerStack:
    """Between ``min_layers`` and ``max_layers`` layers (both inclusive).

    The depth is sampled first (``<name>.depth``); layer ``i`` exists only when
    the depth exceeds ``i``, and its arguments are sampled as ``<name>.<i>.<arg>``
    so TPE sees one distribution per position. With several templates the type
    at each position is sampled too (``<name>.<i>.type``).

    Args:
        templates: One layer template or a list of them.
        min_layers: Fewest layers, inclusive; 0 makes the stack optional.
            Defaults to `1`.
        max_layers: Most layers, inclusive. Defaults to `min_layers`.
        shared: Arguments sampled once for the whole stack (``<name>.<arg>``)
            instead of per position, e.g. ``["units"]`` for one width for all
            layers. Defaults to `()`.
        width_factor: With a shared ``units`` or ``filters``: layer ``i`` gets
            ``round(width * width_factor ** i)`` (at least 1); ``0.5`` halves
            the width at each layer, ``2.0`` doubles it. Defaults to `None`.

    Examples:
        >>> from search_spaces import Dense, Int
        >>> stack = LayerStack(Dense(units=Int(64, 256, log=True)), min_layers=3, shared=["units"],
        ...                    width_factor=0.5)
        >>> [layer["units"] for layer in stack.default_config()]
        [128, 64, 32]
    """

    templates: tuple[LayerTemplate, ...]
    min_layers: int
    max_layers: int
    shared: tuple[str, ...]
    width_factor: float | None

    def __init__(
        self,
        templates: LayerTemplate | Sequence[LayerTemplate],
        *,
        min_layers: int = 1,
        max_layers: int | None = None,
        shared: Sequence[str] = (),
        width_factor: float | None = None,
    ) -> None:
        templates = _as_templates(templates, "layers")
        kinds = [t.kind for t in templates]
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"each layer type may appear once, but got {kinds}.", field="layers")
        max_layers = min_layers if max_layers is None else max_layers
        _check_count("min_layers", min_layers)
        _check_count("max_layers", max_layers)
        if min_layers > max_layers:
            raise ConfigError(
                f"`min_layers <= max_layers` must hold, but got ({min_layers=}, {max_layers=}).",
                field="min_layers",
            )
        if max_layers == 0:
            raise ConfigError("a stack needs `max_layers >= 1`, but got max_layers=0.", field="max_layers")
        _check_compatible(templates)
        object.__setattr__(self, "templates", templates)
        object.__setattr__(self, "min_layers", min_layers)
        object.__setattr__(self, "max_layers", max_layers)
        object.__setattr__(self, "shared", self._check_shared(shared))
        object.__setattr__(self, "width_factor", self._check_width_factor(width_factor))

    def _check_shared(self, shared: Sequence[str]) -> tuple[str, ...]:
        if isinstance(shared, str) or not isinstance(shared, Sequence):
            raise ConfigError(f"expected a list of argument names, but got {shared!r}.", field="shared")
        names = tuple(shared)
        for name in names:
            params = [t.parameters()[name] for t in self.templates if name in t.parameters()]
            if not params:
                known = sorted({k for t in self.templates for k in t.parameters()})
                raise ConfigError(
                    f"{name!r} is not an argument of the stack's layers; accepted: {known}.", field="shared"
                )
            if any(p != params[0] for p in params) or params[0].when is not None:
                raise ConfigError(
                    f"a shared argument needs one unconditional definition, but {name!r} is defined as "
                    f"{params}.",
                    field="shared",
                )
        if len(set(names)) != len(names):
            raise ConfigError(f"each shared argument may appear once, but got {list(names)}.", field="shared")
        return names

    def _check_width_factor(self, factor: Any) -> float | None:
        if factor is None:
            return None
        if not (is_real(factor, plain=True) and 0 < factor < math.inf):
            raise ConfigError(f"expected a number > 0, but got {factor!r}.", field="width_factor")
        if not any(arg in self.shared for arg in _WIDTH_ARGS):
            raise ConfigError(
                f"scales a shared 'units' or 'filters', so add one of them to `shared` "
                f"(got shared={list(self.shared)}).",
                field="width_factor",
            )
        return float(factor)

    def _template(self, kind: str) -> LayerTemplate:
        return next(t for t in self.templates if t.kind == kind)

    def _shared_param(self, name: str) -> Parameter:
        return next(t.parameters()[name] for t in self.templates if name in t.parameters())

    def _widen(self, shared: Mapping[str, Any], i: int) -> dict[str, Any]:
        """The shared values of layer ``i``, with the width scaled by ``width_factor ** i``."""
        out = dict(shared)
        if self.width_factor is not None:
            for arg in _WIDTH_ARGS:
                if out.get(arg) is not None:
                    out[arg] = max(1, round(out[arg] * self.width_factor**i))
        return out

    def _per_layer_keys(self, template: LayerTemplate) -> list[str]:
        return [k for k in template.keys() if k not in self.shared]

    def sample(self, trial: optuna.Trial, name: str) -> list[dict[str, Any]]:
        depth = self.min_layers
        if self.max_layers > self.min_layers:
            depth = trial.suggest_int(f"{name}.depth", self.min_layers, self.max_layers)
        if depth == 0:
            return []
        shared = {arg: self._shared_param(arg).sample(trial, f"{name}.{arg}") for arg in self.shared}
        layers = []
        for i in range(depth):
            template = self.templates[0]
            if len(self.templates) > 1:
                kinds = [t.kind for t in self.templates]
                template = self._template(trial.suggest_categorical(f"{name}.{i}.type", kinds))
            own = {k: v for k, v in self._widen(shared, i).items() if k in template.parameters()}
            layers.append(template.sample(trial, f"{name}.{i}", own))
        return layers

    def default_config(self) -> list[dict[str, Any]]:
        template = self.templates[0]
        shared = {arg: self._shared_param(arg).default_value() for arg in self.shared}
        layers = []
        for i in range(self.min_layers):
            layer = template.default_config()
            layer.update({k: v for k, v in self._widen(shared, i).items() if k in layer})
            layers.append(layer)
        return layers

    def flat_keys(self, name: str) -> list[str]:
        """Every key the flat form may hold, whatever the depth."""
        per_layer = list(dict.fromkeys(k for t in self.templates for k in self._per_layer_keys(t)))
        return [
            f"{name}.depth",
            *(f"{name}.{arg}" for arg in self.shared),
            *(f"{name}.{i}.{k}" for i in range(self.max_layers) for k in per_layer),
        ]

    def flatten(self, value: list[dict[str, Any]], name: str) -> dict[str, Any]:
        flat: dict[str, Any] = dict.fromkeys(self.flat_keys(name))
        flat[f"{name}.depth"] = len(value)
        for arg in self.shared:
            holder = next((layer for layer in value if arg in layer), None)
            flat[f"{name}.{arg}"] = None if holder is None else holder[arg]
        for i, layer in enumerate(value):
            for key, item in layer.items():
                if key not in self.shared:
                    flat[f"{name}.{i}.{key}"] = item
        return flat

    def unflatten(self, flat: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        shared = {arg: flat[f"{name}.{arg}"] for arg in self.shared}
        layers = []
        for i in range(flat[f"{name}.depth"]):
            template = self._template(flat[f"{name}.{i}.type"])
            widened = self._widen(shared, i)
            layers.append(
                {k: widened[k] if k in self.shared else flat[f"{name}.{i}.{k}"] for k in template.keys()}
            )
        return layers

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "stack",
            "min_layers": self.min_layers,
            "max_layers": self.max_layers,
            "layers": [t.to_dict() for t in self.templates],
        }
        if self.shared:
            out["shared"] = list(self.shared)
        if self.width_factor is not None:
            out["width_factor"] = self.width_factor
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerStack:
        check_fields(data, _StackFields, "stack")
        return cls(
            _layers_from_dict(data, "layers"),
            min_layers=data.get("min_layers", 1),
            max_layers=data.get("max_layers"),
            shared=data.get("shared", ()),
            width_factor=data.get("width_factor"),
        )


@dataclasses.dataclass(frozen=True, init=False)
class Repeat:
    """A block of layers, sampled once, repeated ``times`` times.

    The block's arguments are sampled as ``<name>.<j>.<arg>`` (``j`` the
    position in the block) and the count as ``<name>.times``; the config holds
    the expanded list of layers.

    Args:
        block: The layer templates of one block, in order.
        times: How many times the block appears: an int or an `Int`
            parameter (>= 0). Defaults to `1`.

    Examples:
        >>> from search_spaces import BatchNormalization, Conv2D, Int
        >>> blocks = Repeat([Conv2D(filters=32), BatchNormalization()], times=Int(1, 3))
        >>> [layer["type"] for layer in blocks.default_config()]
        ['conv2d', 'batch_normalization', 'conv2d', 'batch_normalization']
    """

    block: tuple[LayerTemplate, ...]
    times: Int | Fixed

    def __init__(self, block: LayerTemplate | Sequence[LayerTemplate], *, times: Any = 1) -> None:
        object.__setattr__(self, "block", _as_templates(block, "block"))
        with located("times"):
            param = as_parameter(times)
            if not isinstance(param, (Int, Fixed)) or param.when is not None:
                raise ConfigError(f"expected an int or an Int parameter, but got {times!r}.")
            if isinstance(param, Int):
                _check_count("low", param.low)
            else:
                _check_count("value", param.value)
        if isinstance(param, Int) and param.high == 0:
            raise ConfigError(
                f"the block must be able to appear at least once, but got {times!r}.", field="times"
            )
        if isinstance(param, Fixed) and param.value == 0:
            raise ConfigError("the block must appear at least once, but got times=0.", field="times")
        object.__setattr__(self, "times", param)

    @property
    def min_layers(self) -> int:
        return len(self.block) * (self.times.low if isinstance(self.times, Int) else self.times.value)

    def _counts(self) -> range:
        if isinstance(self.times, Int):
            return range(self.times.low, self.times.high + 1, self.times.step)
        return range(self.times.value, self.times.value + 1)

    def sample(self, trial: optuna.Trial, name: str) -> list[dict[str, Any]]:
        times = self.times.sample(trial, f"{name}.times")
        if times == 0:
            return []
        block = [t.sample(trial, f"{name}.{j}") for j, t in enumerate(self.block)]
        return [dict(layer) for _ in range(times) for layer in block]

    def default_config(self) -> list[dict[str, Any]]:
        block = [t.default_config() for t in self.block]
        return [dict(layer) for _ in range(self.times.default_value()) for layer in block]

    def flat_keys(self, name: str) -> list[str]:
        return [f"{name}.times", *(f"{name}.{j}.{k}" for j, t in enumerate(self.block) for k in t.keys())]

    def flatten(self, value: list[dict[str, Any]], name: str) -> dict[str, Any]:
        times, rest = divmod(len(value), len(self.block))
        if rest:
            raise ConfigError(
                f"expected whole blocks of {len(self.block)} layers, but got {len(value)} layers.", field=name
            )
        flat: dict[str, Any] = dict.fromkeys(self.flat_keys(name))
        flat[f"{name}.times"] = times
        for j, layer in enumerate(value[: len(self.block)]):
            for key, item in layer.items():
                flat[f"{name}.{j}.{key}"] = item
        return flat

    def unflatten(self, flat: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        block = [{k: flat[f"{name}.{j}.{k}"] for k in t.keys()} for j, t in enumerate(self.block)]
        return [dict(layer) for _ in range(flat[f"{name}.times"]) for layer in block]

    def to_dict(self) -> dict[str, Any]:
        times = self.times.value if isinstance(self.times, Fixed) else self.times.to_dict()
        return {"type": "repeat", "times": times, "block": [t.to_dict() for t in self.block]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Repeat:
        check_fields(data, _RepeatFields, "repeat")
        with located("times"):
            times = parameter_from_dict(data.get("times", 1))
        return cls(_layers_from_dict(data, "block"), times=times)


@dataclasses.dataclass
class _StackFields:
    """The keys of a stack's dict form (for `check_fields`)."""

    type: str
    layers: list[Any]
    min_layers: int = 1
    max_layers: int | None = None
    shared: list[str] = dataclasses.field(default_factory=list)
    width_factor: float | None = None


@dataclasses.dataclass
class _RepeatFields:
    """The keys of a repeat's dict form (for `check_fields`)."""

    type: str
    block: list[Any]
    times: Any = 1


def stack_from_dict(data: Mapping[str, Any]) -> LayerStack | Repeat:
    """A `LayerStack` (``type: stack``) or `Repeat` (``type: repeat``) from its dict form."""
    return Repeat.from_dict(data) if data.get("type") == "repeat" else LayerStack.from_dict(data)
