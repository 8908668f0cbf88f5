"""Loud checks that a dependency still has the private names automl's compat modules use.

Each dependency whose private names automl uses has one compat module
(``automl/execution/_ray_compat.py``, ``automl/execution/_optuna_compat.py``,
``automl/tracking/_mlflow_compat.py``, ``trainers/_keras_compat.py``) holding the
version range the test suite ran on (pyproject bounds the dependency to the
same range). The module checks each private name it uses before any trial
runs, with `require`: a release that renamed one fails at once, naming it,
instead of a run misbehaving later. It lives in the lowest package so that
both `trainers` and `automl` can use it.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import types
from collections.abc import Callable, Mapping

from search_spaces._errors import AutoMLError

__all__ = ["IncompatibleVersionError", "require", "sets_attribute", "takes"]

# What goes wrong while a check looks a name up: the name, or its module, is gone or changed.
_MISSING = (AttributeError, ImportError, TypeError, ValueError, OSError)


class IncompatibleVersionError(AutoMLError):
    """An installed dependency lacks a private name automl uses: a version outside the tested range.

    Attributes:
        distribution: The dependency's distribution name (``ray``).
        tested: The version range the suite ran on (``>=2.54,<2.61``).
        missing: The private name that is gone or changed, as the compat module uses it.
    """

    def __init__(self, distribution: str, tested: str, missing: str) -> None:
        self.distribution, self.tested, self.missing = distribution, tested, missing
        super().__init__(
            f"automl was tested with {distribution}{tested}; {distribution} {_installed(distribution)} "
            f"has no {missing} (a private name automl uses); install a tested version with "
            f"`pip install '{distribution}{tested}'`."
        )


def _installed(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


def require(distribution: str, tested: str, checks: Mapping[str, Callable[[], object]]) -> None:
    """Raises unless every check holds.

    Args:
        distribution: The dependency's distribution name.
        tested: The version range the suite ran on.
        checks: What is used (``TuneController._remove_actor(tracked_actor)``) -> a function
            returning whether it is there with that shape; a lookup error counts as "no".

    Raises:
        IncompatibleVersionError: Naming the first check that does not hold.
    """
    for missing, holds in checks.items():
        try:
            ok = bool(holds())
        except _MISSING:
            ok = False
        if not ok:
            raise IncompatibleVersionError(distribution, tested, missing)


def takes(function: Callable[..., object], *params: str) -> bool:
    """Whether ``function`` is callable with parameters of these names."""
    return callable(function) and set(params) <= set(inspect.signature(function).parameters)


def sets_attribute(cls: type, name: str) -> bool:
    """Whether ``cls``'s own methods use the attribute ``name`` (an instance attribute they set).

    Read from the methods' compiled code (the names their bytecode uses), not
    their source: parsing a large class's source at every start cost the run
    about a second.
    """
    code = [f.__code__ for f in vars(cls).values() if isinstance(f, types.FunctionType)]
    while code:
        each = code.pop()
        if name in each.co_names:
            return True
        code.extend(c for c in each.co_consts if isinstance(c, types.CodeType))
    return False
