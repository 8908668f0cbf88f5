"""The search space: named parameters and layer stacks.

A space samples to a *config*: a plain, JSON-serializable nested dict. Its flat
form (dotted keys such as ``layers.0.units``) has the same keys for every config
of a space, which is what MLflow shows as params and what Ray Tune carries.
"""

from __future__ import annotations

import json
import keyword
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from search_spaces._conditions import check_references, is_active
from search_spaces._errors import ConfigError, located
from search_spaces._params import Parameter, as_parameter, parameter_from_dict
from search_spaces._shapes import Shape, check_stacks
from search_spaces._stack import LayerStack, Repeat, stack_from_dict
from search_spaces._yaml import load_yaml_file

if TYPE_CHECKING:
    import optuna

__all__ = ["Space", "load_space"]

Node = Parameter | LayerStack | Repeat
_STACKS = (LayerStack, Repeat)


def _as_node(value: Any) -> Node:
    return value if isinstance(value, _STACKS) else as_parameter(value)


def _node_from_dict(data: Any) -> Node:
    if isinstance(data, Mapping) and data.get("type") in ("stack", "repeat"):
        return stack_from_dict(data)
    return parameter_from_dict(data)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(
            f"entry names must be Python identifiers (letters, digits, '_'; no dots), but got {name!r}.",
            field=str(name),
        )


class Space:
    """A search space over layer stacks and training settings.

    Entries are parameters (`Float`, `Int`, `Categorical`, `Boolean`, `Fixed`;
    plain values become `Fixed`), `LayerStack`s or `Repeat`s, keyed by name and
    sampled in order. A parameter with ``when=`` exists only when earlier
    entries have the given values (``momentum`` only for SGD); otherwise its
    value in the config is ``None``.

    Args:
        entries: Name → parameter, stack or fixed value, as a mapping or as
            keyword arguments.

    Raises:
        ConfigError: The space is empty, a name is not an identifier, or an
            entry is invalid.

    Examples:
        >>> from search_spaces import Dense, Float, Int, LayerStack
        >>> space = Space(
        ...     layers=LayerStack(Dense(units=Int(16, 128)), min_layers=1, max_layers=2),
        ...     learning_rate=Float(1e-4, 1e-2, log=True),
        ... )
        >>> sorted(space.default_config())
        ['layers', 'learning_rate']
    """

    def __init__(self, entries: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged = {**(entries or {}), **kwargs}
        if not merged:
            raise ConfigError(
                "a space needs at least one entry (a parameter or a layer stack), but got none."
            )
        nodes: dict[str, Node] = {}
        for name, value in merged.items():
            _check_name(name)
            with located(name):
                node = _as_node(value)
                if not isinstance(node, _STACKS):
                    earlier = {k: v for k, v in nodes.items() if not isinstance(v, _STACKS)}
                    check_references(node.when, earlier, "parameter entry", ints=True)
                nodes[name] = node
        self._nodes = nodes

    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self._nodes == other._nodes

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._nodes.items())
        return f"Space({inner})"

    # Sampling -----------------------------------------------------------------

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Samples one config define-by-run; optuna param names are the flat keys.

        Inactive conditional parameters are not sampled and are ``None``.
        """
        config: dict[str, Any] = {}
        for name, node in self._nodes.items():
            if isinstance(node, _STACKS):
                config[name] = node.sample(trial, name)
            else:
                config[name] = node.sample(trial, name) if is_active(node.when, config) else None
        return config

    def default_config(self, **choices: Any) -> dict[str, Any]:
        """The config made of every entry's default: a sensible first trial.

        Args:
            **choices: Values to use instead of some parameters' defaults
                (conditions are evaluated with them), e.g. ``optimizer="sgd"``.
        """
        out: dict[str, Any] = {}
        for name, node in self._nodes.items():
            if isinstance(node, _STACKS):
                out[name] = node.default_config()
            elif not is_active(node.when, out):
                out[name] = None
            else:
                out[name] = choices[name] if name in choices else node.default_value()
        return out

    def variants(self) -> list[dict[str, Any]]:
        """The default config, and one per other value of each categorical or boolean entry.

        Cheap coverage for checks that can't wait for a trial: every choice
        (and the conditional parameters it switches on) appears at least once.
        An Int entry that conditions refer to adds one config per value they name.
        """
        configs = [self.default_config()]
        referenced = self._int_values_in_conditions()
        for name, node in self._nodes.items():
            if getattr(node, "kind", None) in ("categorical", "boolean"):
                values = node.choices if node.kind == "categorical" else (False, True)  # type: ignore[union-attr]
                configs.extend(self.default_config(**{name: v}) for v in values)
            elif name in referenced:  # an Int switches parameters on only at the values named
                configs.extend(self.default_config(**{name: v}) for v in referenced[name])
        unique = {json.dumps(c, sort_keys=True): c for c in configs}
        return list(unique.values())

    def _int_values_in_conditions(self) -> dict[str, list[Any]]:
        """Int entry → the values conditions of later entries name."""
        out: dict[str, dict[Any, None]] = {}
        for node in self._nodes.values():
            for name, values in getattr(node, "when", None) or ():
                if getattr(self._nodes[name], "kind", None) == "int":
                    out.setdefault(name, {}).update(dict.fromkeys(values))
        return {name: list(values) for name, values in out.items()}

    def check_input_shape(self, input_shape: Shape) -> None:
        """Checks that every layer sequence the space can sample builds on ``input_shape``.

        The stacks are applied in the space's order (as the trainer does).
        Every layer type a position may hold is tried from every shape the
        layers before it may give, with the arguments that shrink shapes most
        (largest kernel and pool), so a space that passes builds for any sample.

        Args:
            input_shape: Shape of one sample, without the batch axis, e.g. ``(8, 8, 1)``.

        Raises:
            ConfigError: Naming the first position that can fail, e.g.
                ``space.layers.1``, and the shape it would get.
        """
        check_stacks(self._nodes, input_shape)

    # Flat form ----------------------------------------------------------------

    def flat_keys(self) -> list[str]:
        """Every key of the flat form; the same for every config of this space."""
        keys: list[str] = []
        for name, node in self._nodes.items():
            keys.extend(node.flat_keys(name) if isinstance(node, _STACKS) else [name])
        return keys

    def flatten(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Nested config → flat dict over `flat_keys` (absent layers are ``None``)."""
        flat: dict[str, Any] = {}
        for name, node in self._nodes.items():
            if isinstance(node, _STACKS):
                flat.update(node.flatten(config[name], name))
            else:
                flat[name] = config[name]
        return flat

    def unflatten(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """Flat dict → nested config; the inverse of `flatten`."""
        missing = [k for k in self._required_flat_keys(flat) if k not in flat]
        if missing:
            raise ConfigError(f"the flat config lacks {missing}.", field=missing[0])
        out: dict[str, Any] = {}
        for name, node in self._nodes.items():
            out[name] = node.unflatten(flat, name) if isinstance(node, _STACKS) else flat[name]
        return out

    def unflatten_stored(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """A flat config as a table holds it → the nested config, each value typed by its parameter.

        A pandas DataFrame or a CSV file (``result.trials``, ``trials.csv``)
        stores ``None`` as NaN and an int column with gaps as floats
        (``256.0``). Here an `Int`'s value becomes an int, a `Boolean`'s a
        bool, a `Categorical`'s its matching choice, and NaN ``None``; the
        types come from the space, not from the values.

        Raises:
            ConfigError: A value its parameter cannot take, named by its flat key.

        Examples:
            >>> from search_spaces import Boolean, Int
            >>> Space(units=Int(16, 256), nesterov=Boolean()).unflatten_stored(
            ...     {"units": 256.0, "nesterov": "True"})
            {'units': 256, 'nesterov': True}
        """
        from search_spaces._stored import restore_flat

        return self.unflatten(restore_flat(self, flat))

    def _required_flat_keys(self, flat: Mapping[str, Any]) -> list[str]:
        keys = []
        for name, node in self._nodes.items():
            if isinstance(node, _STACKS):
                keys.append(f"{name}.depth" if isinstance(node, LayerStack) else f"{name}.times")
            else:
                keys.append(name)
        return keys

    def params_of(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The optuna params that make this space sample ``config``.

        Used to enqueue known configs (warm start): the result holds exactly
        the sampled names (``layers.depth``, ``layers.0.units``, ...).

        Raises:
            ConfigError: ``config`` is not one this space can sample: an entry
                is missing or unknown, a value is out of its range, or a fixed
                value differs.
        """
        from search_spaces._stored import params_of

        return params_of(self, config)

    # Serialization ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data; `Space.from_dict` inverts it."""
        return {name: node.to_dict() for name, node in self._nodes.items()}

    @classmethod
    def from_dict(cls, data: Any) -> Space:
        """Builds a space from its dict form (as read from YAML or JSON).

        Raises:
            ConfigError: Naming the path of the first invalid field, e.g.
                ``space.layers.layers.0.units.low``.
        """
        with located("space"):
            if not isinstance(data, Mapping):
                raise ConfigError(f"expected a mapping of entries, but got {data!r}.")
            nodes = {}
            for name, value in data.items():
                _check_name(name)
                with located(name):
                    nodes[name] = _node_from_dict(value)
            return cls(nodes)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)


def load_space(path: str | Path) -> Space:
    """Reads a space from a YAML or JSON file.

    YAML is read with a safe loader (no Python tags) that also refuses
    duplicate keys instead of keeping the last one silently.

    Raises:
        ConfigError: The file is missing, unreadable, or holds an invalid space.
    """
    return Space.from_dict(load_yaml_file(path))
