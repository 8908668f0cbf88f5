"""Layer templates: one Keras layer whose arguments may be searched.

A template samples to plain data, ``{"type": "dense", "units": 64, ...}``; the
trainer turns that dict into a Keras layer. Templates never import Keras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from search_spaces._errors import ConfigError, located
from search_spaces._params import Fixed, Parameter, as_parameter, parameter_from_dict
from search_spaces._suggest import check_fields, did_you_mean

if TYPE_CHECKING:
    import optuna

__all__ = ["Dense", "Dropout", "LayerTemplate", "template_from_dict"]


class LayerTemplate:
    """Base class of layer templates; subclasses are frozen dataclasses."""

    kind: ClassVar[str]

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            with located(field.name):
                object.__setattr__(self, field.name, as_parameter(getattr(self, field.name)))

    def parameters(self) -> dict[str, Parameter]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def keys(self) -> list[str]:
        """The keys of a sampled layer dict, ``"type"`` first."""
        return ["type", *self.parameters()]

    def sample(self, trial: optuna.Trial, prefix: str) -> dict[str, Any]:
        layer: dict[str, Any] = {"type": self.kind}
        for name, param in self.parameters().items():
            layer[name] = param.sample(trial, f"{prefix}.{name}")
        return layer

    def default_config(self) -> dict[str, Any]:
        return {"type": self.kind, **{k: p.default_value() for k, p in self.parameters().items()}}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        for name, param in self.parameters().items():
            out[name] = param.value if isinstance(param, Fixed) else param.to_dict()
        return out

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={p.value!r}" if isinstance(p, Fixed) else f"{k}={p!r}" for k, p in self.parameters().items()
        )
        return f"{type(self).__name__}({args})"


@dataclasses.dataclass(frozen=True, repr=False)
class Dense(LayerTemplate):
    """A ``keras.layers.Dense`` layer, optionally followed by dropout.

    Args:
        units: Number of units; a parameter or a fixed int.
        activation: Keras activation name. Defaults to `"relu"`.
        dropout: Dropout rate after the layer, in [0, 1); 0 adds no layer.
            Defaults to `0.0`.

    Example:
        >>> from search_spaces import Int, Float
        >>> Dense(units=Int(16, 128, log=True), dropout=Float(0.0, 0.5))
        Dense(units=Int(low=16, high=128, log=True), activation='relu', dropout=Float(low=0.0, high=0.5))
    """

    kind: ClassVar[str] = "dense"
    units: Any
    activation: Any = "relu"
    dropout: Any = 0.0


@dataclasses.dataclass(frozen=True, repr=False)
class Dropout(LayerTemplate):
    """A ``keras.layers.Dropout`` layer.

    Args:
        rate: Fraction of inputs to drop, in [0, 1).
    """

    kind: ClassVar[str] = "dropout"
    rate: Any


_TEMPLATES: dict[str, type[LayerTemplate]] = {cls.kind: cls for cls in (Dense, Dropout)}


def template_from_dict(data: Any) -> LayerTemplate:
    """Builds a layer template from its dict form.

    Raises:
        ConfigError: The layer type or one of its keys is unknown, or a value is invalid.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping with a `type` key, but got {data!r}.")
    kind = data.get("type")
    if kind not in _TEMPLATES:
        hint = did_you_mean(str(kind), _TEMPLATES)
        raise ConfigError(f"unknown layer type {kind!r}{hint}; accepted: {sorted(_TEMPLATES)}.", field="type")
    cls = _TEMPLATES[kind]
    args = {k: v for k, v in data.items() if k != "type"}
    check_fields(args, cls, f"{kind} layer")
    for key, value in args.items():
        with located(str(key)):
            args[key] = parameter_from_dict(value)
    return cls(**args)
