"""Type checks written once: an int is not a bool (``True`` is an int to Python, not to a user)."""

from __future__ import annotations

import math
import numbers
from typing import Any

from search_spaces._errors import ConfigError

__all__ = ["check_int", "is_int", "is_number", "is_real"]


def is_int(value: Any, *, plain: bool = False) -> bool:
    """Whether ``value`` is an int and not a bool.

    Args:
        value: Any value.
        plain: Only Python's `int` (a value a space stores, which must go to
            JSON), not NumPy's. Defaults to `False`.
    """
    kinds = int if plain else numbers.Integral
    return isinstance(value, kinds) and not isinstance(value, bool)


def is_real(value: Any, *, plain: bool = False) -> bool:
    """Whether ``value`` is an int or a float (infinite and NaN included) and not a bool."""
    kinds = (int, float) if plain else numbers.Real
    return isinstance(value, kinds) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float and not a bool."""
    return is_real(value) and math.isfinite(value)


def check_int(
    value: Any,
    field: str,
    *,
    low: int = 0,
    high: int | None = None,
    accepted: str | None = None,
    plain: bool = False,
) -> None:
    """Raises `ConfigError` at ``field`` unless ``value`` is an int (not a bool) in [low, high).

    The message says what is accepted (``accepted``, else ``"an int >= <low>"``)
    and the value given; ``plain`` as in `is_int`.
    """
    if is_int(value, plain=plain) and value >= low and (high is None or value < high):
        return
    raise ConfigError(f"expected {accepted or f'an int >= {low}'}, but got {value!r}.", field=field)
