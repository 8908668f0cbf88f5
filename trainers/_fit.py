"""One trial: build, compile and fit with early stopping and checkpoints."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from search_spaces import ConfigError
from search_spaces._hypermodel import FIT_KEYWORDS
from trainers._backbones import backbone_of, fine_tune_of
from trainers._callbacks import (
    EagerFirstValidation,
    EpochLearningRate,
    FineTuning,
    LastCheckpoint,
    MonitoredMetric,
    ProgressWriter,
    ReporterCallback,
    ResumableEarlyStopping,
    ResumablePlateau,
)
from trainers._checkpoint import BEST_FILE, LAST_FILE, Progress, copy_checkpoint
from trainers._data import TrainingData
from trainers._errors import TrialFailedError
from trainers._keras_compat import build_variables_ahead
from trainers._model import BuildFn, build_custom, build_model, compile_model
from trainers._reporter import Reporter
from trainers._schedule import EpochSchedule
from trainers._settings import CheckedConfig, FitSettings, best_of, body_layers, check_config, one_hot_targets
from trainers._stream import OpenedStream, StreamingData, fit_pipelines, loader_keys, open_stream

__all__ = ["FitFn", "TrainOutcome", "fit_history", "reported_by_model", "train", "users_fit"]

logger = logging.getLogger(__name__)


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


def _callbacks(
    settings: FitSettings,
    checkpoint_dir: Path,
    reporter: Reporter | None,
    extra: Sequence[keras.callbacks.Callback],
    resume: Progress | None,
    schedule: EpochSchedule,
    learning_rate: float,
    eager_validation_passes: int,
    fine_tuning: FineTuning | None = None,
) -> list[keras.callbacks.Callback]:
    monitor = {"monitor": settings.monitor, "mode": settings.mode}
    stopping = ResumableEarlyStopping(
        resume=resume,
        checkpoint_dir=checkpoint_dir,
        patience=settings.patience,
        min_delta=settings.min_delta,
        restore_best_weights=True,
        **monitor,
    )
    best = keras.callbacks.ModelCheckpoint(
        checkpoint_dir / BEST_FILE,
        save_best_only=True,
        initial_value_threshold=resume.checkpoint_best if resume else None,
        **monitor,
    )
    plateau = None
    if settings.reduce_lr_patience is not None:
        plateau = ResumablePlateau(
            resume=resume,
            factor=settings.reduce_lr_factor,
            patience=settings.reduce_lr_patience,
            min_delta=settings.min_delta,
            **monitor,
        )
    last = LastCheckpoint(checkpoint_dir, settings.checkpoint_interval_s)
    callbacks: list[keras.callbacks.Callback] = [
        *([fine_tuning] if fine_tuning else []),  # first: the epoch's phase, and its model, for all others
        *([EagerFirstValidation(eager_validation_passes)] if eager_validation_passes else []),
        MonitoredMetric(settings.monitor),
        *([] if schedule.is_constant else [EpochLearningRate(schedule)]),  # first: sets this epoch's rate
        keras.callbacks.TerminateOnNaN(),
        *([plateau] if plateau else []),
        stopping,
        best,
        last,  # optimizer included; not every epoch (settings.checkpoint_interval_s)
        *extra,
        ProgressWriter(
            checkpoint_dir,
            stopping=stopping,
            best=best,
            resume=resume,
            learning_rate=learning_rate,
            plateau=plateau,
            last=last,
            phase=(lambda: fine_tuning.phase) if fine_tuning else None,
        ),
    ]
    if reporter is not None:  # last: the checkpoint it hands over is complete
        callbacks.append(ReporterCallback(reporter, checkpoint_dir, saved=last))
    return callbacks


_BATCH_HOOKS = tuple(
    f"on_{kind}batch_{when}" for kind in ("", "train_", "test_") for when in ("begin", "end")
)


def _needs_every_batch(callback: keras.callbacks.Callback) -> bool:
    """Whether ``callback`` overrides a batch-level hook, unless it sets ``needs_every_batch = False``."""
    declared = getattr(callback, "needs_every_batch", None)
    if declared is not None:
        return bool(declared)
    return any(
        getattr(type(callback), hook) is not getattr(keras.callbacks.Callback, hook) for hook in _BATCH_HOOKS
    )


@contextlib.contextmanager
def _dtype_policy(settings: FitSettings) -> Iterator[None]:
    """Keras's global dtype policy while the model is built; the previous one afterwards (reused workers)."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16" if settings.mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def _rescale_learning_rate(model: keras.Model, learning_rate: float, resume: Progress) -> None:
    """Applies a config's new learning rate to a restored optimizer (Population Based Training).

    The optimizer's rate is scaled by new / old rather than overwritten, so a
    reduction ReduceLROnPlateau made before the checkpoint carries over.
    """
    old = resume.learning_rate
    if old is None or old == learning_rate:
        return
    current = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    try:
        model.optimizer.learning_rate = current * learning_rate / old
    except (TypeError, AttributeError) as exc:  # a LearningRateSchedule or a callable: not settable
        raise TrialFailedError(
            f"the config's learning_rate changed from {old:g} to {learning_rate:g} since the checkpoint "
            "(Population Based Training), but the model's optimizer follows a schedule whose rate "
            "cannot be set; compile the model in build(config) with "
            "learning_rate=config['learning_rate'], or leave learning_rate out of the scheduler's "
            f"`mutate`. Keras said: {exc}"
        ) from exc


def _make_variables_before_the_trace(model: keras.Model, x: np.ndarray, y: np.ndarray) -> None:
    """Creates the optimizer's slots and the compiled metrics' and loss's variables before `fit` traces.

    Without a distribution strategy, Keras 3 creates them inside the first
    trace of the train step, and a `tf.function` whose first trace creates
    variables traces again without them: every trial traced its train step
    twice, and TensorFlow kept both graphs for the life of the process. Keras
    builds them ahead itself under a strategy; this does the same for every
    model, from one row's shapes, without running it (`build_variables_ahead`).
    The first epoch is shorter, and a reused worker keeps less memory per
    trial (benchmarks/LOG.md, sections 2 and 4), so the recycling policy
    replaces it later. It is an
    optimization only: a model Keras cannot build symbolically is left for
    `fit` to build as before, which reports any real error.
    """
    try:
        build_variables_ahead(model, (x[:1], y[:1], None))
    except Exception as exc:  # noqa: BLE001 - fit builds what is left, and raises what is wrong
        logger.debug("Keras could not build %s's variables before fit: %s", model.name, exc)


# Training sets up to this size are batched by `_fit_data`'s pipeline; larger ones by Keras.
SMALL_DATA_ROWS = 20_000
SMALL_DATA_BYTES = 64 * 2**20


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool) -> tf.data.Dataset:
    rows = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        rows = rows.shuffle(len(x), reshuffle_each_iteration=True)
    return rows.batch(batch_size).prefetch(1)


# A validation batch's activations are kept under this, so a small validation set is one batch.
VALIDATION_BATCH_BYTES = 64 * 2**20
# Validation passes run eagerly before the test step is traced (see `EagerFirstValidation`).
EAGER_VALIDATION_PASSES = 4


def _bytes_per_row(model: keras.Model) -> int | None:
    """An upper bound of one row's activations: the inputs and every layer's output, at 4 bytes a value.

    `None` when the model does not say: a subclassed model has no layer
    outputs, a shared layer has several, and a dimension may be unknown.
    Also `None` for an input with a fixed batch size (a stateful RNN's),
    which takes no other.
    """
    try:
        if any(tensor.shape[0] is not None for tensor in model.inputs):
            return None
        tensors = [*model.inputs, *(t for layer in model.layers for t in keras.tree.flatten(layer.output))]
        values = 0
        for tensor in tensors:
            dims = tuple(tensor.shape)[1:]
            if any(d is None for d in dims):
                return None
            values += math.prod(dims)
    except (AttributeError, ValueError, TypeError):
        return None
    return 4 * values or None


def _validation_batch_size(model: keras.Model, rows: int, batch_size: int) -> int:
    """Rows per validation batch: as many as `VALIDATION_BATCH_BYTES` of activations allow, at least ``batch_size``.

    Fewer, larger batches make a validation pass cheaper (one call into
    TensorFlow per batch), and the metrics are sample-weighted means over
    the set, so the batching does not change them. A model whose activations
    cannot be sized keeps the training batch size, Keras's default.
    """
    per_row = _bytes_per_row(model)
    if per_row is None:
        return batch_size
    return max(batch_size, min(rows, VALIDATION_BATCH_BYTES // per_row))


def _fit_data(
    data: TrainingData | OpenedStream,
    y_train: np.ndarray,
    y_val: np.ndarray,
    batch_size: int,
    validation_batch_size: int,
    *,
    one_hot: bool = False,
) -> dict[str, Any]:
    """`fit`'s data arguments: small data as ``tf.data`` pipelines without functions, else the arrays.

    From arrays, Keras's pipeline gathers each batch in a ``map`` after
    shuffling the row indices in another, and `fit` makes a new iterator for
    each epoch's training and validation passes. Each new iterator
    instantiates those functions, which TensorFlow's graph optimizer
    rewrites every time: on a small data set that costs more than the
    epoch's work. Rows sliced, shuffled in a buffer and batched need no
    function, and a small data set's epoch is shorter (benchmarks/LOG.md,
    section 2). The buffer copies each row once per epoch, which loses on
    large data and holds a second copy of the features, hence the limits.
    The batches are the same as Keras's: one shuffle per epoch, a last
    partial batch, validation in order; the shuffle follows TensorFlow's
    global seed, as Keras's does. Streamed data bring their own pipelines
    (`trainers._stream.open_stream`).
    """
    if isinstance(data, OpenedStream):
        train, val = fit_pipelines(data, one_hot=one_hot)
        return {"x": train, "validation_data": val, "shuffle": False}  # the pipeline shuffles
    x = data.x_train
    if len(x) > SMALL_DATA_ROWS or x.nbytes > SMALL_DATA_BYTES:
        return {
            "x": x,
            "y": y_train,
            "validation_data": (data.x_val, y_val),
            "batch_size": batch_size,
            "validation_batch_size": validation_batch_size,
        }
    return {
        "x": _batches(x, y_train, batch_size, shuffle=True),
        "validation_data": _batches(data.x_val, y_val, validation_batch_size, shuffle=False),
        "shuffle": False,  # the pipeline shuffles; Keras warns that it cannot
    }


def _raise_if_diverged(history: Mapping[str, list[float]]) -> None:
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise TrialFailedError(
            f"the loss became {losses[-1]} at epoch {len(losses)}, so TerminateOnNaN stopped the fit; "
            "a lower learning rate or gradient clipping usually helps."
        )


def categorical_loss(model: keras.Model) -> bool:
    """Whether the compiled loss takes one-hot rows (a model the user compiled in build(config) included)."""
    loss = model.loss
    name = loss if isinstance(loss, str) else getattr(loss, "name", None) or getattr(loss, "__name__", "")
    return str(name).startswith("categorical")


def one_hot_for(model: keras.Model, y: np.ndarray) -> np.ndarray:
    """``y`` as the model's compiled loss takes it: one-hot rows for a categorical loss, else as is."""
    if not categorical_loss(model) or np.ndim(y) != 1:
        return y
    return np.eye(model.outputs[0].shape[-1], dtype=np.float32)[y]


def _one_hot(config: Mapping[str, Any], data: TrainingData | StreamingData, model: keras.Model) -> bool:
    """Whether the fit takes one-hot targets: categorical losses and label smoothing on many classes."""
    return data.task == "multiclass" and (one_hot_targets(config, data.task) or categorical_loss(model))


def _targets(
    config: Mapping[str, Any], data: TrainingData | StreamingData, model: keras.Model
) -> tuple[np.ndarray, np.ndarray]:
    """Class ids, or one-hot rows for categorical losses and label smoothing.

    For streamed data, whose pipelines map their own targets, rows of zeros
    shaped as the targets are, one per checked example (at most two): what the model's variables are built
    from before the fit (`_make_variables_before_the_trace`), and the
    probe of `reported_by_model`.
    """
    one_hot = _one_hot(config, data, model)
    if not isinstance(data, TrainingData):
        rows = len(data.example[:2])
        zeros = np.zeros((rows, data.num_classes) if one_hot else (rows,), np.float32 if one_hot else np.int32)
        return zeros, zeros
    if not one_hot:
        return data.y_train, data.y_val
    eye = np.eye(data.num_classes, dtype=np.float32)
    return eye[data.y_train], eye[data.y_val]


def _rows(data: TrainingData | StreamingData) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation features for the checks and builds ahead; a streamed source's checked examples."""
    if isinstance(data, TrainingData):
        return data.x_train, data.x_val
    return data.example, data.example


def reported_by_model(
    model: keras.Model, config: Mapping[str, Any], data: TrainingData | StreamingData
) -> tuple[str, ...]:
    """The metric names `train` reports each epoch for a compiled model: its own, then as ``val_<name>``.

    A model the user compiled chooses its metrics, custom ones included; Keras
    names them once they have run, so this evaluates two validation rows,
    eagerly (no trace).
    """
    _, y_val = _targets(config, data, model)
    eager = model.run_eagerly
    model.run_eagerly = True
    try:
        logs = model.test_on_batch(_rows(data)[1][:2], y_val[:2], return_dict=True)
    finally:
        model.run_eagerly = eager
        model.make_test_function(force=True)  # the eager one is this probe's only
    names = tuple(logs)
    return (*names, *(f"val_{name}" for name in names))


def _class_weight(config: Mapping[str, Any], data: TrainingData | StreamingData) -> dict[int, float] | None:
    """``"balanced"``: n_samples / (n_classes * count of the class), as scikit-learn computes it.

    Streamed data count from their listing (`StreamingData.class_counts`);
    a source whose listing does not tell them cannot weigh its classes.
    """
    if config["class_weight"] is None:
        return None
    classes = data.num_classes
    if isinstance(data, TrainingData):
        counts = np.bincount(data.y_train, minlength=classes)
    elif data.class_counts is None:
        raise ConfigError(
            f"class_weight 'balanced' needs the count of each class, which {data.name!r} does not "
            "tell without reading all of it; leave class_weight out of the space.",
            field="class_weight",
        )
    else:
        counts = np.asarray(data.class_counts)
    return {c: int(counts.sum()) / (classes * int(n)) for c, n in enumerate(counts)}


# Long by its docstring, the public API doc; the body is its steps, in order.
def train(
    config: Mapping[str, Any],
    data: TrainingData | StreamingData,
    *,
    settings: FitSettings,
    checkpoint_dir: str | Path,
    reporter: Reporter | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    resume_from: str | Path | None = None,
    build: BuildFn | None = None,
    strategy: tf.distribute.Strategy | None = None,
    verbose: int = 0,
    fit: FitFn | None = None,
    cache_dir: str | Path | None = None,
) -> TrainOutcome:
    """Runs one trial: build → compile → fit with callbacks.

    The fit uses `TerminateOnNaN`, `EarlyStopping` (restoring the best
    weights), `ModelCheckpoint` twice (the best model as
    ``checkpoint_dir/best.keras`` on each improving epoch; the latest epoch
    with its optimizer state as ``last.keras``, on improving epochs, the last
    epoch and every ``settings.checkpoint_interval_s``), the given
    ``callbacks``, and, last, a callback that hands every epoch to
    ``reporter``, with the checkpoint directory when that epoch wrote it. A learning-rate
    schedule or warm-up in the config runs as a callback before all of them.
    The fit runs up to ``settings.epochs`` epochs, or the config's ``epochs``
    when that is smaller. Validation batches are as large as
    `VALIDATION_BATCH_BYTES` of activations allow; a validation set that is
    one batch is evaluated eagerly for the first `EAGER_VALIDATION_PASSES`
    epochs (see `EagerFirstValidation`).

    Args:
        config: A sampled config (see `search_spaces.Space.sample`).
        data: Training and validation data: arrays, or a file-backed
            source opened here into this trial's pipelines (see `StreamingData`).
        settings: Epoch cap, monitored metric and early stopping.
        checkpoint_dir: Directory of this trial's checkpoints; created if missing.
        reporter: Receives each epoch's metrics. Defaults to `None`.
        callbacks: More Keras callbacks, deep-copied for this trial and run
            after the built-in ones. One that overrides a batch-level hook
            (``on_train_batch_end``, ...) makes ``steps_per_execution="auto"``
            run one batch per call, so it sees every batch as in a plain
            fit; a callback that is fine with every n-th batch says so with
            a ``needs_every_batch = False`` attribute. Defaults to `()`.
        resume_from: A checkpoint directory of this trial (as handed to the
            reporter) to continue from: weights, optimizer state, epoch
            counter, early-stopping patience and best value. The checkpoint
            may come from another trial (Population Based Training): the
            keys of `MUTABLE_ON_RESUME` may then differ from those it was
            trained with; a new ``learning_rate`` scales the optimizer's.
            Defaults to `None` (start from scratch).
        build: The user's ``build(config) -> keras.Model`` for a model the
            space language cannot express; the config's other keys are its
            hyperparameters (see `build_custom`). Defaults to `None` (the
            model is built from the config's layer stacks).
        strategy: The ``tf.distribute`` strategy the model is built,
            compiled (or restored) and fitted under; ``batch_size`` is the
            global batch. With several replicas, ``steps_per_execution="auto"``
            runs one batch per call. See `distribution_strategy`. Defaults to
            `None` (TensorFlow's default strategy).
        verbose: Keras ``fit`` verbosity. Defaults to `0`.
        fit: Called instead of ``model.fit`` as ``fit(model, x, y,
            validation_data=..., epochs=..., initial_epoch=..., callbacks=...,
            verbose=...)`` with the training arrays (a KerasTuner
            ``HyperModel.fit``); it must run ``model.fit`` with those
            callbacks and return its ``History`` (or a dict of metrics
            holding the monitored one). Defaults to `None` (``model.fit``).
        cache_dir: An existing local directory where file-backed rows too
            large for memory are cached after their first epoch, and read by
            later trials given the same directory (see `open_stream`); its
            owner removes it. Defaults to `None` (such rows are read from
            their files every epoch).

    Raises:
        ConfigError: The config or the monitored metric does not fit the trainer.
        TrialFailedError: The loss became NaN or infinite (`TerminateOnNaN`
            stopped the fit), or ``fit`` did not run ``model.fit`` with the
            callbacks or did not return the monitored metric.

    Examples:
        >>> from trainers import FitSettings, load_sklearn, train
        >>> config = {"layers": [{"type": "dense", "units": 32, "activation": "relu", "dropout": 0.0}]}
        >>> outcome = train(config, load_sklearn("digits"), settings=FitSettings(epochs=2),
        ...                 checkpoint_dir="/tmp/trial-0")
        >>> outcome.epochs_run
        2
    """
    config, loader_own = loader_keys(config, data)
    full = check_config(config, task=data.task, custom_model=build is not None)
    if build is None:
        settings.check_monitor(data.task)
    else:  # the model may report metrics of its own: `MonitoredMetric` checks at the first epoch
        settings.check_metrics(data.task)
    replicas = (strategy or tf.distribute.get_strategy()).num_replicas_in_sync
    settings = _one_batch_per_call_if_needed(settings, replicas, callbacks)
    epochs = min(settings.epochs, full["epochs"] or settings.epochs)
    start = time.perf_counter()
    keras.backend.clear_session()  # drop the previous trial's graph in a reused worker
    directory, resume = _checkpoint_directory(checkpoint_dir, resume_from)
    initial_epoch = resume.epoch if resume else 0
    if settings.seed is not None:
        # A resumed fit draws new batch orders rather than replaying those of its first epochs.
        keras.utils.set_random_seed((settings.seed + initial_epoch) % 2**32)
    if isinstance(data, StreamingData):  # in the worker: the files are read from here on
        cache = None if cache_dir is None else str(cache_dir)
        data = open_stream(data, {**full, **loader_own}, seed=settings.seed, cache_dir=cache)
    # Variables made in the strategy's scope are mirrored across its devices.
    with (strategy or tf.distribute.get_strategy()).scope(), _dtype_policy(settings):
        model = _compiled_model(full, data, settings, build, directory, resume)
        y_train, y_val = _targets(full, data, model)
        _make_variables_before_the_trace(model, _rows(data)[0], y_train)
    schedule = EpochSchedule.from_config(full, epochs=epochs)
    settings.check_schedule(full)
    validation_batch, eager_passes = _validation_batching(model, data, full["batch_size"], replicas, strategy)
    fine_tuning = None if build is not None else _fine_tuning(full, data, settings, schedule, y_train, resume)
    # Each trial gets its own copies: callbacks keep state (KerasTuner does the same).
    trial_callbacks = _callbacks(
        settings,
        directory,
        reporter,
        copy.deepcopy(list(callbacks)),
        resume,
        schedule,
        learning_rate=full["learning_rate"],
        eager_validation_passes=eager_passes,
        fine_tuning=fine_tuning,
    )
    with _epochs_of_unknown_length(data):
        if fit is None:
            fitted = model.fit(
                **_fit_data(
                    data,
                    y_train,
                    y_val,
                    full["batch_size"],
                    validation_batch,
                    one_hot=_one_hot(full, data, model),
                ),
                initial_epoch=initial_epoch,
                epochs=epochs,
                class_weight=_class_weight(full, data),
                callbacks=trial_callbacks,
                verbose=verbose,
            ).history
        else:
            if isinstance(data, OpenedStream):  # planning refuses it; a direct caller hears why
                raise ConfigError(
                    "a HyperModel.fit takes in-memory data, not files streamed in the worker.", field="data"
                )
            fitted = users_fit(
                fit,
                model,
                (data.x_train, y_train),
                (data.x_val, y_val),
                monitor=settings.monitor,
                callbacks=trial_callbacks,
                epochs=(initial_epoch, epochs),
            )
    history = {k: [*(resume.history.get(k, []) if resume else []), *map(float, v)] for k, v in fitted.items()}
    _raise_if_diverged(history)
    return _outcome(history, settings, directory / BEST_FILE, time.perf_counter() - start, model)


# What `train` calls instead of ``model.fit``: (model, x, y, **fit keyword arguments) -> History or metrics.
FitFn = Callable[..., Any]


class _EpochsSeen(keras.callbacks.Callback):
    """Counts the epochs a user's ``fit`` ran with the callbacks it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs = 0

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epochs += 1


def users_fit(
    fit: FitFn,
    model: keras.Model,
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    *,
    monitor: str,
    callbacks: Sequence[keras.callbacks.Callback],
    epochs: tuple[int, int],
) -> dict[str, list[float]]:
    """Runs the user's ``fit`` as KerasTuner calls a ``HyperModel.fit``; returns the per-epoch history.

    ``epochs`` is ``(initial_epoch, epochs)``. See `fit_history` for the checks.
    """
    seen = _EpochsSeen()
    keywords = (validation, epochs[1], epochs[0], [*callbacks, seen], 0)
    returned = fit(model, *train, **dict(zip(FIT_KEYWORDS, keywords, strict=True)))
    return fit_history(returned, monitor, seen.epochs)


def fit_history(returned: Any, monitor: str, epochs_seen: int) -> dict[str, list[float]]:
    """The history a user's ``fit`` returned, checked: it ran the callbacks, and holds ``monitor``.

    Raises:
        TrialFailedError: The callbacks saw no epoch (so nothing was reported
            or checkpointed), or ``monitor`` is not among the returned metrics.
    """
    if not epochs_seen:
        raise TrialFailedError(
            "HyperModel.fit returned without an epoch reaching the callbacks it was given: pass them on, "
            "model.fit(*args, **kwargs) or model.fit(x, y, callbacks=kwargs['callbacks'], ...), "
            "so that each epoch is reported, checkpointed and stopped early."
        )
    history = getattr(returned, "history", returned)
    if not isinstance(history, Mapping) or monitor not in history:
        shown = sorted(history) if isinstance(history, Mapping) else repr(returned)
        raise TrialFailedError(
            f"HyperModel.fit must return model.fit's History (or a dict of metrics) holding the objective "
            f"{monitor!r}, but returned {shown}."
        )
    return {k: list(v) if isinstance(v, (list, tuple)) else [v] for k, v in history.items()}


@contextlib.contextmanager
def _epochs_of_unknown_length(data: TrainingData | StreamingData) -> Iterator[None]:
    """Quiets Keras's warning at the end of a first epoch of unknown length (TFRecords, a loader's).

    Keras learns how many batches an epoch of a dataset of unknown
    cardinality holds when the first epoch runs out, warns that the input
    "ran out of data; interrupting training", and goes on with the next
    epochs: the end of the data is the end of the epoch, as intended here.
    """
    with warnings.catch_warnings():
        if isinstance(data, OpenedStream) and data.train_batches is None:
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        yield


def _one_batch_per_call_if_needed(
    settings: FitSettings, replicas: int, callbacks: Sequence[keras.callbacks.Callback]
) -> FitSettings:
    """``settings`` with ``steps_per_execution=1`` for ``"auto"`` on several replicas or with a batch-level callback."""
    if settings.steps_per_execution == "auto" and (replicas > 1 or any(map(_needs_every_batch, callbacks))):
        # Keras 3.15's multi-batch loop fails on several replicas: "You must feed a value for
        # placeholder tensor" under a MirroredStrategy (tests/trainers/test_devices.py).
        return dataclasses.replace(settings, steps_per_execution=1)
    return settings


def _checkpoint_directory(
    checkpoint_dir: str | Path, resume_from: str | Path | None
) -> tuple[Path, Progress | None]:
    """The trial's checkpoint directory, made if missing, and the progress of the checkpoint it resumes."""
    directory = Path(checkpoint_dir)
    directory.mkdir(parents=True, exist_ok=True)
    if resume_from is None:
        return directory, None
    copy_checkpoint(Path(resume_from), directory)
    return directory, Progress.read(directory)


def _compiled_model(
    full: CheckedConfig,
    data: TrainingData | StreamingData,
    settings: FitSettings,
    build: BuildFn | None,
    directory: Path,
    resume: Progress | None,
) -> keras.Model:
    """The restored model of a resumed trial, else the user's ``build``'s, else the config's, compiled."""
    if resume is not None:
        model = keras.saving.load_model(directory / LAST_FILE)  # compiled, optimizer state included
        _rescale_learning_rate(model, full["learning_rate"], resume)
        return model
    if build is not None:
        return build_custom(build, full, data, settings=settings)
    model = build_model(full, data)
    compile_model(model, full, data, settings=settings)
    return model


def _fine_tuning(
    full: CheckedConfig,
    data: TrainingData | StreamingData,
    settings: FitSettings,
    schedule: EpochSchedule,
    y_train: np.ndarray,
    resume: Progress | None,
) -> FineTuning | None:
    """A backbone's switch to its second phase (`FineTuning`); ``None`` for a model without one."""
    backbone = backbone_of(body_layers(full))
    if backbone is None:
        return None

    def recompile(model: keras.Model, epoch: int) -> None:
        compile_model(model, {**full, "learning_rate": schedule(epoch)}, data, settings=settings)
        _make_variables_before_the_trace(model, _rows(data)[0], y_train)
        model.make_train_function(force=True)  # compile dropped the one fit is running

    return FineTuning(fine_tune_of(backbone[1]), recompile, phase=resume.phase if resume else 1)


def _validation_batching(
    model: keras.Model,
    data: TrainingData | StreamingData,
    batch_size: int,
    replicas: int,
    strategy: tf.distribute.Strategy | None,
) -> tuple[int, int]:
    """Rows per validation batch, and how many first validation passes run eagerly."""
    if not isinstance(data, TrainingData):  # the pipelines are batched with batch_size already
        return batch_size, 0
    # One device only: under a MirroredStrategy on two CPUs, Keras 3.15 failed on one batch of
    # digits' 359 validation rows (AddN: [180,64] != [179,64]; tests/trainers/test_devices.py).
    validation_batch = batch_size
    if replicas == 1:
        validation_batch = _validation_batch_size(model, len(data.x_val), batch_size)
    # One batch on one device: the first passes run eagerly, except on a TPU (tf.function only).
    eager_validation = (
        replicas == 1
        and validation_batch >= len(data.x_val)
        and not isinstance(strategy, tf.distribute.TPUStrategy)
    )
    return validation_batch, EAGER_VALIDATION_PASSES if eager_validation else 0


def _outcome(
    history: dict[str, list[float]],
    settings: FitSettings,
    checkpoint: Path,
    duration_s: float,
    model: keras.Model,
) -> TrainOutcome:
    """The outcome of a fit, its best epoch read from the monitored metric's history."""
    monitored = history.get(settings.monitor, [])
    finite = [v for v in monitored if math.isfinite(v)]
    best_value = best_of(finite, settings.mode) if finite else math.nan
    best_epoch = monitored.index(best_value) + 1 if finite else 0
    return TrainOutcome(
        history=history,
        epochs_run=len(monitored),
        best_epoch=best_epoch,
        best_value=best_value,
        checkpoint=checkpoint,
        duration_s=duration_s,
        model=model,
    )
