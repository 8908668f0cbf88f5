"""Process environment variables set for a while, and MLflow's run links kept off the terminal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["environment_variable", "no_run_links"]


@contextlib.contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    """Sets ``name`` in this process's environment within, as it was after."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def no_run_links() -> contextlib.AbstractContextManager[None]:
    """Within, MLflow prints no "View run" links when a run ends on a tracking server (automl says where)."""
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT

    return environment_variable(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT.name, "true")
