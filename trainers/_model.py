"""From a sampled config to a compiled Keras model.

The body is built with the functional API, one config layer at a time, so the
per-sample shape is known at each step: a layer that cannot take it raises a
`ConfigError` naming the layer's path instead of a Keras error mid-build.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from search_spaces import ConfigError
from trainers._backbones import build_backbone
from trainers._data import TrainingData
from trainers._settings import (
    Body,
    FitSettings,
    body_layers,
    check_config,
    one_hot_targets,
    split_preprocessing,
)
from trainers._stream import OpenedStream, StreamingData

__all__ = ["BuildFn", "build_custom", "build_model", "compile_model"]

# The user's own model: ``build(config) -> keras.Model`` (KerasTuner's HyperModel.build).
BuildFn = Callable[[dict[str, Any]], Any]

_OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "nadam": keras.optimizers.Nadam,
}
_OPTIMIZER_ARGS = ("momentum", "nesterov", "beta_1", "beta_2", "weight_decay", "clipnorm")
# Losses with label smoothing; sparse targets become one-hot (see one_hot_targets).
_SMOOTHED_LOSSES: dict[str, Callable[..., keras.losses.Loss]] = {
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "binary_focal_crossentropy": keras.losses.BinaryFocalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "categorical_focal_crossentropy": keras.losses.CategoricalFocalCrossentropy,
}
# Batches per call into TensorFlow for steps_per_execution="auto". A small model's batch
# costs about as much Python around it as work; past a few tens of batches a call, that
# overhead is lost in the work (benchmarks/LOG.md, section 2). Models loaded from
# checkpoints keep the value, and their `predict` unrolls that many batches per traced
# call, hence a cap rather than the whole epoch.
AUTO_STEPS_PER_EXECUTION = 32
_SEQUENCE_LAYERS = ("lstm", "gru", "conv1d")  # layers that read (timesteps, features)
_SHAPE_KEEPING = ("dropout", "batch_normalization", "layer_normalization")
_SEQUENCE_HINT = (
    "sequence data, an embedding, conv1d, lstm or gru layer gives one, so shape the features as "
    "(timesteps, features) or move this layer before any dense layer"
)
_IMAGE_HINT = (
    "image-shaped data (e.g. (8, 8, 1)) or another conv2d layer gives one, so reshape the features "
    "or put conv2d layers first"
)


def _shape(x: Any) -> tuple[int | None, ...]:
    """The per-sample shape of a symbolic tensor."""
    return tuple(x.shape[1:])


def _needs_rank(x: Any, rank: int, layer: Mapping[str, Any], field: str) -> None:
    if len(_shape(x)) == rank:
        return
    what, hint = (
        ("(timesteps, features)", _SEQUENCE_HINT) if rank == 2 else ("(height, width, channels)", _IMAGE_HINT)
    )
    raise ConfigError(
        f"{layer['type']} needs a {rank}-D input {what} per sample, but gets shape {_shape(x)}; {hint}.",
        field=field,
    )


def _flat(x: Any) -> Any:
    return keras.layers.Flatten()(x) if len(_shape(x)) > 1 else x


def _dense(x: Any, layer: Mapping[str, Any], field: str, rest: Sequence[Mapping[str, Any]]) -> Any:
    x = keras.layers.Dense(layer["units"], activation=layer["activation"])(_flat(x))
    if layer["dropout"] > 0:
        x = keras.layers.Dropout(layer["dropout"])(x)
    return x


def _check_fits(sizes: Sequence[int | None], need: int, x: Any, message: str, field: str) -> None:
    if any(size is not None and size < need for size in sizes):
        raise ConfigError(message.format(shape=_shape(x)), field=field)


def _conv(x: Any, layer: Mapping[str, Any], field: str, rest: Sequence[Mapping[str, Any]]) -> Any:
    rank = 2 if layer["type"] == "conv1d" else 3
    _needs_rank(x, rank, layer, field)
    kernel, kind = layer["kernel_size"], layer["type"]
    if layer["padding"] == "valid":
        message = (
            f"a 'valid' {kind} kernel of size {kernel} needs every spatial dimension >= {kernel}, but the "
            "input has shape {shape}; use padding 'same' or a smaller kernel_size."
        )
        _check_fits(_shape(x)[:-1], kernel, x, message, f"{field}.kernel_size")
    conv = keras.layers.Conv1D if rank == 2 else keras.layers.Conv2D
    x = conv(layer["filters"], kernel, padding=layer["padding"], activation=layer["activation"])(x)
    if layer["pool"] == "none":
        return x
    size = layer["pool_size"]
    message = (
        f"{layer['pool']} pooling of size {size} would shrink a spatial dimension of shape {{shape}} "
        "below 1; use a smaller pool_size, pool 'none', or fewer pooling layers."
    )
    _check_fits(_shape(x)[:-1], size, x, message, f"{field}.pool_size")
    pools = {
        (2, "max"): keras.layers.MaxPooling1D,
        (2, "average"): keras.layers.AveragePooling1D,
        (3, "max"): keras.layers.MaxPooling2D,
        (3, "average"): keras.layers.AveragePooling2D,
    }
    return pools[rank, layer["pool"]](size)(x)


def _needs_sequence(rest: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the next layer that changes the shape reads a sequence."""
    for layer in rest:
        if layer["type"] in _SEQUENCE_LAYERS:
            return True
        if layer["type"] not in _SHAPE_KEEPING:
            return False
    return False


def _recurrent(x: Any, layer: Mapping[str, Any], field: str, rest: Sequence[Mapping[str, Any]]) -> Any:
    _needs_rank(x, 2, layer, field)
    cls = keras.layers.LSTM if layer["type"] == "lstm" else keras.layers.GRU
    cell = cls(layer["units"], dropout=layer["dropout"], return_sequences=_needs_sequence(rest))
    return (keras.layers.Bidirectional(cell) if layer["bidirectional"] else cell)(x)


_BUILDERS: dict[str, Callable[[Any, Mapping[str, Any], str, Sequence[Mapping[str, Any]]], Any]] = {
    "dense": _dense,
    "dropout": lambda x, layer, field, rest: keras.layers.Dropout(layer["rate"])(x),
    "batch_normalization": lambda x, layer, field, rest: keras.layers.BatchNormalization()(x),
    "layer_normalization": lambda x, layer, field, rest: keras.layers.LayerNormalization()(x),
    "conv1d": _conv,
    "conv2d": _conv,
    "lstm": _recurrent,
    "gru": _recurrent,
}


# Image preprocessing layer types → their Keras layers; a layer dict's arguments are the layer's own.
_PREPROCESSORS: dict[str, Callable[..., keras.layers.Layer]] = {
    "rescaling": keras.layers.Rescaling,
    "resizing": keras.layers.Resizing,
    "random_flip": keras.layers.RandomFlip,
    "random_rotation": keras.layers.RandomRotation,
    "random_zoom": keras.layers.RandomZoom,
    "random_translation": keras.layers.RandomTranslation,
    "random_contrast": keras.layers.RandomContrast,
}


def _preprocess(x: Any, layer: Mapping[str, Any], field: str) -> Any:
    """One image preprocessing layer on the raw images. Its random draws follow Keras's global seed,
    which the trainer sets from the trial's seed before the model is built."""
    if len(_shape(x)) != 3:
        raise ConfigError(
            f"{layer['type']} works on images of shape (height, width, channels) per sample, but gets shape "
            f"{_shape(x)}; image preprocessing layers apply only to image data.",
            field=field,
        )
    return _PREPROCESSORS[layer["type"]](**{k: v for k, v in layer.items() if k != "type"})(x)


def _normalization(data: TrainingData | StreamingData, leading: Body) -> keras.layers.Layer:
    """Standardizes raw features with the training set's mean and variance (per last axis).

    Streamed data bring theirs: from the driver's check (a table's), else
    from a bounded pass in the trial (`open_stream`). A declaration not yet
    opened has none of the latter: its model standardizes nothing until a
    trial builds it. Rescaling layers before it scale the statistics alike.
    """
    mean: Any
    variance: Any
    if isinstance(data, OpenedStream):
        mean, variance = data.mean, data.variance
    elif not isinstance(data, TrainingData):
        mean, variance = data.moments or (0.0, 1.0)
    else:
        axes = tuple(range(data.x_train.ndim - 1))
        mean, variance = data.x_train.mean(axis=axes), np.maximum(data.x_train.var(axis=axes), 1e-6)
    for _, layer in leading:
        if layer["type"] == "rescaling":
            mean, variance = mean * layer["scale"] + layer["offset"], variance * layer["scale"] ** 2
    return keras.layers.Normalization(mean=mean, variance=variance)


def _tabular(inputs: Any, data: TrainingData | StreamingData) -> Any:
    """Standardizes the numeric columns and one-hot encodes the categorical ones.

    Categorical columns come last in the matrix (see `trainers.from_frame`),
    holding vocabulary indices (0: unknown); shifted by their column's offset
    they share one multi-hot layer, each column landing in its own block.
    """
    columns = data.columns or ()
    n_numeric = sum(not c.categorical for c in columns)
    sizes = [len(c.vocabulary) + 1 for c in columns if c.vocabulary is not None]
    offsets = np.cumsum([0, *sizes[:-1]]).astype("float32")
    ids = keras.ops.cast(inputs[:, n_numeric:] + offsets, "int32")
    parts = [keras.layers.CategoryEncoding(num_tokens=sum(sizes), output_mode="multi_hot")(ids)]
    if n_numeric:
        if isinstance(data, TrainingData):
            numeric = data.x_train[:, :n_numeric]
            mean, variance = numeric.mean(axis=0), np.maximum(numeric.var(axis=0), 1e-6)
        else:  # a table's statistics, computed once in the driver
            mean, variance = (
                m[:n_numeric] for m in data.moments or (np.zeros(n_numeric), np.ones(n_numeric))
            )
        normalize = keras.layers.Normalization(mean=mean, variance=variance)
        parts.insert(0, normalize(inputs[:, :n_numeric]))
    return parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)


def _embedding(
    layer: Mapping[str, Any], field: str, data: TrainingData | StreamingData
) -> keras.layers.Layer:
    if not isinstance(data, TrainingData):
        if layer["input_dim"] is None:
            raise ConfigError(
                "an embedding over streamed data needs input_dim (the vocabulary size): the token ids "
                "are read only in the trials.",
                field=f"{field}.input_dim",
            )
        return keras.layers.Embedding(layer["input_dim"], layer["output_dim"])
    if data.columns is not None:
        raise ConfigError(
            "an embedding takes token ids, but the data are a DataFrame's columns; its categorical "
            "columns are one-hot encoded already, so start the body with another layer.",
            field=field,
        )
    if len(data.input_shape) != 1:
        raise ConfigError(
            f"an embedding takes token ids of shape (timesteps,) per sample, but the data have shape "
            f"{data.input_shape}.",
            field=field,
        )
    ids = np.concatenate([data.x_train.ravel(), data.x_val.ravel()])
    if ids.size and (ids.min() < 0 or not np.all(np.mod(ids, 1) == 0)):
        bad = ids[(ids < 0) | (np.mod(ids, 1) != 0)][0]
        raise ConfigError(
            f"an embedding takes token ids (integers >= 0), but the features hold {float(bad):g}; "
            "encode the tokens as ids first.",
            field=field,
        )
    top = int(ids.max()) if ids.size else 0
    input_dim = layer["input_dim"] or top + 1
    if input_dim <= top:
        raise ConfigError(
            f"input_dim must exceed the largest token id, but got input_dim={input_dim} with ids up to "
            f"{top}; leave it unset to use {top + 1}.",
            field=f"{field}.input_dim",
        )
    return keras.layers.Embedding(input_dim, layer["output_dim"])


def _head(data: TrainingData | StreamingData) -> keras.layers.Layer:
    # float32 whatever the policy: under mixed precision, softmax and the loss stay exact.
    if data.task == "multiclass":
        return keras.layers.Dense(data.num_classes, activation="softmax", name="head", dtype="float32")
    if data.task == "binary":
        return keras.layers.Dense(1, activation="sigmoid", name="head", dtype="float32")
    return keras.layers.Dense(1, name="head", dtype="float32")


def build_model(config: Mapping[str, Any], data: TrainingData | StreamingData) -> keras.Model:
    """Builds the model a config describes, with its input and head taken from the data.

    The first layer standardizes the raw features with the training set's mean
    and variance, so the saved model takes raw rows; a body that starts with an
    ``embedding`` (token ids), an explicit ``normalization`` layer or a
    ``backbone`` (raw pixels, its own preprocessing; frozen) replaces it.
    Image preprocessing layers at the start of the body (``rescaling``,
    ``resizing``, ``random_*``) come before all of that, on the raw images; a
    ``rescaling`` among them replaces the standardization.
    Data with categorical columns (`trainers.from_frame`) get those one-hot
    encoded next to the standardized numeric ones.
    Inputs of rank > 1 are flattened only before a dense layer or the head.

    Raises:
        ConfigError: The config is malformed, does not fit the data's task, or
            a layer cannot take the shape it gets (the field names the layer).
    """
    config = check_config(config, task=data.task)
    if isinstance(data, StreamingData) and data.tokens is not None:
        return _text_model(body_layers(config), data)
    leading, body = split_preprocessing(body_layers(config))
    inputs = keras.Input(shape=data.input_shape, name="features")
    x = inputs
    for field, layer in leading:
        x = _preprocess(x, layer, field)
    first = body[0][1]["type"] if body else None
    if first == "embedding":
        x = _embedding(body[0][1], body[0][0], data)(x)
    elif first == "backbone":  # raw pixels: the backbone's own preprocessing comes first
        x = build_backbone(x, body[0][1], body[0][0])
    elif data.categorical:
        x = _tabular(x, data)
    elif first == "normalization" or all(layer["type"] != "rescaling" for _, layer in leading):
        x = _normalization(data, leading)(x)
    if first in ("embedding", "normalization", "backbone"):
        body = body[1:]
    layers = [layer for _, layer in body]
    for i, (field, layer) in enumerate(body):
        x = _BUILDERS[layer["type"]](x, layer, field, layers[i + 1 :])
    outputs = _head(data)(_flat(x))
    return keras.Model(inputs, outputs)


def _text_model(body: Sequence[tuple[str, Mapping[str, Any]]], data: StreamingData) -> keras.Model:
    """Raw strings → ``TextVectorization`` (the trial's adapted vocabulary) → the body, from its embedding."""
    max_tokens, sequence_length = data.tokens or (0, 0)
    vocabulary = data.vocabulary if isinstance(data, OpenedStream) else None
    inputs = keras.Input(shape=(), dtype="string", name="text")
    vectorize = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_sequence_length=sequence_length, vocabulary=vocabulary
    )
    _, embedding = body[0]
    x = keras.layers.Embedding(embedding["input_dim"] or max_tokens, embedding["output_dim"])(
        vectorize(inputs)
    )
    layers = [layer for _, layer in body[1:]]
    for i, (field, layer) in enumerate(body[1:]):
        x = _BUILDERS[layer["type"]](x, layer, field, layers[i + 1 :])
    return keras.Model(inputs, _head(data)(_flat(x)))


def _loss(config: Mapping[str, Any]) -> str | keras.losses.Loss:
    if config["label_smoothing"] == 0:
        return str(config["loss"])
    return _SMOOTHED_LOSSES[config["loss"]](label_smoothing=config["label_smoothing"])


def _metric(name: str, one_hot: bool) -> keras.metrics.Metric:
    """A `FitSettings.metrics` name as the Keras metric logged under that name."""
    if name == "top_3_accuracy":
        top_k = (
            keras.metrics.TopKCategoricalAccuracy if one_hot else keras.metrics.SparseTopKCategoricalAccuracy
        )
        return top_k(k=3, name=name)
    made: dict[str, Callable[[], keras.metrics.Metric]] = {
        "auc": lambda: keras.metrics.AUC(name=name),
        "pr_auc": lambda: keras.metrics.AUC(curve="PR", name=name),
        "precision": lambda: keras.metrics.Precision(name=name),
        "recall": lambda: keras.metrics.Recall(name=name),
        "rmse": lambda: keras.metrics.RootMeanSquaredError(name=name),
        "mse": lambda: keras.metrics.MeanSquaredError(name=name),
        "mape": lambda: keras.metrics.MeanAbsolutePercentageError(name=name),
    }
    return made[name]()


def compile_model(
    model: keras.Model,
    config: Mapping[str, Any],
    data: TrainingData | StreamingData,
    *,
    settings: FitSettings | None = None,
) -> None:
    """Compiles with the config's optimizer and loss, the task's metrics, and ``settings``'s.

    The learning rate stays a plain float (schedules are a callback), so saved
    models load without custom objects. From ``settings``: the extra
    ``metrics``, ``steps_per_execution`` (``"auto"``: one epoch's batches, at
    most `AUTO_STEPS_PER_EXECUTION`) and ``jit_compile``.

    Raises:
        ConfigError: The config is malformed or its loss does not fit the data's task.
    """
    config = check_config(config, task=data.task, custom_model=True)  # only the settings matter here
    kwargs = {key: config[key] for key in _OPTIMIZER_ARGS if config[key] is not None}
    optimizer = _OPTIMIZERS[config["optimizer"]](learning_rate=float(config["learning_rate"]), **kwargs)
    settings = settings or FitSettings()
    if settings.mixed_precision:
        # Wrapped here rather than by compile under the policy: the saved model then names
        # the wrapper, and loads (optimizer state included) whatever the loader's policy.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    one_hot = one_hot_targets(config, data.task)
    extra = [_metric(name, one_hot) for name in settings.metrics]
    base: list[Any] = ["mae"] if data.task == "regression" else ["accuracy"]
    model.compile(
        optimizer=optimizer,
        loss=_loss(config),
        metrics=[*base, *extra],
        steps_per_execution=_steps_per_execution(settings, config, data),
        jit_compile=settings.jit_compile,
    )


def _steps_per_execution(
    settings: FitSettings, config: Mapping[str, Any], data: TrainingData | StreamingData
) -> int:
    if settings.steps_per_execution != "auto":
        return settings.steps_per_execution
    if isinstance(data, TrainingData):
        batches = math.ceil(len(data.x_train) / int(config["batch_size"]))
    elif isinstance(data, OpenedStream) and data.train_batches is not None:
        batches = data.train_batches
    else:  # an epoch of unknown length: one batch per call never runs past its end
        batches = 1
    return max(1, min(batches, AUTO_STEPS_PER_EXECUTION))


def _expected_units(data: TrainingData | StreamingData) -> int:
    return data.num_classes if data.task == "multiclass" else 1


def build_custom(
    build: BuildFn,
    config: Mapping[str, Any],
    data: TrainingData | StreamingData,
    *,
    settings: FitSettings | None = None,
) -> keras.Model:
    """Calls the user's ``build(config)`` and checks that its model fits the data.

    ``build`` gets the config with the trainer's settings filled in
    (``learning_rate``, ``optimizer``, ...) next to its own hyperparameters.
    A model that comes back uncompiled is compiled from the config, as
    `build_model`'s are; a compiled one keeps its own optimizer, loss and
    metrics (they must report the monitored metric).

    Raises:
        ConfigError: ``build`` raised, returned something other than a
            ``keras.Model``, or a model whose input or output does not fit the data.
    """
    full = check_config(config, task=data.task, custom_model=True)
    name = getattr(build, "__qualname__", repr(build))
    try:
        model = build(dict(full))
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"{name}(config) raised {type(exc).__name__}: {exc}", field="build") from exc
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"{name}(config) must return a keras.Model, but returned {type(model).__name__}.", field="build"
        )
    _check_model_fits(model, data, name)
    if not model.compiled:
        compile_model(model, full, data, settings=settings)
    return model


def _check_model_fits(model: keras.Model, data: TrainingData | StreamingData, name: str) -> None:
    """The model's input takes one sample of the data, its output has one unit per class (or one)."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):  # a subclassed model that was never called: Keras checks at fit
        return
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError(
            f"{name}(config) returned a model with {len(inputs)} inputs and {len(outputs)} outputs; "
            "the trainer feeds one feature array and one target.",
            field="build",
        )
    given = _shape(inputs[0])
    if len(given) != len(data.input_shape) or any(
        g is not None and g != d for g, d in zip(given, data.input_shape, strict=True)
    ):
        raise ConfigError(
            f"{name}(config) returned a model whose input takes samples of shape {given}, but the "
            f"data's samples have shape {data.input_shape}.",
            field="build",
        )
    units = _shape(outputs[0])[-1:] or (1,)
    if units[0] is not None and units[0] != _expected_units(data):
        need = f"{data.num_classes} (one per class)" if data.task == "multiclass" else "1"
        raise ConfigError(
            f"{name}(config) returned a model with {units[0]} output units, but a {data.task} task "
            f"needs {need}.",
            field="build",
        )
