"""Conditions: a parameter that exists only when earlier ones have given values.

``when={"optimizer": "sgd"}`` makes a parameter active only for SGD;
``when={"pool": ["max", "average"]}`` accepts any of several values, and
``when={"num_layers": [2, 3, 4]}`` some values of an `Int` entry. An
inactive parameter is not sampled (so TPE sees the real structure) and its
value in the config is ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from search_spaces._checks import is_int
from search_spaces._errors import ConfigError
from search_spaces._suggest import did_you_mean

__all__ = ["When", "check_references", "is_active", "normalize_when", "when_to_dict"]

# ((name, (accepted values, ...)), ...): hashable, so parameters stay value objects.
When = tuple[tuple[str, tuple[Any, ...]], ...]

_SCALARS = (str, int, float, bool, type(None))


def normalize_when(when: Any) -> When | None:
    """Turns ``{"name": value or [values]}`` into the canonical `When` (or ``None``).

    Raises:
        ConfigError: ``when`` is not a non-empty mapping of names to scalars
            or non-empty lists of scalars.
    """
    if when is None:
        return None
    if isinstance(when, tuple) and all(isinstance(item, tuple) and len(item) == 2 for item in when):
        when = {name: list(values) for name, values in when}
    if not isinstance(when, Mapping) or not when:
        raise ConfigError(
            f"expected a mapping such as {{'optimizer': 'sgd'}}, but got {when!r}.", field="when"
        )
    out = []
    for name, values in when.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"expected the name of an earlier entry, but got {name!r}.", field="when")
        values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not values or not all(isinstance(v, _SCALARS) for v in values):
            raise ConfigError(
                f"expected a value or a non-empty list of str, int, float, bool or None, but got {values!r}.",
                field=f"when.{name}",
            )
        out.append((name, values))
    return tuple(out)


def when_to_dict(when: When) -> dict[str, Any]:
    return {name: values[0] if len(values) == 1 else list(values) for name, values in when}


def is_active(when: When | None, sampled: Mapping[str, Any]) -> bool:
    """Whether a parameter with condition ``when`` exists, given the values sampled so far."""
    return when is None or all(sampled.get(name) in values for name, values in when)


def check_references(
    when: When | None, earlier: Mapping[str, Any], scope: str, *, ints: bool = False
) -> None:
    """Checks that ``when`` names earlier entries and values they can take.

    Args:
        when: The condition.
        earlier: Name → parameter of the entries sampled before this one.
        scope: What the names refer to, for messages ("space entry", "conv2d argument").
        ints: Whether an `Int` may be referred to by its values. A space's
            entries may (``{"num_layers": [2, 3]}``); a layer's arguments
            may not, since a stack can scale or share them. Defaults to `False`.

    Raises:
        ConfigError: A name is unknown or comes later, or a value is one the
            referenced parameter can never take.
    """
    if when is None:
        return
    for name, values in when:
        if name not in earlier:
            raise ConfigError(
                f"refers to {name!r}, which is not an earlier {scope}{did_you_mean(name, earlier)}; "
                f"a condition can refer to {list(earlier)} (entries are sampled in order).",
                field=f"when.{name}",
            )
        param = earlier[name]
        if ints and getattr(param, "kind", None) == "int":
            _check_int_values(name, values, param)
            continue
        possible = _possible_values(param)
        if possible is None:
            raise ConfigError(_not_referable(name, param, scope, ints=ints), field=f"when.{name}")
        never = [v for v in values if v not in possible]
        if never:
            raise ConfigError(
                f"{name!r} can never be {never[0]!r}; it takes one of {list(possible)}.",
                field=f"when.{name}",
            )


def _not_referable(name: str, param: Any, scope: str, *, ints: bool) -> str:
    if not ints:
        return f"can only refer to a categorical, boolean or fixed {scope}, but {name!r} is {param!r}."
    return (
        f"can only refer to a categorical, boolean or fixed {scope}, or an Int one, but {name!r} is "
        f"{param!r}; a sampled float almost never equals a given value: make {name!r} a Categorical "
        "of the values the condition needs."
    )


def _check_int_values(name: str, values: tuple[Any, ...], param: Any) -> None:
    """An Int entry is referred to by some of its values (``{"num_layers": [2, 3]}``)."""
    step = param.step
    grid = f"the ints of [{param.low}, {param.high}]" + (f" in steps of {step}" if step != 1 else "")
    for value in values:
        if not is_int(value, plain=True):
            raise ConfigError(
                f"{name!r} is an Int, so a condition lists ints, but got {value!r}.", field=f"when.{name}"
            )
        if not param.low <= value <= param.high or (value - param.low) % step:
            raise ConfigError(f"{name!r} can never be {value!r}; it takes {grid}.", field=f"when.{name}")


def _possible_values(param: Any) -> tuple[Any, ...] | None:
    kind = getattr(param, "kind", None)
    if kind == "categorical":
        return tuple(param.choices)
    if kind == "boolean":
        return (False, True)
    if kind == "fixed":
        return (param.value,)
    return None
