"""The function Ray Tune runs in each worker: one trial of `trainers.train`."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
from ray import tune

from automl._result import TRIAL_DIR_PREFIX
from automl.execution._flavor_info import example_rows
from automl.execution._scratch import scratch_dir, worker_cache_dir
from automl.execution._tensorboard import trial_tensorboard
from automl.execution._workers import RSS_KEY, worker_rss_mib
from search_spaces import Space
from search_spaces._hypermodel import HyperModelSpace
from trainers import FitSettings, StreamingData, TrainingData
from trainers._checkpoint import BEST_FILE, LAST_FILE, STATE_FILE

__all__ = ["KeepNewestCheckpoints", "restore_missing_checkpoints", "run_trial", "trial_seed"]

_CHECKPOINT_FILES = (BEST_FILE, LAST_FILE, STATE_FILE)
_LOCAL = pyarrow.fs.LocalFileSystem()


class _RayReporter:
    """Hands each epoch to Ray Tune with the trial's checkpoint directory."""

    def __init__(self) -> None:
        # Which node ran the trial: node IPs coincide when several nodes share a machine.
        self._node_id = ray.get_runtime_context().get_node_id()

    def report(
        self, metrics: Mapping[str, float], *, epoch: int, checkpoint: Path | None, last: bool
    ) -> None:
        result = {
            **metrics,
            "epoch": epoch,
            "node_id": self._node_id,
            "trial_finished": last,
            RSS_KEY: worker_rss_mib(),  # what the driver's worker-recycling policy reads
        }
        ray_checkpoint = tune.Checkpoint.from_directory(checkpoint) if checkpoint else None
        tune.report(result, checkpoint=ray_checkpoint)


def _complete(fs: pyarrow.fs.FileSystem, directory: str) -> bool:
    infos = fs.get_file_info([posixpath.join(directory, name) for name in _CHECKPOINT_FILES])
    return all(info.type == pyarrow.fs.FileType.File for info in infos)


def _usable_checkpoint(checkpoint: tune.Checkpoint) -> tune.Checkpoint | None:
    """The checkpoint Ray restored, or the newest complete one beside it.

    Old checkpoints are deleted as new ones come (`KeepNewestCheckpoints`)
    before Ray's next experiment-state snapshot names the newer one, so a
    driver killed in between restores a name whose directory is gone. The
    newer checkpoint is then still in the trial's directory: continue from it.
    """
    fs = checkpoint.filesystem or _LOCAL
    if _complete(fs, checkpoint.path):
        return checkpoint
    for path in reversed(_checkpoint_dirs(fs, posixpath.dirname(checkpoint.path))):
        if _complete(fs, path):
            return tune.Checkpoint(path, filesystem=fs)
    return None


class KeepNewestCheckpoints(tune.Callback):
    """Deletes a trial's older checkpoints as it reports new ones: the newest ``keep`` stay.

    Ray can do this itself (``CheckpointConfig(num_to_keep=n)``), but then it
    snapshots the whole experiment state, the searcher's full history
    included, after every n checkpoints, so that no snapshot names a deleted
    one. That snapshot grows with the trial count: a checkpoint per epoch made
    long runs quadratic. Here Ray snapshots on its own clock; a snapshot naming a deleted
    checkpoint is mended on resume (`restore_missing_checkpoints`), and a
    restarted trial takes the newest complete one (`_usable_checkpoint`).
    Two are kept, so the one the driver registered last is never the one deleted.

    Args:
        keep: Checkpoints kept per trial. Defaults to `2`.
    """

    def __init__(self, keep: int = 2) -> None:
        self.keep = keep

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        fs = checkpoint.filesystem or _LOCAL
        for old in _checkpoint_dirs(fs, posixpath.dirname(checkpoint.path))[: -self.keep]:
            fs.delete_dir(old)


def _checkpoint_dirs(fs: pyarrow.fs.FileSystem, trial_dir: str) -> list[str]:
    """A trial's checkpoint directories, oldest first (Ray numbers them checkpoint_000000, ...)."""
    infos = fs.get_file_info(pyarrow.fs.FileSelector(trial_dir))
    return sorted(
        info.path
        for info in infos
        if info.type == pyarrow.fs.FileType.Directory
        and posixpath.basename(info.path).startswith("checkpoint_")
    )


def restore_missing_checkpoints(run_dir: Path) -> list[Path]:
    """Puts back the checkpoint each trial would restore from if it is gone; returns those it made.

    Ray's experiment-state snapshot lists the checkpoints of each trial; a
    restored trial continues from its newest (the highest number). Old ones
    are deleted as newer ones come (`KeepNewestCheckpoints`), but Ray writes
    which one is newest only at its next snapshot: a driver killed in between
    leaves a snapshot whose newest name is a deleted directory, and Ray's
    restore then fails the trial ("Could not recover from checkpoint as it
    does not exist on storage anymore") before the trial's own code can fall
    back. That name gets a copy of the trial's newest complete checkpoint, so
    the trial goes on from there (redoing the fewest epochs). Ray's snapshot
    is read by `checkpoints_named_in_state`.
    """
    # Here, not at the top: trial workers import this module, and need none of Ray Tune's driver side.
    from automl.execution._ray_compat import checkpoints_named_in_state

    made = []
    for trial, name in checkpoints_named_in_state(run_dir).items():
        trial_dir = run_dir / trial
        target = trial_dir / name
        if not trial_dir.is_dir() or target.exists():
            continue
        newest = sorted(p for p in trial_dir.glob("checkpoint_*") if _complete(_LOCAL, str(p)))
        if newest:
            shutil.copytree(newest[-1], target)
            made.append(target)
    return made


def trial_seed(seed: int, flat_config: Mapping[str, Any]) -> int:
    """The fit seed of a trial: from the run's seed and the trial's config, in [0, 2**32).

    Not from the trial's number or start order, which vary when trials run
    concurrently: the same config trains the same way whenever it starts.
    """
    text = json.dumps([seed, sorted(flat_config.items())], default=str)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


@contextlib.contextmanager
def in_trial_dir(run_dir: Path) -> Iterator[Path]:
    """Runs the block in the trial's directory of the run (``<run_dir>/trial_<id>``, given), then goes back.

    Relative paths of the user's callbacks (``CSVLogger("epochs.csv")``,
    ``TensorBoard("tb")``) then land beside the trial's checkpoints, where
    the driver attaches them to the trial's MLflow run, rather than in
    Ray's per-session working directory. The run names its trials'
    directories (`automl.execution._tuner._trial_dirname`); Ray makes one at the
    trial's first checkpoint, this one may make it sooner.
    """
    target = run_dir / f"{TRIAL_DIR_PREFIX}{tune.get_context().get_trial_id()}"
    target.mkdir(parents=True, exist_ok=True)
    before = os.getcwd()
    os.chdir(target)
    try:
        yield target
    finally:
        os.chdir(before)


def run_trial(
    flat_config: Mapping[str, Any],
    *,
    run_dir: Path,
    space: Space,
    data: TrainingData | StreamingData,
    settings: FitSettings,
    callbacks: Sequence[Any] = (),
    build: Callable[[dict[str, Any]], Any] | None = None,
    memory_limit: float | None = None,
    tensorboard: bool = False,
) -> None:
    """Runs one trial inside a (possibly reused) Ray worker.

    ``data`` arrives through Ray's object store (`tune.with_parameters`), so it
    is shipped once per run, not once per trial. A trial that Ray restarts
    (after a crash, or on `automl.resume`) continues from its checkpoint.
    ``memory_limit`` (bytes, from ``resources_per_trial``) fails a trial
    whose worker grows past it. A ``settings.seed`` is the run's: the fit is
    seeded with `trial_seed`. The user's `TensorBoard` callbacks write
    per trial, and ``tensorboard`` adds the trial's own event files
    (`trial_tensorboard`).
    """
    from automl.execution._heap import freeze_imports
    from automl.execution._memory_limit import MemoryLimit
    from automl.execution._model_size import FlavorInfo, ModelSize
    from trainers import (  # TensorFlow: once per worker process
        configure_threads,
        distribution_strategy,
        enable_memory_growth,
        train,
    )

    assigned = ray.get_runtime_context().get_assigned_resources()
    # Before TF's runtime starts (the first trial in a worker); later trials reuse it.
    configure_threads(int(assigned.get("CPU", 1)))
    enable_memory_growth()
    strategy = distribution_strategy(tpu=assigned.get("TPU", 0) > 0)
    freeze_imports()  # after TensorFlow's import: each trial's clear_session() then skips its objects
    config = space.unflatten(flat_config)
    fit = None
    if isinstance(space, HyperModelSpace):
        # The config is the hypermodel's hp values: its own build and fit take them; the trainer
        # keeps its default settings. (``build`` then only registered its Keras objects, unpickled.)
        build, fit = space.trial_parts(config)
        config = {}
    if settings.seed is not None:
        settings = dataclasses.replace(settings, seed=trial_seed(settings.seed, flat_config))
    with scratch_dir() as workdir, in_trial_dir(run_dir) as trial_dir:
        restored = tune.get_checkpoint()
        checkpoint = _usable_checkpoint(restored) if restored is not None else None
        resume_from = None
        if checkpoint is not None:
            resume_from = workdir / "restored"
            checkpoint.to_directory(str(resume_from))
        # tune.report copies each checkpoint into the run's storage, so the
        # local copy is scratch.
        train(
            config,
            data,
            settings=settings,
            checkpoint_dir=workdir / "current",  # FlavorInfo writes there too
            reporter=_RayReporter(),
            callbacks=(
                *trial_tensorboard(callbacks, trial_dir, tensorboard=tensorboard),
                ModelSize(),
                FlavorInfo(workdir / "current", example_rows(data)),
                *([MemoryLimit(memory_limit)] if memory_limit else []),
            ),
            resume_from=resume_from,
            build=build,
            strategy=strategy,
            fit=fit,
            cache_dir=worker_cache_dir(run_dir) if isinstance(data, StreamingData) else None,
        )
