"""'Did you mean ...?' suggestions for unknown names."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from typing import Any


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Returns ``" (did you mean 'x'?)"`` for the closest known name, or ``""``."""
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.65)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_fields(args: Mapping[str, Any], cls: Any, what: str) -> None:
    """Checks the keys of ``args`` against the fields of dataclass ``cls``.

    Raises:
        ConfigError: A key is not a field (with a suggestion), or a required
            field is missing. ``what`` names the object, e.g. "dense layer".
    """
    from search_spaces._errors import ConfigError

    fields = [f.name for f in dataclasses.fields(cls)]
    for key in args:
        if key not in fields:
            raise ConfigError(
                f"unknown key {key!r} for the {what}{did_you_mean(str(key), fields)}; accepted: {fields}.",
                field=str(key),
            )
    required = [
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if name not in args]
    if missing:
        raise ConfigError(f"the {what} needs {required}, but got {sorted(args)}.", field=missing[0])
