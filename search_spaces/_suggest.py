"""'Did you mean ...?' suggestions for unknown names, and other tools' names for ours."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from search_spaces._foreign import foreign_hint

_P = ParamSpec("_P")
_R = TypeVar("_R")
_C = TypeVar("_C", bound=type)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Returns ``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.65)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_name(lead: str, name: Any, accepted: Sequence[str], context: str | None) -> str:
    """``"<lead> (did you mean 'x'?); accepted: [...]."``, or for another tool's name, our equivalent.

    A name another tool uses in ``context`` (a `search_spaces._foreign`
    table) gets the one equivalent instead of the closest spelling and the list.
    """
    foreign = foreign_hint(context, name) if context else ""
    if foreign:
        return f"{lead}{foreign}."
    return f"{lead}{did_you_mean(str(name), accepted)}; accepted: {list(accepted)}."


def check_fields(args: Mapping[str, Any], cls: Any, what: str, context: str | None = None) -> None:
    """Checks the keys of ``args`` against the fields of dataclass ``cls``.

    Raises:
        ConfigError: A key is not a field (with a suggestion, or the
            equivalent of another tool's name in ``context``), or a required
            field is missing. ``what`` names the object, e.g. "dense layer".
    """
    from search_spaces._errors import ConfigError

    fields = [f.name for f in dataclasses.fields(cls)]
    for key in args:
        if key not in fields:
            lead = f"unknown key {key!r} for the {what}"
            raise ConfigError(unknown_name(lead, key, fields, context), field=str(key))
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in args]
    if missing:
        raise ConfigError(f"the {what} needs {required}, but got {sorted(args)}.", field=missing[0])


def refuse_unknown_keywords(what: str, context: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Makes an unknown keyword argument a `ConfigError` that says what it is called here.

    Python's own ``TypeError`` ("unexpected keyword argument 'n_trials'")
    cannot say that ``num_trials`` is meant; this one names the equivalent
    of another tool's name, as an experiment file's key would.
    """

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        accepted = [
            name
            for name, p in inspect.signature(func).parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

        @functools.wraps(func)
        def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            from search_spaces._errors import ConfigError

            for key in kwargs:
                if key not in accepted:
                    lead = f"unknown keyword argument {key!r} for {what}"
                    raise ConfigError(unknown_name(lead, key, accepted, context), field=key)
            return func(*args, **kwargs)

        return checked

    return decorate


def refuse_unknown_init_keywords(context: str) -> Callable[[_C], _C]:
    """Class decorator: `refuse_unknown_keywords` on the class's ``__init__`` (a dataclass's too)."""

    def decorate(cls: _C) -> _C:
        check = refuse_unknown_keywords(cls.__name__, context)
        # Through vars() and setattr: mypy refuses reading or assigning a class's __init__.
        setattr(cls, "__init__", check(vars(cls)["__init__"]))  # noqa: B010
        return cls

    return decorate
