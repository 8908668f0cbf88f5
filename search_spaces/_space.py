"""The search space: named parameters and layer stacks.

A space samples to a *config*: a plain, JSON-serializable nested dict. Its flat
form (dotted keys such as ``layers.0.units``) has the same keys for every config
of a space, which is what MLflow shows as params and what Ray Tune carries.
"""

from __future__ import annotations

import json
import keyword
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from search_spaces._errors import ConfigError, located
from search_spaces._params import Parameter, as_parameter, parameter_from_dict
from search_spaces._stack import LayerStack

if TYPE_CHECKING:
    import optuna

__all__ = ["Space", "load_space"]

Node = Parameter | LayerStack


def _as_node(value: Any) -> Node:
    return value if isinstance(value, LayerStack) else as_parameter(value)


def _node_from_dict(data: Any) -> Node:
    if isinstance(data, Mapping) and data.get("type") == "stack":
        return LayerStack.from_dict(data)
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
    plain values become `Fixed`) or `LayerStack`s, keyed by name.

    Args:
        entries: Name → parameter, stack or fixed value, as a mapping or as
            keyword arguments.

    Raises:
        ConfigError: The space is empty, a name is not an identifier, or an
            entry is invalid.

    Example:
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
                nodes[name] = _as_node(value)
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
        """Samples one config define-by-run; optuna param names are the flat keys."""
        return {name: node.sample(trial, name) for name, node in self._nodes.items()}

    def default_config(self) -> dict[str, Any]:
        """The config made of every entry's default: a sensible first trial."""
        out: dict[str, Any] = {}
        for name, node in self._nodes.items():
            out[name] = node.default_config() if isinstance(node, LayerStack) else node.default_value()
        return out

    # Flat form ----------------------------------------------------------------

    def flat_keys(self) -> list[str]:
        """Every key of the flat form; the same for every config of this space."""
        keys: list[str] = []
        for name, node in self._nodes.items():
            keys.extend(node.flat_keys(name) if isinstance(node, LayerStack) else [name])
        return keys

    def flatten(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """Nested config → flat dict over `flat_keys` (absent layers are ``None``)."""
        flat: dict[str, Any] = {}
        for name, node in self._nodes.items():
            if isinstance(node, LayerStack):
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
            out[name] = node.unflatten(flat, name) if isinstance(node, LayerStack) else flat[name]
        return out

    def _required_flat_keys(self, flat: Mapping[str, Any]) -> list[str]:
        keys = []
        for name, node in self._nodes.items():
            keys.append(f"{name}.depth" if isinstance(node, LayerStack) else name)
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
        import optuna

        if not isinstance(config, Mapping):
            raise ConfigError(f"expected a config mapping, but got {config!r}.")
        unknown = [k for k in config if k not in self._nodes]
        missing = [k for k in self._nodes if k not in config]
        if unknown or missing:
            raise ConfigError(
                f"the config must have exactly the space's entries {list(self._nodes)}, "
                f"but got unknown {unknown} and missing {missing}.",
                field=(unknown or missing)[0],
            )
        try:
            flat = self.flatten(config)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the config does not have this space's structure: {exc!r}.") from exc
        trial = optuna.trial.FixedTrial(flat)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                sampled = self.sample(trial)  # type: ignore[arg-type]  # FixedTrial is a BaseTrial too
            except ValueError as exc:
                raise ConfigError(f"the config cannot be sampled from this space: {exc}") from exc
        for warning in caught:
            raise ConfigError(f"out of the space: {warning.message}")
        if self.flatten(sampled) != flat:
            diff = [k for k, v in self.flatten(sampled).items() if flat.get(k) != v]
            raise ConfigError(
                f"the config differs from what the space allows at {diff} "
                f"(expected {[self.flatten(sampled)[k] for k in diff]}, got {[flat[k] for k in diff]}).",
                field=diff[0],
            )
        return dict(trial.params)

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
    """Reads a space from a YAML or JSON file (YAML is read with ``safe_load``).

    Raises:
        ConfigError: The file is missing, unreadable, or holds an invalid space.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the space file: {exc.strerror}.", field=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", field=str(path)) from exc
    return Space.from_dict(data)
