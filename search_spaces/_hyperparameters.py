"""KerasTuner's ``hp`` object, sampled through Optuna: a ``build_model(hp)`` runs unchanged.

The same class has two bindings. In the driver, each ``hp.Int(...)`` call
suggests through an ``optuna.Trial`` (define-by-run, so the sampler sees the
loops and branches of the user's function as they unfold). In a trial's
worker, the values the driver sampled are fixed and handed back as the same
calls are made again. Names are KerasTuner's, flat (``units_0``); an inactive
conditional parameter returns ``None`` and has no value, as in KerasTuner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from search_spaces._errors import ConfigError

if TYPE_CHECKING:
    import optuna

__all__ = ["HyperParameters", "fixed_hyperparameters", "sampling_hyperparameters"]

_SAMPLINGS = ("linear", "log")
# KerasTuner's public HyperParameters names this class does not offer: each raises "not supported".
_UNSUPPORTED = (
    "name_scope",
    "merge",
    "copy",
    "get_config",
    "from_config",
    "ensure_active_values",
    "space",
    "to_proto",
    "from_proto",
)


@dataclasses.dataclass(frozen=True)
class _Definition:
    """One hyperparameter as the build function declared it; two calls of a name must agree."""

    kind: str  # "Int", "Float", "Choice", "Boolean", "Fixed"
    args: tuple[tuple[str, Any], ...]

    def __str__(self) -> str:
        return f"hp.{self.kind}({', '.join(f'{k}={v!r}' for k, v in self.args)})"

    def arg(self, key: str) -> Any:
        return dict(self.args)[key]


def _name_error(name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a hyperparameter's name must be a non-empty string, but got {name!r}.", field="hp")
    if "/" in name:  # Ray Tune nests a config's keys at '/'
        raise ConfigError(
            f"a hyperparameter's name cannot contain '/' (Ray Tune nests config keys there), but got {name!r}.",
            field=f"hp.{name}",
        )


def _number(name: str, key: str, value: Any, *, integer: bool) -> None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value):
        kind = "an int" if integer else "a finite number"
        raise ConfigError(f"{key} must be {kind}, but got {value!r}.", field=f"hp.{name}.{key}")


def _numeric(kind: str, name: str, min_value: Any, max_value: Any, step: Any, sampling: Any, default: Any) -> _Definition:
    """Checks an ``Int`` or ``Float`` as KerasTuner does (step and default included)."""
    integer = kind == "Int"
    for key, value in (("min_value", min_value), ("max_value", max_value)):
        _number(name, key, value, integer=integer)
    if min_value > max_value:
        raise ConfigError(
            f"`min_value <= max_value` must hold, but got ({min_value=}, {max_value=}).", field=f"hp.{name}"
        )
    sampling = "linear" if sampling is None else sampling.lower() if isinstance(sampling, str) else sampling
    if sampling not in _SAMPLINGS:
        hint = " (not supported: sampling='reverse_log')" if sampling == "reverse_log" else ""
        raise ConfigError(
            f"sampling must be one of {list(_SAMPLINGS)}, but got {sampling!r}{hint}.", field=f"hp.{name}.sampling"
        )
    if sampling == "log" and min_value <= 0:
        raise ConfigError(f"sampling='log' needs min_value > 0, but got {min_value=}.", field=f"hp.{name}")
    if step is not None:
        _number(name, "step", step, integer=integer)
        if step <= (1 if sampling == "log" else 0):
            need = "> 1 with sampling='log' (a factor)" if sampling == "log" else "> 0"
            raise ConfigError(f"step must be {need}, but got {step=}.", field=f"hp.{name}.step")
    if default is not None:
        _number(name, "default", default, integer=integer)
        if not min_value <= default <= max_value:
            raise ConfigError(
                f"the default must lie in [{min_value}, {max_value}], but got {default!r}.", field=f"hp.{name}.default"
            )
    if not integer:
        min_value, max_value = float(min_value), float(max_value)
        step = None if step is None else float(step)
        default = None if default is None else float(default)
    args = (("min_value", min_value), ("max_value", max_value), ("step", step), ("sampling", sampling))
    return _Definition(kind, (*args, ("default", default)))


def _choice(name: str, values: Any, ordered: Any, default: Any) -> _Definition:
    if not isinstance(values, (list, tuple)) or not values:
        raise ConfigError(f"values must be a non-empty list, but got {values!r}.", field=f"hp.{name}.values")
    types = {type(v) for v in values}
    if len(types) > 1 or not types <= {str, int, float, bool}:
        raise ConfigError(
            f"a Choice takes values of one type, int, float, str or bool, but got {list(values)!r}.",
            field=f"hp.{name}.values",
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"a Choice's values must differ, but got {list(values)!r}.", field=f"hp.{name}.values")
    numeric = isinstance(values[0], (int, float)) and not isinstance(values[0], bool)
    if ordered and not numeric:
        raise ConfigError(
            f"ordered=True needs numeric values, but got {list(values)!r}.", field=f"hp.{name}.ordered"
        )
    if default is not None and default not in values:
        raise ConfigError(
            f"the default must be one of {list(values)!r}, but got {default!r}.", field=f"hp.{name}.default"
        )
    ordered = numeric if ordered is None else bool(ordered)
    return _Definition("Choice", (("values", tuple(values)), ("ordered", ordered), ("default", default)))


def _log_grid(low: float, high: float, factor: float, integer: bool) -> list[Any]:
    """KerasTuner's values of a log scale with a step: ``low * factor**k`` up to ``high``."""
    values, value = [], low
    while value <= high * (1 + 1e-12):
        values.append(int(round(value)) if integer else float(value))
        value *= factor
    return values


def _grid_high(low: float, high: float, step: float) -> float:
    """The largest ``low + k * step`` not above ``high`` (Optuna needs ``step`` to divide the range)."""
    steps = int((Decimal(str(high)) - Decimal(str(low))) // Decimal(str(step)))
    return float(Decimal(str(low)) + steps * Decimal(str(step)))


def _suggest(trial: Any, name: str, definition: _Definition) -> Any:
    """Asks ``trial`` for the value of ``definition`` under ``name``."""
    kind = definition.kind
    if kind == "Choice":
        return trial.suggest_categorical(name, list(definition.arg("values")))
    if kind == "Boolean":
        return trial.suggest_categorical(name, [False, True])
    low, high = definition.arg("min_value"), definition.arg("max_value")
    step, log = definition.arg("step"), definition.arg("sampling") == "log"
    integer = kind == "Int"
    if log and step is not None:  # KerasTuner's multiplicative step: a fixed list of values
        return trial.suggest_categorical(name, _log_grid(low, high, step, integer))
    if integer:
        step = step or 1
        return int(trial.suggest_int(name, low, low + (high - low) // step * step, step=step, log=log))
    if step is not None:
        return float(trial.suggest_float(name, low, _grid_high(low, high, step), step=step))
    return float(trial.suggest_float(name, low, high, log=log))


class HyperParameters:
    """KerasTuner's ``hp``: what ``build_model(hp)`` calls to declare and read its hyperparameters.

    The methods have KerasTuner's names, arguments and meaning (bounds
    inclusive; ``step``; ``sampling="log"``; ``parent_name`` and
    ``parent_values``, or ``conditional_scope``, for conditional parameters,
    which return ``None`` while inactive). automl makes the object and
    passes it to your function: in the driver each call samples through
    Optuna, in the trial's worker it returns the value sampled for the trial.
    When KerasTuner is imported, the object is also a
    ``keras_tuner.HyperParameters``, so ``isinstance`` checks in your code hold.

    Attributes:
        values: Name → value of each active hyperparameter.

    Example:
        >>> def build_model(hp):
        ...     units = [hp.Int(f"units_{i}", 32, 256, step=32) for i in range(hp.Int("num_layers", 1, 3))]
        ...     return units
    """

    def __init__(self, choose: Callable[[str, _Definition], Any], values: Mapping[str, Any] | None = None) -> None:
        self._choose = choose
        self._definitions: dict[str, _Definition] = {}
        self._conditions: list[tuple[str, tuple[Any, ...]]] = []
        self.values: dict[str, Any] = dict(values or {})
        self._defined_active: dict[str, bool] = {}

    # Declaring ------------------------------------------------------------------

    def Int(  # noqa: N802 - KerasTuner's name
        self,
        name: str,
        min_value: int,
        max_value: int,
        step: int | None = None,
        sampling: str = "linear",
        default: int | None = None,
        parent_name: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> int | None:
        """An integer in ``[min_value, max_value]`` (both inclusive), on a grid of ``step`` when given.

        With ``sampling="log"`` values are drawn on a log scale, and ``step``
        is a factor (``Int("batch_size", 16, 128, step=2, sampling="log")``:
        16, 32, 64, 128). ``default`` (``min_value`` when unset) must lie in range.
        """
        _name_error(name)
        definition = _numeric("Int", name, min_value, max_value, step, sampling, default)
        return self._retrieve(name, definition, parent_name, parent_values)

    def Float(  # noqa: N802 - KerasTuner's name
        self,
        name: str,
        min_value: float,
        max_value: float,
        step: float | None = None,
        sampling: str = "linear",
        default: float | None = None,
        parent_name: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> float | None:
        """A real number in ``[min_value, max_value]`` (both inclusive); ``step`` and ``sampling`` as for `Int`."""
        _name_error(name)
        definition = _numeric("Float", name, min_value, max_value, step, sampling, default)
        return self._retrieve(name, definition, parent_name, parent_values)

    def Choice(  # noqa: N802 - KerasTuner's name
        self,
        name: str,
        values: Sequence[Any],
        ordered: bool | None = None,
        default: Any = None,
        parent_name: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> Any:
        """One of ``values`` (all int, all float, all str or all bool).

        ``ordered`` (default: whether the values are numbers) is accepted as
        in KerasTuner; Optuna samples the choice as a categorical either way.
        """
        _name_error(name)
        return self._retrieve(name, _choice(name, values, ordered, default), parent_name, parent_values)

    def Boolean(  # noqa: N802 - KerasTuner's name
        self,
        name: str,
        default: bool = False,
        parent_name: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> bool | None:
        """``True`` or ``False``."""
        _name_error(name)
        if not isinstance(default, bool):
            raise ConfigError(f"default must be True or False, but got {default!r}.", field=f"hp.{name}.default")
        return self._retrieve(name, _Definition("Boolean", (("default", default),)), parent_name, parent_values)

    def Fixed(  # noqa: N802 - KerasTuner's name
        self,
        name: str,
        value: Any,
        parent_name: str | None = None,
        parent_values: Sequence[Any] | None = None,
    ) -> Any:
        """A value that is not searched but recorded with the others (an int, float, str or bool)."""
        _name_error(name)
        if not isinstance(value, (int, float, str, bool)):
            raise ConfigError(
                f"a Fixed value must be an int, float, str or bool, but got {value!r}.", field=f"hp.{name}.value"
            )
        return self._retrieve(name, _Definition("Fixed", (("value", value),)), parent_name, parent_values)

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Sequence[Any] | Any) -> Iterator[None]:
        """Hyperparameters declared inside are active only while ``parent_name``'s value is in ``parent_values``.

        The code inside runs either way; an inactive hyperparameter returns
        ``None`` and gets no value.

        Raises:
            ConfigError: ``parent_name`` has not been declared before.
        """
        if parent_name not in self._definitions:
            raise ConfigError(
                f"conditional_scope names the parent {parent_name!r}, which is not declared before it; "
                f"declared: {list(self._definitions)}.",
                field=f"hp.{parent_name}",
            )
        values = tuple(parent_values) if isinstance(parent_values, (list, tuple)) else (parent_values,)
        self._conditions.append((parent_name, values))
        try:
            yield
        finally:
            self._conditions.pop()

    # Reading --------------------------------------------------------------------

    def get(self, name: str) -> Any:
        """The value of an active hyperparameter.

        Raises:
            ValueError: ``name`` is declared but inactive.
            KeyError: ``name`` is not a hyperparameter.
        """
        if name in self.values:
            return self.values[name]
        if name in self._definitions:
            raise ValueError(f"{name} is currently inactive.")
        raise KeyError(f"{name} does not exist.")

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def is_active(self, hyperparameter: str) -> bool:
        """Whether the hyperparameter named ``hyperparameter`` is declared and active."""
        if not isinstance(hyperparameter, str):
            raise ConfigError(
                f"not supported: hp.is_active of a HyperParameter object ({hyperparameter!r}); pass its name.",
                field="hp",
            )
        return self._defined_active.get(hyperparameter, False)

    def __repr__(self) -> str:
        return f"HyperParameters(values={self.values!r})"

    # Inside ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _maybe_scope(self, parent_name: str | None, parent_values: Any) -> Iterator[None]:
        if parent_name is None:
            yield
            return
        with self.conditional_scope(parent_name, parent_values):
            yield

    def _active(self) -> bool:
        return all(self.values.get(parent, _ABSENT) in values for parent, values in self._conditions)

    def _retrieve(self, name: str, definition: _Definition, parent_name: str | None, parent_values: Any) -> Any:
        with self._maybe_scope(parent_name, parent_values):
            if any(parent == name for parent, _ in self._conditions):
                raise ConfigError(
                    f"a conditional hyperparameter cannot have the name of its parent, {name!r}.", field=f"hp.{name}"
                )
            first = self._definitions.setdefault(name, definition)
            if first != definition:
                raise ConfigError(
                    f"hyperparameter {name!r} is declared twice with different definitions: {first} and "
                    f"{definition}; give each its own name.",
                    field=f"hp.{name}",
                )
            active = self._active()
            self._defined_active[name] = self._defined_active.get(name, False) or active
            if not active:
                return None  # as KerasTuner: code must not rely on an inactive value
            if name not in self.values:
                self.values[name] = self._choose(name, definition)
            return self.values[name]


class _Absent:
    """A parent with no value (inactive): no condition on it holds."""


_ABSENT = _Absent()


def _unsupported(method: str) -> Callable[..., Any]:
    def refuse(self: HyperParameters, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            f"not supported: hp.{method} (KerasTuner's HyperParameters has it; automl's hp offers Int, Float, "
            "Choice, Boolean, Fixed, conditional_scope, get, values and is_active).",
            field=f"hp.{method}",
        )

    refuse.__name__ = method
    return refuse


for _method in _UNSUPPORTED:
    _refuse = _unsupported(_method)
    # KerasTuner's `space` is a property: reading it is what is refused.
    setattr(HyperParameters, _method, property(_refuse) if _method == "space" else _refuse)


def _hp_class() -> type[HyperParameters]:
    """`HyperParameters`, or when KerasTuner is imported, a subclass that is also KerasTuner's.

    Only when the user's code imported KerasTuner: automl never imports it.
    Every public method of KerasTuner's class is overridden here (or refused),
    so none of its state is needed.
    """
    keras_tuner = sys.modules.get("keras_tuner")
    base = getattr(keras_tuner, "HyperParameters", None)
    if not isinstance(base, type):
        return HyperParameters
    cached = _KT_CLASSES.get(base)
    if cached is None:
        cached = type("HyperParameters", (HyperParameters, base), {"__module__": __name__})
        _KT_CLASSES[base] = cached
    return cached


# Made once per KerasTuner class: a cache of types, not of run state.
_KT_CLASSES: dict[type, type[HyperParameters]] = {}


def sampling_hyperparameters(trial: optuna.Trial) -> HyperParameters:
    """An ``hp`` whose every new active hyperparameter is suggested by ``trial`` (define-by-run)."""
    return _hp_class()(lambda name, definition: _suggest(trial, name, definition))


def fixed_hyperparameters(values: Mapping[str, Any]) -> HyperParameters:
    """An ``hp`` that hands back ``values`` (a trial's, as the driver sampled them).

    Raises (when the build function asks):
        ConfigError: An active hyperparameter that has no value among ``values``.
    """

    def known(name: str, definition: _Definition) -> Any:
        if definition.kind == "Fixed":
            return definition.arg("value")
        raise ConfigError(
            f"the build function declared {definition} named {name!r}, which has no value in this trial's "
            f"config {dict(values)!r}: it must declare the same hyperparameters whenever it gets the same values "
            "(no randomness or outside state deciding which).",
            field=f"hp.{name}",
        )

    return _hp_class()(known, values)
