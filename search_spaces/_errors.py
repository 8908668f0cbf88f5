"""The project's exception tree.

It lives in the lowest package so that every layer can raise it; `automl`
re-exports it. Bad input raises `ConfigError` (a `ValueError`), which names the
field's path, the value given and what is accepted.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

__all__ = ["AutoMLError", "ConfigError", "located"]


class AutoMLError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(AutoMLError, ValueError):
    """Bad input: a space, a config, data or a setting that cannot be used.

    Attributes:
        field: Dotted path of the offending field (``space.layers.units.low``),
            or ``None`` when the error is about the object as a whole.
        reason: The message without the path.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        reason = _LONG_TOKEN.sub(_shorten, reason)
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)

    def at(self, prefix: str) -> ConfigError:
        """Returns the same error with ``prefix`` put in front of its field path."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return ConfigError(self.reason, field=field)


# A message quotes the value given; a huge one (a 1 MB string, a list nested
# 500 deep) is cut in the middle so the message stays readable.
_LONG_TOKEN = re.compile(r"\S{200,}")


def _shorten(match: re.Match[str]) -> str:
    token = match.group(0)
    return f"{token[:80]}...({len(token) - 110} characters)...{token[-30:]}"


@contextlib.contextmanager
def located(prefix: str) -> Iterator[None]:
    """Prefixes the path of any `ConfigError` raised inside the block."""
    try:
        yield
    except ConfigError as exc:
        raise exc.at(prefix) from exc
