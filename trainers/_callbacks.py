"""Keras callbacks of a trial: reporting, resumable early stopping, progress on disk, learning rate."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from trainers._backbones import PHASE_METRIC, FineTune, unfreeze
from trainers._checkpoint import BEST_FILE, LAST_FILE, Progress
from trainers._reporter import Reporter
from trainers._schedule import EpochSchedule

__all__ = [
    "EagerFirstValidation",
    "EpochLearningRate",
    "EpochSummaries",
    "FineTuning",
    "LastCheckpoint",
    "MonitoredMetric",
    "ProgressWriter",
    "ReporterCallback",
    "ResumableEarlyStopping",
]


def _numbers(logs: Mapping[str, Any] | None) -> dict[str, float]:
    out = {}
    for key, value in (logs or {}).items():
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


class MonitoredMetric(keras.callbacks.Callback):
    """Stops the trial at its first epoch if the model does not report the monitored metric.

    Runs before early stopping and checkpointing, which would otherwise only
    warn and never stop or save. A model the user compiled (``build(config)``)
    chooses its own metrics, so this is where a missing one is caught.
    """

    def __init__(self, monitor: str) -> None:
        super().__init__()
        self._monitor = monitor

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if logs is not None and self._monitor not in logs:
            from trainers._errors import TrialFailedError

            raise TrialFailedError(
                f"the model does not report the monitored metric {self._monitor!r}; it reports "
                f"{sorted(logs)}. Compile it with the metric (e.g. metrics=['accuracy']) or return it "
                "uncompiled from build(config)."
            )


class ReporterCallback(keras.callbacks.Callback):
    """Sends each epoch's metrics and the checkpoint directory to a `Reporter`.

    Runs last, so the checkpoint it hands over is complete for this epoch.
    With ``saved``, an epoch whose checkpoint `LastCheckpoint` did not write
    is sent without one; the fit's last epoch always comes with the directory.
    The epoch that ends the fit by itself is sent once the fit has wound
    down, after every callback's ``on_train_end``: a consumer may end the
    trial there (Ray does) without cutting anything short, and a callback
    that fails the fit at its end (a memory limit) fails it before that
    epoch is sent as the last.
    """

    def __init__(
        self, reporter: Reporter, checkpoint_dir: Path, *, saved: LastCheckpoint | None = None
    ) -> None:
        super().__init__()
        self._reporter = reporter
        self._dir = checkpoint_dir
        self._saved = saved
        self._last: tuple[dict[str, float], int] | None = None

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._last = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = _numbers(logs)
        # EarlyStopping and TerminateOnNaN run earlier in the list and set stop_training.
        ends = bool(self.model.stop_training) or epoch + 1 >= self.params["epochs"]
        if ends and math.isfinite(metrics.get("loss", 0.0)):
            self._last = (metrics, epoch + 1)  # sent in on_train_end
            return
        # A diverged loss (TerminateOnNaN) does not end the trial by itself: the fit raises.
        written = self._saved is None or self._saved.written(epoch)
        self._reporter.report(metrics, epoch=epoch + 1, checkpoint=self._dir if written else None, last=False)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._last is not None:
            metrics, epoch = self._last
            self._last = None
            self._reporter.report(metrics, epoch=epoch, checkpoint=self._dir, last=True)


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """`EarlyStopping` that can start from a resumed trial's patience count and best.

    Keras resets the state in ``on_train_begin`` (so callbacks can be reused);
    this sets it back to the checkpoint's right after.
    """

    def __init__(self, *, resume: Progress | None, checkpoint_dir: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resume = resume
        self._dir = checkpoint_dir

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume is None or self._resume.stopping_best is None:
            return
        self.wait = self._resume.stopping_wait
        self.best = self._resume.stopping_best
        self.best_epoch = self._resume.stopping_best_epoch
        if self.restore_best_weights and (self._dir / BEST_FILE).exists():
            # Weights only: no optimizer to rebuild (nor a dtype policy to match).
            self.best_weights = keras.saving.load_model(self._dir / BEST_FILE, compile=False).get_weights()


class ResumablePlateau(keras.callbacks.ReduceLROnPlateau):
    """`ReduceLROnPlateau` that can start from a resumed trial's wait, best and cooldown."""

    def __init__(self, *, resume: Progress | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._resume = resume

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        super().on_train_begin(logs)
        if self._resume is None or self._resume.plateau_best is None:
            return
        self.wait = self._resume.plateau_wait
        self.best = self._resume.plateau_best
        self.cooldown_counter = self._resume.plateau_cooldown


class LastCheckpoint(keras.callbacks.Callback):
    """Saves the model as ``last.keras``, optimizer state included, on the epochs that write a checkpoint.

    An epoch writes one when the best-model `ModelCheckpoint` (which runs
    before this one) has just saved this very model state, when it ends the
    fit, and when ``interval_s`` seconds have passed since the last one
    (`0`: every epoch). On an improving epoch the best file is copied
    instead of serializing the model a second time. An epoch that writes
    nothing leaves the directory as the last checkpoint left it: its files
    stay consistent with one another, and its best model is still the best.
    `written` tells the callbacks after this one (the state file, the
    reporter) whether the epoch's checkpoint is on disk.
    """

    def __init__(self, checkpoint_dir: Path, interval_s: float = 0.0) -> None:
        super().__init__()
        self._best = checkpoint_dir / BEST_FILE
        self._last = checkpoint_dir / LAST_FILE
        self._interval_s = interval_s
        self._best_stamp: int | None = None
        self._since = 0.0
        self._written: int | None = None  # the latest epoch (0-based) whose checkpoint is on disk

    def _stamp(self) -> int | None:
        try:
            return self._best.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def written(self, epoch: int) -> bool:
        """Whether ``epoch``'s (0-based, as Keras counts) checkpoint was written."""
        return self._written == epoch

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._best_stamp = self._stamp()
        self._since = time.monotonic()
        self._written = None

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        stamp = self._stamp()
        improved = stamp is not None and stamp != self._best_stamp
        self._best_stamp = stamp
        # EarlyStopping and TerminateOnNaN run earlier in the list and set stop_training.
        ends = bool(self.model.stop_training) or epoch + 1 >= self.params["epochs"]
        if not (improved or ends or time.monotonic() - self._since >= self._interval_s):
            return
        if improved:
            shutil.copyfile(self._best, self._last)
        else:
            self.model.save(self._last)
        self._written = epoch
        self._since = time.monotonic()


class ProgressWriter(keras.callbacks.Callback):
    """Writes ``state.json`` once the model files are saved: after each epoch, or those ``last`` writes."""

    def __init__(
        self,
        checkpoint_dir: Path,
        *,
        stopping: keras.callbacks.EarlyStopping,
        best: keras.callbacks.ModelCheckpoint,
        resume: Progress | None,
        learning_rate: float,
        plateau: keras.callbacks.ReduceLROnPlateau | None = None,
        last: LastCheckpoint | None = None,
        phase: Callable[[], int] | None = None,
    ) -> None:
        super().__init__()
        self._dir = checkpoint_dir
        self._phase = phase
        self._last = last
        self._learning_rate = learning_rate
        self._stopping = stopping
        self._best = best
        self._plateau = plateau
        self._history: dict[str, list[float]] = {}
        self._resume = resume

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._history = {k: list(v) for k, v in (self._resume.history if self._resume else {}).items()}

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        for key, value in _numbers(logs).items():
            self._history.setdefault(key, []).append(value)
        if self._last is not None and not self._last.written(epoch):
            return
        best, plateau = self._stopping.best, self._plateau
        Progress(
            epoch=epoch + 1,
            history=self._history,
            stopping_wait=int(self._stopping.wait),
            stopping_best=None if best is None else float(best),
            stopping_best_epoch=int(self._stopping.best_epoch),
            checkpoint_best=None if self._best.best is None else float(self._best.best),
            plateau_wait=int(plateau.wait) if plateau else 0,
            plateau_best=float(plateau.best) if plateau else None,
            plateau_cooldown=int(plateau.cooldown_counter) if plateau else 0,
            learning_rate=self._learning_rate,
            phase=self._phase() if self._phase else 1,
        ).write(self._dir)


class EpochLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate from an `EpochSchedule` as each epoch begins.

    Unlike `keras.callbacks.LearningRateScheduler` it adds nothing to the
    logs, so the reported metrics stay the same whatever the schedule.
    """

    def __init__(self, schedule: EpochSchedule) -> None:
        super().__init__()
        self._schedule = schedule

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.model.optimizer.learning_rate = self._schedule(epoch)


class EagerFirstValidation(keras.callbacks.Callback):
    """Runs the first ``passes`` validation passes eagerly, then Keras's traced test step.

    For a validation set that is one batch. Tracing the test step costs more
    than the passes it speeds up in a short fit: a trace costs about four
    eager passes of a small model (benchmarks/LOG.md, section 2), so, as in the ski-rental rule, the fit runs four passes eagerly
    and traces from the fifth: a fit that ASHA stops within four epochs never
    traces, and a long one pays at most about a trace more than before. The
    metrics are the same ops on the same batch; only how TensorFlow runs
    them changes. Uses Keras's public `run_eagerly` and `make_test_function`;
    when the fit ends the model has Keras's traced test function back, for
    later `evaluate` calls. A model compiled again during the fit (a
    backbone's switch to fine-tuning) has dropped the eager function and
    traces Keras's at its next pass: that one is kept, not traced a second time.
    """

    def __init__(self, passes: int) -> None:
        super().__init__()
        self.passes = passes
        self._eager_passes_left = 0
        self._eager: Any = None  # the eager test function this callback made

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        model = self.model
        if model.run_eagerly or model.jit_compile or self.passes <= 0:
            return  # the user's choice stands
        model.run_eagerly = True
        try:
            model.make_test_function(force=True)  # built eager: `run_eagerly` is read here, not per call
            self._eager = model.test_function
        finally:
            model.run_eagerly = False
        self._eager_passes_left = self.passes

    def on_test_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._eager_passes_left > 0:
            self._eager_passes_left -= 1
            if self._eager_passes_left == 0 or self.model.test_function is not self._eager:
                self._stop()  # traced at the next pass

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._eager_passes_left > 0:
            self._stop()

    def _stop(self) -> None:
        self._eager_passes_left = 0
        if self.model.test_function is self._eager:  # else compiled again: Keras's traced one runs already
            self.model.make_test_function(force=True)
        self._eager = None


class EpochSummaries(keras.callbacks.Callback):
    """Writes each epoch's metrics and learning rate as TensorBoard scalars under ``log_dir``.

    The layout and tags of `keras.callbacks.TensorBoard` with its epoch
    summaries only: ``log_dir/train`` holds ``epoch_loss``, ``epoch_accuracy``,
    ..., ``epoch_learning_rate``, ``log_dir/validation`` the ``val_`` metrics
    under the same tags. The step is the epoch's number counted from 1, as
    the reporter (and MLflow) count it, across a resumed fit's restarts.
    Histograms, the graph and the profiler are off. Each epoch is flushed,
    so a fit stopped between epochs (a scheduler prunes the trial) keeps
    what it wrote. Writing needs the ``tensorboard`` package (it provides
    ``tf.summary.scalar``).

    Args:
        log_dir: Where the ``train`` and ``validation`` event files go.
    """

    def __init__(self, log_dir: str | Path) -> None:
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers: dict[str, Any] = {}

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._writers = {
            part: tf.summary.create_file_writer(str(self.log_dir / part)) for part in ("train", "validation")
        }

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        values = _numbers(logs)
        parts = {
            "train": {k: v for k, v in values.items() if not k.startswith("val_")},
            "validation": {k.removeprefix("val_"): v for k, v in values.items() if k.startswith("val_")},
        }
        rate = getattr(self.model.optimizer, "learning_rate", None)  # a schedule's: its current value
        if rate is not None:
            parts["train"]["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
        for part, scalars in parts.items():
            writer = self._writers[part]
            with writer.as_default():
                for name, value in scalars.items():
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch + 1)
            writer.flush()

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class FineTuning(keras.callbacks.Callback):
    """Switches a backbone's trial to its second phase, and logs each epoch's ``phase`` (1 or 2).

    At the start of epoch ``head_epochs`` (0-based, counted across a resumed
    fit's restarts, as every callback counts) the backbone is unfrozen from
    ``fine_tune_at`` and ``recompile(model, epoch)`` compiles the model again
    at the lower learning rate, before the epoch's first batch. One fit, one
    epoch counter: early stopping, checkpoints and the reporter see one run.
    Runs first, so the other callbacks see the epoch's phase.

    Args:
        fine_tune: The backbone's schedule.
        recompile: Compiles the unfrozen model for ``epoch`` and makes its train function.
        phase: The phase the fit starts in: a resumed trial's checkpoint says. Defaults to `1`.
    """

    def __init__(
        self, fine_tune: FineTune, recompile: Callable[[keras.Model, int], None], *, phase: int = 1
    ) -> None:
        super().__init__()
        self._fine_tune = fine_tune
        self._recompile = recompile
        self._initial = phase
        self.phase = phase

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.phase = self._initial

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.phase == 1 and epoch >= self._fine_tune.head_epochs:
            unfreeze(self.model, self._fine_tune.fine_tune_at)
            self._recompile(self.model, epoch)
            self.phase = 2

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            logs[PHASE_METRIC] = float(self.phase)
