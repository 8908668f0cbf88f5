"""TensorBoard over a run's trials (`automl tensorboard`), and the package it needs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from automl._result import read_manifest
from automl._trial_names import TENSORBOARD_DIR, trial_names
from search_spaces import ConfigError

__all__ = ["INSTALL_TENSORBOARD", "logdir_spec", "require_tensorboard", "tensorboard_command"]

INSTALL_TENSORBOARD = "pip install 'keras-automl[tensorboard]'"


def require_tensorboard(*, field: str) -> None:
    """Raises unless the ``tensorboard`` package is installed: it writes ``tf.summary`` scalars and serves them.

    Raises:
        ConfigError: It is not installed; the message says what to install.
    """
    try:
        importlib.import_module("tensorboard")
    except ImportError as exc:
        raise ConfigError(
            "TensorBoard's event files are written and served by the `tensorboard` package, which is "
            f"not installed; install it with {INSTALL_TENSORBOARD} (or pip install tensorboard).",
            field=field,
        ) from exc


def logdir_spec(run_dir: Path) -> str:
    """TensorBoard's ``--logdir_spec`` for a run: each started trial's event files, named as its MLflow run.

    Raises:
        ConfigError: ``run_dir`` is not a run directory, its trials write no
            event files (``tensorboard`` was off), or none has started yet.
    """
    manifest = read_manifest(run_dir)
    if not isinstance(manifest, dict) or not manifest.get("tensorboard"):
        raise ConfigError(
            f"the trials of {run_dir} wrote no TensorBoard event files: tune with tensorboard=True "
            "(`tensorboard: true` in an experiment file) to have them.",
            field="run_dir",
        )
    names = trial_names(run_dir)
    if not names:
        raise ConfigError(f"no trial of {run_dir} has started yet; try again once one has.", field="run_dir")
    entries = []
    for name, trial_dir in names.items():
        events = str((trial_dir / TENSORBOARD_DIR).resolve())
        if "," in events:  # the spec's separator
            raise ConfigError(
                f"TensorBoard cannot read a log directory whose path holds a comma, but got {events!r}; "
                "move the run to a path without one.",
                field="run_dir",
            )
        entries.append(f"{name}:{events}")
    return ",".join(entries)


def tensorboard_command(run_dir: Path, *, host: str, port: int) -> list[str]:
    """The command that serves TensorBoard over ``run_dir``'s trials on ``host:port``.

    Raises:
        ConfigError: As `logdir_spec`, or ``tensorboard`` is not installed.
    """
    spec = logdir_spec(run_dir)
    require_tensorboard(field="tensorboard")
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir_spec",
        spec,
        "--host",
        host,
        "--port",
        str(port),
    ]
