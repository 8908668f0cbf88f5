"""`TuningResult.retrain`: one of a run's best configs fitted again on all its rows, in this process.

No Ray: the fit is `trainers.train` here, with the run's fit settings and
data (reloaded from its manifest as `automl.resume` does). MLflow records it
as a child run of the tuning run, which a resumed run's tracker skips (it has
no trial id).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from automl._environ import no_run_links
from automl.execution._trainable import trial_seed
from automl.planning._resume import run_build, run_data, trusted_manifest
from automl.tracking._tracking import param_batches
from search_spaces import ConfigError, Space
from search_spaces._checks import is_int
from search_spaces._hypermodel import HyperModelSpace
from trainers import FitSettings, StreamingData, TrainingData
from trainers._checkpoint import LAST_FILE
from trainers._stream import with_validation_rows

if TYPE_CHECKING:
    import keras

    from automl._result import TrialSummary, TuningResult
    from automl.planning._experiment import DataSpec

__all__ = ["Retrained", "retrain"]

_METRICS_PER_BATCH = 1000  # metrics per log_batch call accepted by every MLflow store


@dataclasses.dataclass(frozen=True)
class Retrained:
    """What `retrain` made: the model, its file, its MLflow run, the trial it came from."""

    model: keras.Model
    path: Path
    run_id: str
    epochs: int
    trial: TrialSummary


def _trial(result: TuningResult, rank: int) -> TrialSummary:
    if not is_int(rank, plain=True) or rank < 1:
        raise ConfigError(f"expected an int >= 1 (1 the best trial), but got {rank!r}.", field="rank")
    ranked = result.top(rank)
    if len(ranked) < rank:
        raise ConfigError(
            f"the run has {len(ranked)} trial(s) with a score, so a rank in 1..{len(ranked)}, but got {rank}.",
            field="rank",
        )
    return ranked[-1]


def _epochs(epochs: int | Literal["best"], trial: TrialSummary) -> int:
    if epochs == "best":
        if trial.best_epoch is None:
            raise ConfigError(
                f"trial {trial.number} has no best epoch on record (none of its epochs reported a "
                "finite score); pass a number of epochs: epochs=N.",
                field="epochs",
            )
        return trial.best_epoch
    if not is_int(epochs, plain=True) or epochs < 1:
        raise ConfigError(f"expected 'best' or an int >= 1, but got {epochs!r}.", field="epochs")
    return epochs


def _all_rows(data: TrainingData | StreamingData) -> TrainingData | StreamingData:
    """The training rows followed by the validation rows; the validation rows stay as they are (Keras needs some).

    File-backed data stays in its files: the retrain's training pipeline reads both parts.
    """
    if isinstance(data, StreamingData):
        return with_validation_rows(data)
    return dataclasses.replace(
        data,
        x_train=np.concatenate([data.x_train, data.x_val]),
        y_train=np.concatenate([data.y_train, data.y_val]),
    )


def _settings(saved: FitSettings, epochs: int, flat: dict[str, Any]) -> FitSettings:
    """The run's settings for a fixed number of epochs: patience as long as the fit, so it never stops early."""
    seed = None if saved.seed is None else trial_seed(saved.seed, flat)
    return dataclasses.replace(saved, epochs=epochs, patience=epochs, seed=seed)


def _log_fit(client: MlflowClient, run_id: str, history: dict[str, list[float]], path: Path) -> None:
    now = int(time.time() * 1000)
    metrics = [
        Metric(name, value, now, epoch)
        for name, values in history.items()
        if not name.startswith("val_")  # the validation rows were trained on
        for epoch, value in enumerate(values, start=1)
    ]
    for start in range(0, len(metrics), _METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _METRICS_PER_BATCH])
    client.log_artifact(run_id, str(path))


def retrain(
    result: TuningResult,
    *,
    data: TrainingData | str | DataSpec | None,
    epochs: int | Literal["best"],
    rank: int,
    build: Callable[[dict[str, Any]], Any] | None,
    verbose: int,
) -> Retrained:
    """See `TuningResult.retrain`."""
    from keras.saving import load_model

    from trainers import train

    if isinstance(result.space, HyperModelSpace):
        raise ConfigError(
            "not supported: retraining a hypermodel's trial; result.get_best_models() loads the trained models.",
            field="hypermodel",
        )
    trial = _trial(result, rank)
    count = _epochs(epochs, trial)
    manifest = trusted_manifest(result.run_dir)
    rows = _all_rows(run_data(manifest, data, again="result.retrain(data=...)"))
    build = run_build(manifest, build, again="result.retrain(build=...)")
    space: Space = result._known_space()
    flat = space.flatten(trial.config)
    client = MlflowClient(result.tracking_uri)
    tags = {
        "mlflow.parentRunId": result.parent_run_id,
        "automl.kind": "retrain",
        "automl.retrained_trial": str(trial.number),
        "automl.retrain_rank": str(rank),
        "automl.retrain_epochs": str(count),
    }
    run_id = client.create_run(result.experiment_id, run_name=f"retrain-rank{rank}", tags=tags).info.run_id
    status = "FAILED"
    try:
        for batch in param_batches(flat):
            client.log_batch(run_id, params=batch)
        path = result.run_dir / f"retrained_rank{rank}.keras"
        with tempfile.TemporaryDirectory(prefix="automl-retrain-") as scratch:
            outcome = train(
                trial.config,
                rows,
                settings=_settings(FitSettings(**manifest["settings"]), count, flat),
                checkpoint_dir=scratch,
                build=build,
                verbose=verbose,
            )
            # The model after the last epoch: `outcome.model` holds the best epoch's weights by
            # validation rows that were trained on.
            shutil.copyfile(Path(scratch) / LAST_FILE, path)
        _log_fit(client, run_id, outcome.history, path)
        client.set_tag(run_id, "automl.model_path", str(path))
        status = "FINISHED"
    finally:
        with no_run_links():
            client.set_terminated(run_id, status=status)
    return Retrained(load_model(path), path, run_id, count, trial)
