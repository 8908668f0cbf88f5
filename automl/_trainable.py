"""The function Ray Tune runs in each worker: one trial of `trainers.train`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ray
from ray import tune

from search_spaces import Space
from trainers import FitSettings, TrainingData

__all__ = ["run_trial"]


class _RayReporter:
    """Hands each epoch to Ray Tune, with a checkpoint when a new best model was saved."""

    def report(self, metrics: Mapping[str, float], *, epoch: int, checkpoint: Path | None) -> None:
        result = {**metrics, "epoch": epoch}
        ray_checkpoint = tune.Checkpoint.from_directory(checkpoint) if checkpoint else None
        tune.report(result, checkpoint=ray_checkpoint)


def run_trial(
    flat_config: Mapping[str, Any],
    *,
    space: Space,
    data: TrainingData,
    settings: FitSettings,
    callbacks: Sequence[Any] = (),
) -> None:
    """Runs one trial inside a (possibly reused) Ray worker.

    ``data`` arrives through Ray's object store (`tune.with_parameters`), so it
    is shipped once per run, not once per trial.
    """
    from trainers import configure_threads, train  # TensorFlow: once per worker process

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    configure_threads(int(cpus))
    config = space.unflatten(flat_config)
    workdir = Path(tempfile.mkdtemp(prefix="automl-trial-"))
    try:
        # tune.report copies each checkpoint into the run's storage, so the
        # local copy is scratch.
        train(
            config,
            data,
            settings=settings,
            checkpoint_dir=workdir,
            reporter=_RayReporter(),
            callbacks=callbacks,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
