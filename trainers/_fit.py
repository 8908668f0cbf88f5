"""One trial: build, compile and fit with early stopping and checkpoints."""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras

from trainers._data import TrainingData
from trainers._errors import TrialFailedError
from trainers._model import build_model, compile_model
from trainers._reporter import Reporter
from trainers._settings import CHECKPOINT_FILE, FitSettings, check_config

__all__ = ["ReporterCallback", "TrainOutcome", "train"]


@dataclasses.dataclass(frozen=True)
class TrainOutcome:
    """What one fit produced.

    Attributes:
        history: Metric name → one value per epoch run.
        epochs_run: Epochs actually run (early stopping may end before the cap).
        best_epoch: 1-based epoch with the best monitored value.
        best_value: The best monitored value.
        checkpoint: Path of the best model's ``.keras`` file.
        duration_s: Wall time of build, compile and fit.
        model: The fitted model, holding the best weights.
    """

    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    best_value: float
    checkpoint: Path
    duration_s: float
    model: keras.Model


class ReporterCallback(keras.callbacks.Callback):
    """Sends each epoch's logs to a `Reporter`.

    Must come after the `ModelCheckpoint` writing ``checkpoint_file`` in the
    callback list: a changed file means this epoch saved a new best model.
    """

    def __init__(self, reporter: Reporter, checkpoint_file: Path) -> None:
        super().__init__()
        self._reporter = reporter
        self._file = checkpoint_file
        self._stamp: int | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> int | None:
        try:
            return self._file.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        stamp = self._file_stamp()
        saved = stamp is not None and stamp != self._stamp
        self._stamp = stamp
        self._reporter.report(metrics, epoch=epoch + 1, checkpoint=self._file.parent if saved else None)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _callbacks(
    settings: FitSettings,
    checkpoint: Path,
    reporter: Reporter | None,
    extra: Sequence[keras.callbacks.Callback],
) -> list[keras.callbacks.Callback]:
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.EarlyStopping(
            monitor=settings.monitor,
            mode=settings.mode,
            patience=settings.patience,
            min_delta=settings.min_delta,
            restore_best_weights=True,
        ),
        keras.callbacks.ModelCheckpoint(
            checkpoint, monitor=settings.monitor, mode=settings.mode, save_best_only=True
        ),
        *extra,
    ]
    if reporter is not None:  # last, so it sees the checkpoint written this epoch
        callbacks.append(ReporterCallback(reporter, checkpoint))
    return callbacks


def _raise_if_diverged(history: Mapping[str, list[float]]) -> None:
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrialFailedError(
            f"the loss became {losses[-1]} at epoch {len(losses)}, so TerminateOnNaN stopped the fit; "
            "a lower learning rate or gradient clipping usually helps."
        )


def train(
    config: Mapping[str, Any],
    data: TrainingData,
    *,
    settings: FitSettings,
    checkpoint_dir: str | Path,
    reporter: Reporter | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: int = 0,
) -> TrainOutcome:
    """Runs one trial: build → compile → fit with callbacks.

    The fit uses `EarlyStopping` (restoring the best weights), `ModelCheckpoint`
    (best model as ``checkpoint_dir/best.keras``), `TerminateOnNaN`, the given
    ``callbacks``, and, last, a callback that hands every epoch to ``reporter``.

    Args:
        config: A sampled config (see `search_spaces.Space.sample`).
        data: Training and validation data.
        settings: Epoch cap, monitored metric and early stopping.
        checkpoint_dir: Directory of this trial's checkpoints; created if missing.
        reporter: Receives each epoch's metrics. Defaults to `None`.
        callbacks: More Keras callbacks, deep-copied for this trial and run
            after the built-in ones. Defaults to `()`.
        verbose: Keras ``fit`` verbosity. Defaults to `0`.

    Raises:
        ConfigError: The config or the monitored metric does not fit the trainer.
        TrialFailedError: The loss became NaN or infinite (`TerminateOnNaN`
            stopped the fit).

    Example:
        >>> from trainers import FitSettings, load_sklearn, train
        >>> config = {"layers": [{"type": "dense", "units": 32, "activation": "relu", "dropout": 0.0}]}
        >>> outcome = train(config, load_sklearn("digits"), settings=FitSettings(epochs=2),
        ...                 checkpoint_dir="/tmp/trial-0")
        >>> outcome.epochs_run
        2
    """
    full = check_config(config)
    settings.check_monitor(data.task)
    start = time.perf_counter()
    keras.backend.clear_session()  # drop the previous trial's graph in a reused worker
    checkpoint = Path(checkpoint_dir) / CHECKPOINT_FILE
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model = build_model(full, data)
    compile_model(model, full, data)
    fit = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=settings.epochs,
        batch_size=full["batch_size"],
        # Each trial gets its own copies: callbacks keep state (KerasTuner does the same).
        callbacks=_callbacks(settings, checkpoint, reporter, copy.deepcopy(list(callbacks))),
        verbose=verbose,
    )
    history = {k: [float(v) for v in values] for k, values in fit.history.items()}
    _raise_if_diverged(history)
    monitored = history.get(settings.monitor, [])
    pick = min if settings.mode == "min" else max
    finite = [v for v in monitored if math.isfinite(v)]
    best_value = pick(finite) if finite else math.nan
    best_epoch = monitored.index(best_value) + 1 if finite else 0
    return TrainOutcome(
        history=history,
        epochs_run=len(monitored),
        best_epoch=best_epoch,
        best_value=best_value,
        checkpoint=checkpoint,
        duration_s=time.perf_counter() - start,
        model=model,
    )
