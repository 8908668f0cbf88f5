"""What a compat module says when the installed dependency lacks a private name it uses."""

from __future__ import annotations

import importlib.metadata
import re


def missing_name(distribution: str, tested: str, missing: str) -> str:
    """The start of the error's message, as a regex for `pytest.raises(match=...)`."""
    version = importlib.metadata.version(distribution)
    return re.escape(
        f"automl was tested with {distribution}{tested}; {distribution} {version} has no {missing} "
    )
