"""A trial's name (``trial-001``, as its MLflow run is named), kept in its directory for the worker and the CLI.

The driver numbers trials as they start (`automl.tracking._trials.Trials`);
the trial's own code runs in a worker, after Ray's ``on_trial_start``
callbacks, and reads the name from the file the driver wrote there. The
event files a trial writes (`tensorboard=True`) live beside it.
"""

from __future__ import annotations

from pathlib import Path

from automl._result import TRIAL_DIR_PREFIX

__all__ = [
    "TENSORBOARD_DIR",
    "TRIAL_NAME_FILE",
    "read_trial_name",
    "trial_names",
    "trial_run_name",
    "write_trial_name",
]

TRIAL_NAME_FILE = "trial_name.txt"  # in <run_dir>/trial_<id>/: the trial's MLflow run name
TENSORBOARD_DIR = "tensorboard"  # in <run_dir>/trial_<id>/: the event files of `tensorboard=True`


def trial_run_name(number: int) -> str:
    """The name of the trial numbered ``number`` (1-based): its MLflow run's, its TensorBoard run's."""
    return f"trial-{number:03d}"


def write_trial_name(trial_dir: str | Path, number: int) -> None:
    """Writes the trial's name into its directory (made if missing)."""
    directory = Path(trial_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / TRIAL_NAME_FILE).write_text(trial_run_name(number) + "\n")


def read_trial_name(trial_dir: str | Path) -> str | None:
    """The name `write_trial_name` wrote into ``trial_dir``, or `None` when there is none."""
    try:
        return (Path(trial_dir) / TRIAL_NAME_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def trial_names(run_dir: str | Path) -> dict[str, Path]:
    """The named trials of a run: name → the trial's directory, in name order."""
    found = {}
    for trial_dir in Path(run_dir).glob(f"{TRIAL_DIR_PREFIX}*"):
        name = read_trial_name(trial_dir) if trial_dir.is_dir() else None
        if name is not None:
            found[name] = trial_dir
    return dict(sorted(found.items()))
