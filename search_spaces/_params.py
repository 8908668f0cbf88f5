"""Parameters: the leaves of a search space.

Each parameter is an immutable value object. It samples itself through an
``optuna.Trial`` (define-by-run), knows its default, and round-trips through a
plain dict (``to_dict`` / ``parameter_from_dict``) so spaces can live in YAML.
Bounds are inclusive.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from search_spaces._checks import is_int, is_real
from search_spaces._conditions import When, normalize_when, when_to_dict
from search_spaces._errors import ConfigError
from search_spaces._foreign import foreign_hint, foreign_value_hint
from search_spaces._suggest import check_fields, refuse_unknown_init_keywords

if TYPE_CHECKING:
    import optuna

__all__ = [
    "Boolean",
    "Categorical",
    "Fixed",
    "Float",
    "Int",
    "Parameter",
    "parameter_from_dict",
]

# Values a categorical choice or a fixed value may take: they must survive JSON,
# YAML and optuna's storage unchanged.
_SCALARS = (str, int, float, bool, type(None))


def _not_a_scalar(rule: str, value: Any, field: str) -> ConfigError:
    """The error for a value the space cannot hold, with the equivalent of another tool's object."""
    foreign = foreign_value_hint(value)
    if foreign is None:
        return ConfigError(f"{rule}, but got {value!r}.", field=field)
    what, fix = foreign
    return ConfigError(f"{rule}, but got {what}; {fix}.", field=field)


def _check_number(name: str, value: Any, *, integer: bool = False) -> None:
    if not (is_int(value, plain=True) if integer else is_real(value, plain=True)):
        expected = "an int" if integer else "a number"
        raise ConfigError(f"expected {expected}, but got {value!r}.", field=name)
    if not math.isfinite(value):
        raise ConfigError(f"expected a finite number, but got {value!r}.", field=name)


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if not isinstance(log, bool):
        raise ConfigError(f"expected true or false, but got {log!r}.", field="log")
    if low > high:
        raise ConfigError(f"`low <= high` must hold, but got ({low=}, {high=}).", field="low")
    if log and low <= 0:
        raise ConfigError(f"a log scale needs `low > 0`, but got {low=}.", field="low")
    if step is None:
        return
    if log:
        raise ConfigError(
            f"`step` and `log=True` cannot be combined, but got ({step=}, {log=}).", field="step"
        )
    if step <= 0:
        raise ConfigError(f"`step` must be > 0, but got {step=}.", field="step")
    n_steps = (high - low) / step
    if not math.isclose(n_steps, round(n_steps), rel_tol=0, abs_tol=1e-8):
        raise ConfigError(
            f"`step` must divide `high - low`, but got ({low=}, {high=}, {step=}).", field="step"
        )


def _check_default(default: Any, low: float, high: float) -> None:
    if default is not None and not low <= default <= high:
        raise ConfigError(
            f"the default must lie in [low, high] = [{low}, {high}], but got {default!r}.",
            field="default",
        )


def _non_default_fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if field.name == "when":
            if value is not None:
                out["when"] = when_to_dict(value)
        elif field.default is dataclasses.MISSING or value != field.default:
            out[field.name] = list(value) if isinstance(value, tuple) else value
    return out


class _Base:
    kind: ClassVar[str]
    when: When | None

    def _normalize_when(self) -> None:
        object.__setattr__(self, "when", normalize_when(self.when))

    def to_dict(self) -> dict[str, Any]:
        """Returns the parameter as plain data; `parameter_from_dict` inverts it."""
        return {"type": self.kind, **_non_default_fields(self)}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in _non_default_fields(self).items())
        return f"{type(self).__name__}({args})"


@refuse_unknown_init_keywords("parameter")  # KerasTuner's sampling="log" gets log=True
@dataclasses.dataclass(frozen=True, repr=False)
class Float(_Base):
    """A real number in ``[low, high]`` (both inclusive).

    Args:
        low: Lower bound, inclusive.
        high: Upper bound, inclusive.
        log: Sample on a log scale (needs ``low > 0``). Defaults to `False`.
        step: Sample only ``low + k * step``; must divide ``high - low`` and
            cannot be combined with ``log``. Defaults to `None`.
        default: Value used by the defaults config. Defaults to the midpoint
            (geometric midpoint when ``log``).
        when: Condition on earlier entries, e.g. ``{"optimizer": "sgd"}``:
            the parameter exists (is sampled) only then, else its value is
            ``None``. Defaults to `None` (always).

    Examples:
        >>> Float(1e-4, 1e-2, log=True).default_value()
        0.001
    """

    kind: ClassVar[str] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None
    default: float | None = None
    when: Any = None

    def __post_init__(self) -> None:
        self._normalize_when()
        _check_number("low", self.low)
        _check_number("high", self.high)
        if self.step is not None:
            _check_number("step", self.step)
        if self.default is not None:
            _check_number("default", self.default)
        _check_range(self.low, self.high, self.log, self.step)
        _check_default(self.default, self.low, self.high)

    def sample(self, trial: optuna.Trial, name: str) -> float:
        # optuna may hand back a numpy float; configs are plain Python data.
        return float(trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step))

    def default_value(self) -> float:
        if self.default is not None:
            return float(self.default)
        if self.log:
            return float(round(math.sqrt(self.low * self.high), 12))
        mid = (self.low + self.high) / 2
        if self.step is not None:
            mid = self.low + round((mid - self.low) / self.step) * self.step
        return float(mid)


@refuse_unknown_init_keywords("parameter")  # KerasTuner's sampling="log" gets log=True
@dataclasses.dataclass(frozen=True, repr=False)
class Int(_Base):
    """An integer in ``[low, high]`` (both inclusive).

    Args:
        low: Lower bound, inclusive.
        high: Upper bound, inclusive.
        log: Sample on a log scale (needs ``low > 0``). Defaults to `False`.
        step: Sample only ``low + k * step``; must divide ``high - low``.
            Defaults to `1`.
        default: Value used by the defaults config. Defaults to the
            midpoint (geometric midpoint when ``log``), rounded onto the grid.
        when: Condition on earlier entries, e.g. ``{"optimizer": "sgd"}``:
            the parameter exists (is sampled) only then, else its value is
            ``None``. Defaults to `None` (always).

    Examples:
        >>> Int(16, 256, log=True).default_value()
        64
    """

    kind: ClassVar[str] = "int"
    low: int
    high: int
    log: bool = False
    step: int = 1
    default: int | None = None
    when: Any = None

    def __post_init__(self) -> None:
        self._normalize_when()
        _check_number("low", self.low, integer=True)
        _check_number("high", self.high, integer=True)
        _check_number("step", self.step, integer=True)
        if self.default is not None:
            _check_number("default", self.default, integer=True)
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step)
        _check_default(self.default, self.low, self.high)

    def sample(self, trial: optuna.Trial, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step))

    def default_value(self) -> int:
        if self.default is not None:
            return self.default
        mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return self.low + round((mid - self.low) / self.step) * self.step


@refuse_unknown_init_keywords("parameter")  # KerasTuner's values=[...] gets choices
@dataclasses.dataclass(frozen=True, repr=False)
class Categorical(_Base):
    """One of a fixed list of choices (str, int, float, bool or None).

    Args:
        choices: The values to choose from; at least one, no duplicates.
        default: Value used by the defaults config. Defaults to the first choice.
        when: Condition on earlier entries, e.g. ``{"optimizer": "sgd"}``:
            the parameter exists (is sampled) only then, else its value is
            ``None``. Defaults to `None` (always).

    Examples:
        >>> Categorical(["adam", "sgd"]).default_value()
        'adam'
    """

    kind: ClassVar[str] = "categorical"
    choices: Sequence[Any]
    default: Any = None
    when: Any = None

    def __post_init__(self) -> None:
        self._normalize_when()
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise ConfigError(f"expected a list of choices, but got {self.choices!r}.", field="choices")
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ConfigError("needs at least one choice, but got an empty list.", field="choices")
        for choice in self.choices:
            if not isinstance(choice, _SCALARS):
                raise _not_a_scalar("choices must be str, int, float, bool or None", choice, "choices")
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ConfigError(f"choices must be unique, but got {list(self.choices)!r}.", field="choices")
        if self.default is not None and self.default not in self.choices:
            raise ConfigError(
                f"the default must be one of {list(self.choices)!r}, but got {self.default!r}.",
                field="default",
            )

    def sample(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, self.choices)

    def default_value(self) -> Any:
        return self.default if self.default is not None else self.choices[0]


@dataclasses.dataclass(frozen=True, repr=False)
class Boolean(_Base):
    """True or False.

    Args:
        default: Value used by the defaults config. Defaults to `False`.
        when: Condition on earlier entries, e.g. ``{"optimizer": "sgd"}``:
            the parameter exists (is sampled) only then, else its value is
            ``None``. Defaults to `None` (always).
    """

    kind: ClassVar[str] = "boolean"
    default: bool = False
    when: Any = None

    def __post_init__(self) -> None:
        self._normalize_when()
        if not isinstance(self.default, bool):
            raise ConfigError(f"expected true or false, but got {self.default!r}.", field="default")

    def sample(self, trial: optuna.Trial, name: str) -> bool:
        return bool(trial.suggest_categorical(name, (False, True)))

    def default_value(self) -> bool:
        return self.default


@dataclasses.dataclass(frozen=True, repr=False)
class Fixed(_Base):
    """A value that is not searched: it appears in every config unchanged.

    Args:
        value: A str, int, float, bool or None.
        when: Condition on earlier entries, e.g. ``{"optimizer": "sgd"}``:
            the parameter exists (is sampled) only then, else its value is
            ``None``. Defaults to `None` (always).
    """

    kind: ClassVar[str] = "fixed"
    value: Any
    when: Any = None

    def __post_init__(self) -> None:
        self._normalize_when()
        if not isinstance(self.value, _SCALARS):
            raise _not_a_scalar("expected a str, int, float, bool or None", self.value, "value")
        if isinstance(self.value, float) and not math.isfinite(self.value):
            raise ConfigError(f"expected a finite number, but got {self.value!r}.", field="value")

    def sample(self, trial: optuna.Trial, name: str) -> Any:
        return self.value

    def default_value(self) -> Any:
        return self.value


Parameter = Float | Int | Categorical | Boolean | Fixed

_KINDS: dict[str, type[_Base]] = {cls.kind: cls for cls in (Float, Int, Categorical, Boolean, Fixed)}


def as_parameter(value: Any) -> Parameter:
    """Returns ``value`` if it is a parameter, else wraps a plain value in `Fixed`."""
    if isinstance(value, (Float, Int, Categorical, Boolean, Fixed)):
        return value
    return Fixed(value)


def parameter_from_dict(data: Any) -> Parameter:
    """Builds a parameter from its dict form, or a plain value as `Fixed`.

    Raises:
        ConfigError: The type is unknown, a key is unknown or a value is invalid.
    """
    if not isinstance(data, Mapping):
        return Fixed(data)
    kind = data.get("type")
    if kind is None and list(data) == ["grid_search"]:
        return Fixed(data)  # refused with the equivalent spelled out
    if not isinstance(kind, str) or kind not in _KINDS:
        raise ConfigError(
            f"unknown parameter type {kind!r}; accepted: {sorted(_KINDS)}{foreign_hint('parameter type', kind)}.",
            field="type",
        )
    args = {k: v for k, v in data.items() if k != "type"}
    check_fields(args, _KINDS[kind], f"{kind} parameter", "parameter")
    return _KINDS[kind](**args)  # type: ignore[return-value]
