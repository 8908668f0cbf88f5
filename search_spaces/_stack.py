"""Layer stacks: a variable number of layers, each sampled per position."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from search_spaces._errors import ConfigError, located
from search_spaces._layers import LayerTemplate, template_from_dict
from search_spaces._suggest import did_you_mean

if TYPE_CHECKING:
    import optuna

__all__ = ["LayerStack"]


@dataclasses.dataclass(frozen=True, init=False)
class LayerStack:
    """Between ``min_layers`` and ``max_layers`` layers (both inclusive).

    The depth is sampled first (``<name>.depth``); layer ``i`` exists only when
    the depth exceeds ``i``, and its arguments are sampled as ``<name>.<i>.<arg>``
    so TPE sees one distribution per position. With several templates the type
    at each position is sampled too (``<name>.<i>.type``).

    Args:
        templates: One layer template or a list of them.
        min_layers: Fewest layers, inclusive. Defaults to `1`.
        max_layers: Most layers, inclusive. Defaults to `min_layers`.

    Example:
        >>> from search_spaces import Dense, Int
        >>> stack = LayerStack(Dense(units=Int(16, 64)), min_layers=1, max_layers=3)
        >>> len(stack.default_config())
        1
    """

    templates: tuple[LayerTemplate, ...]
    min_layers: int
    max_layers: int

    def __init__(
        self,
        templates: LayerTemplate | Sequence[LayerTemplate],
        *,
        min_layers: int = 1,
        max_layers: int | None = None,
    ) -> None:
        if isinstance(templates, LayerTemplate):
            templates = (templates,)
        templates = tuple(templates)
        if not templates or not all(isinstance(t, LayerTemplate) for t in templates):
            raise ConfigError(
                f"expected one or more layer templates, but got {templates!r}.", field="templates"
            )
        kinds = [t.kind for t in templates]
        if len(set(kinds)) != len(kinds):
            raise ConfigError(f"each layer type may appear once, but got {kinds}.", field="templates")
        max_layers = min_layers if max_layers is None else max_layers
        for name, value in (("min_layers", min_layers), ("max_layers", max_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"expected an int >= 1, but got {value!r}.", field=name)
        if min_layers > max_layers:
            raise ConfigError(
                f"`min_layers <= max_layers` must hold, but got ({min_layers=}, {max_layers=}).",
                field="min_layers",
            )
        object.__setattr__(self, "templates", templates)
        object.__setattr__(self, "min_layers", min_layers)
        object.__setattr__(self, "max_layers", max_layers)

    def _template(self, kind: str) -> LayerTemplate:
        return next(t for t in self.templates if t.kind == kind)

    def sample(self, trial: optuna.Trial, name: str) -> list[dict[str, Any]]:
        depth = self.min_layers
        if self.max_layers > self.min_layers:
            depth = trial.suggest_int(f"{name}.depth", self.min_layers, self.max_layers)
        layers = []
        for i in range(depth):
            template = self.templates[0]
            if len(self.templates) > 1:
                kinds = [t.kind for t in self.templates]
                template = self._template(trial.suggest_categorical(f"{name}.{i}.type", kinds))
            layers.append(template.sample(trial, f"{name}.{i}"))
        return layers

    def default_config(self) -> list[dict[str, Any]]:
        return [self.templates[0].default_config() for _ in range(self.min_layers)]

    def flat_keys(self, name: str) -> list[str]:
        """Every key the flat form may hold, whatever the depth."""
        per_layer = list(dict.fromkeys(k for t in self.templates for k in t.keys()))
        return [f"{name}.depth"] + [f"{name}.{i}.{k}" for i in range(self.max_layers) for k in per_layer]

    def flatten(self, value: list[dict[str, Any]], name: str) -> dict[str, Any]:
        flat: dict[str, Any] = dict.fromkeys(self.flat_keys(name))
        flat[f"{name}.depth"] = len(value)
        for i, layer in enumerate(value):
            for key, item in layer.items():
                flat[f"{name}.{i}.{key}"] = item
        return flat

    def unflatten(self, flat: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
        depth = flat[f"{name}.depth"]
        layers = []
        for i in range(depth):
            template = self._template(flat[f"{name}.{i}.type"])
            layers.append({k: flat[f"{name}.{i}.{k}"] for k in template.keys()})
        return layers

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "stack",
            "min_layers": self.min_layers,
            "max_layers": self.max_layers,
            "layers": [t.to_dict() for t in self.templates],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LayerStack:
        accepted = ["type", "min_layers", "max_layers", "layers"]
        unknown = [k for k in data if k not in accepted]
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} for a stack{did_you_mean(str(unknown[0]), accepted)}; "
                f"accepted: {accepted}.",
                field=str(unknown[0]),
            )
        layers = data.get("layers")
        if not isinstance(layers, list) or not layers:
            raise ConfigError(
                f"expected a non-empty list of layer templates, but got {layers!r}.", field="layers"
            )
        templates = []
        for i, item in enumerate(layers):
            with located(f"layers.{i}"):
                templates.append(template_from_dict(item))
        return cls(templates, min_layers=data.get("min_layers", 1), max_layers=data.get("max_layers"))
