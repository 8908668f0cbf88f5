"""Flat configs as tables store them, read back with the space's types.

A pandas DataFrame or a CSV file holds a flat config's values by column: an
absent value (an inactive conditional parameter, a layer beyond the depth) is
NaN, an int column with such a gap comes back as floats (``256.0``), and a CSV
file may hand back strings. Each value is read back as its own parameter
samples it, never guessed from the value itself.

Known configs (warm start) become the optuna params that make the space sample
them (`params_of`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from search_spaces._errors import ConfigError
from search_spaces._params import Boolean, Categorical, Fixed, Float, Int, Parameter
from search_spaces._stack import LayerStack, Repeat

if TYPE_CHECKING:
    from search_spaces._layers import LayerTemplate
    from search_spaces._space import Space

__all__ = ["params_of", "restore_flat"]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_bool(value: Any) -> bool:
    # numpy's bool is not a subclass of bool; its type name says what it is.
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def _as_int(value: Any, key: str) -> int:
    try:
        number = float(value) if not _is_bool(value) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not number.is_integer():
        raise ConfigError(f"expected an int, but got {value!r}.", field=key)
    return int(number)


def _as_bool(value: Any, key: str) -> bool:
    if _is_bool(value):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(f"expected true or false, but got {value!r}.", field=key)


def _same(value: Any, choice: Any) -> bool:
    """Whether a stored ``value`` is ``choice``, as a table may have changed its type."""
    if isinstance(choice, bool):
        return (_is_bool(value) or isinstance(value, str)) and str(value).lower() == str(choice).lower()
    if isinstance(choice, (int, float)):
        if _is_bool(value):
            return False
        try:
            return float(value) == float(choice)
        except (TypeError, ValueError):
            return False
    return isinstance(value, str) and value == choice


def _choice(value: Any, choices: Sequence[Any], key: str) -> Any:
    exact = [c for c in choices if type(c) is type(value) and c == value]
    matches = exact or [c for c in choices if c is not None and _same(value, c)]
    if not matches:
        raise ConfigError(f"expected one of {list(choices)!r}, but got {value!r}.", field=key)
    return matches[0]


def restore_value(param: Parameter, value: Any, key: str) -> Any:
    """``value`` as ``param`` samples it; ``None`` for a missing one (``None`` or NaN).

    Raises:
        ConfigError: ``param`` cannot take the value (named by ``key``).
    """
    if _missing(value):
        return None
    if isinstance(param, Int):
        return _as_int(value, key)
    if isinstance(param, Float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"expected a number, but got {value!r}.", field=key) from None
    if isinstance(param, Boolean):
        return _as_bool(value, key)
    if isinstance(param, Categorical):
        return _choice(value, param.choices, key)
    if isinstance(param, Fixed):
        return _choice(value, (param.value,), key)
    raise TypeError(f"not a parameter: {param!r}")  # pragma: no cover - Parameter is a closed union


def _layer(
    template: LayerTemplate, prefix: str, flat: Mapping[str, Any], skip: Sequence[str]
) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}.type": template.kind}
    for arg, param in template.parameters().items():
        if arg not in skip:
            out[f"{prefix}.{arg}"] = restore_value(param, flat.get(f"{prefix}.{arg}"), f"{prefix}.{arg}")
    return out


def _stack(node: LayerStack, name: str, flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(node.flat_keys(name))
    depth = _as_int(flat.get(f"{name}.depth"), f"{name}.depth")
    out[f"{name}.depth"] = depth
    for arg in node.shared:
        out[f"{name}.{arg}"] = restore_value(
            node._shared_param(arg), flat.get(f"{name}.{arg}"), f"{name}.{arg}"
        )
    kinds = [t.kind for t in node.templates]
    for i in range(depth):
        kind = _choice(flat.get(f"{name}.{i}.type"), kinds, f"{name}.{i}.type")
        out.update(_layer(node._template(kind), f"{name}.{i}", flat, node.shared))
    return out


def _repeat(node: Repeat, name: str, flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(node.flat_keys(name))
    times = _as_int(flat.get(f"{name}.times"), f"{name}.times")
    out[f"{name}.times"] = times
    if times:
        for j, template in enumerate(node.block):
            out.update(_layer(template, f"{name}.{j}", flat, ()))
    return out


def restore_flat(space: Space, flat: Mapping[str, Any]) -> dict[str, Any]:
    """A flat config as a table stored it, with each value as its parameter samples it (see the module)."""
    out: dict[str, Any] = {}
    for name in space:
        node = space[name]
        if isinstance(node, LayerStack):
            out.update(_stack(node, name, flat))
        elif isinstance(node, Repeat):
            out.update(_repeat(node, name, flat))
        else:
            out[name] = restore_value(node, flat.get(name), name)
    return out


def params_of(space: Space, config: Mapping[str, Any]) -> dict[str, Any]:
    """`Space.params_of`: the optuna params that make ``space`` sample ``config``."""
    import optuna

    if not isinstance(config, Mapping):
        raise ConfigError(f"expected a config mapping, but got {config!r}.")
    unknown = [k for k in config if k not in space]
    missing = [k for k in space if k not in config]
    if unknown or missing:
        raise ConfigError(
            f"the config must have exactly the space's entries {list(space)}, "
            f"but got unknown {unknown} and missing {missing}.",
            field=(unknown or missing)[0],
        )
    try:
        flat = space.flatten(config)
    except ConfigError:
        raise
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"the config does not have this space's structure: {exc!r}.") from exc
    trial = optuna.trial.FixedTrial(flat)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sampled = space.sample(trial)  # type: ignore[arg-type]  # FixedTrial is a BaseTrial too
        except ValueError as exc:
            raise ConfigError(f"the config cannot be sampled from this space: {exc}") from exc
    for warning in caught:
        raise ConfigError(f"out of the space: {warning.message}")
    if space.flatten(sampled) != flat:
        diff = [k for k, v in space.flatten(sampled).items() if flat.get(k) != v]
        raise ConfigError(
            f"the config differs from what the space allows at {diff} "
            f"(expected {[space.flatten(sampled)[k] for k in diff]}, got {[flat[k] for k in diff]}).",
            field=diff[0],
        )
    return dict(trial.params)
