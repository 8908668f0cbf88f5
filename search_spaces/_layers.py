"""Layer templates: one Keras layer whose arguments may be searched.

A template samples to plain data, ``{"type": "dense", "units": 64, ...}``; the
trainer turns that dict into a Keras layer. Templates never import Keras, so
each checks its own arguments (ranges, names of activations) where they enter,
against the layer vocabulary the trainer builds from (`search_spaces._schema`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from search_spaces._conditions import check_references, is_active
from search_spaces._errors import ConfigError, located
from search_spaces._params import (
    Categorical,
    Fixed,
    Float,
    Int,
    Parameter,
    as_parameter,
    parameter_from_dict,
)
from search_spaces._schema import LAYERS, Arg, default_of
from search_spaces._suggest import check_fields, did_you_mean

if TYPE_CHECKING:
    import optuna

__all__ = [
    "GRU",
    "LSTM",
    "Backbone",
    "BatchNormalization",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "LayerNormalization",
    "LayerTemplate",
    "Normalization",
    "RandomContrast",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
    "template_from_dict",
]


def _check(arg: Arg, param: Parameter) -> None:
    """Raises if some value ``param`` can produce is not one ``arg`` accepts."""
    rule = arg.rule
    if isinstance(param, (Float, Int)):
        if rule.choices is not None or (rule.integer and isinstance(param, Float)):
            raise ConfigError(f"expected {rule.describe()}, but got {param!r}.")
        values: tuple[Any, ...] = (param.low, param.high)
    elif isinstance(param, Categorical):
        values = tuple(param.choices)
    elif isinstance(param, Fixed):
        values = (param.value,)
    else:  # Boolean
        values = (False, True)
    for value in values:
        if not (rule.accepts(value) or (value is None and arg.nullable)):
            names = rule.choices is not None and isinstance(value, str) and rule.suggest
            hint = did_you_mean(value, rule.choices or ()) if names else ""
            raise ConfigError(f"expected {rule.describe()}, but got {value!r}{hint}.")


class LayerTemplate:
    """Base class of layer templates; subclasses are frozen dataclasses.

    Each argument is a parameter (`Float`, `Int`, `Categorical`, `Boolean`) or
    a plain value (fixed). An argument may carry ``when=`` to exist only for
    some values of an earlier argument of the same layer.
    """

    kind: ClassVar[str]

    def __post_init__(self) -> None:
        earlier: dict[str, Parameter] = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            with located(field.name):
                param = as_parameter(getattr(self, field.name))
                _check(LAYERS[self.kind][field.name], param)
                check_references(param.when, earlier, f"argument of the {self.kind} layer")
                object.__setattr__(self, field.name, param)
                earlier[field.name] = param

    def parameters(self) -> dict[str, Parameter]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    def keys(self) -> list[str]:
        """The keys of a sampled layer dict, ``"type"`` first."""
        return ["type", *self.parameters()]

    def sample(
        self, trial: optuna.Trial, prefix: str, shared: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Samples the layer's arguments as ``<prefix>.<arg>``; ``shared`` values are taken as given."""
        shared = shared or {}
        layer: dict[str, Any] = {"type": self.kind}
        for name, param in self.parameters().items():
            if name in shared:
                layer[name] = shared[name]
            elif is_active(param.when, layer):
                layer[name] = param.sample(trial, f"{prefix}.{name}")
            else:
                layer[name] = None
        return layer

    def default_config(self) -> dict[str, Any]:
        layer: dict[str, Any] = {"type": self.kind}
        for name, param in self.parameters().items():
            layer[name] = param.default_value() if is_active(param.when, layer) else None
        return layer

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        for name, param in self.parameters().items():
            plain = isinstance(param, Fixed) and param.when is None
            out[name] = param.value if plain else param.to_dict()  # type: ignore[union-attr]
        return out

    def __repr__(self) -> str:
        args = ", ".join(
            f"{k}={p.value!r}" if isinstance(p, Fixed) and p.when is None else f"{k}={p!r}"
            for k, p in self.parameters().items()
        )
        return f"{type(self).__name__}({args})"


@dataclasses.dataclass(frozen=True, repr=False)
class Dense(LayerTemplate):
    """A ``keras.layers.Dense`` layer, optionally followed by dropout.

    On an input with more than one axis per sample (images, sequences) the
    trainer flattens it first.

    Args:
        units: Number of units (>= 1); a parameter or a fixed int.
        activation: Keras activation name. Defaults to `"relu"`.
        dropout: Dropout rate after the layer, in [0, 1); 0 adds no layer.
            Defaults to `0.0`.

    Examples:
        >>> from search_spaces import Int, Float
        >>> Dense(units=Int(16, 128, log=True), dropout=Float(0.0, 0.5))
        Dense(units=Int(low=16, high=128, log=True), activation='relu', dropout=Float(low=0.0, high=0.5))
    """

    kind: ClassVar[str] = "dense"
    units: Any
    activation: Any = default_of("dense", "activation")
    dropout: Any = default_of("dense", "dropout")


@dataclasses.dataclass(frozen=True, repr=False)
class Dropout(LayerTemplate):
    """A ``keras.layers.Dropout`` layer.

    Args:
        rate: Fraction of inputs to drop, in [0, 1).
    """

    kind: ClassVar[str] = "dropout"
    rate: Any


@dataclasses.dataclass(frozen=True, repr=False)
class BatchNormalization(LayerTemplate):
    """A ``keras.layers.BatchNormalization`` layer (no arguments are searched)."""

    kind: ClassVar[str] = "batch_normalization"


@dataclasses.dataclass(frozen=True, repr=False)
class LayerNormalization(LayerTemplate):
    """A ``keras.layers.LayerNormalization`` layer (no arguments are searched)."""

    kind: ClassVar[str] = "layer_normalization"


@dataclasses.dataclass(frozen=True, repr=False)
class Normalization(LayerTemplate):
    """A ``keras.layers.Normalization`` preprocessing layer adapted to the training features.

    Only valid as the first layer of the model; it replaces the normalization
    the trainer otherwise puts first.
    """

    kind: ClassVar[str] = "normalization"


@dataclasses.dataclass(frozen=True, repr=False)
class _Conv(LayerTemplate):
    """The arguments of the convolution templates; ``pool_size`` exists only with pooling."""

    filters: Any
    kernel_size: Any = default_of("conv2d", "kernel_size")
    activation: Any = default_of("conv2d", "activation")
    padding: Any = default_of("conv2d", "padding")
    pool: Any = default_of("conv2d", "pool")
    pool_size: Any = None  # the schema's default when pooling (see __post_init__)

    def __post_init__(self) -> None:
        on, pooling_kinds = LAYERS[self.kind]["pool_size"].when or ("pool", ())
        pool, pool_size = getattr(self, on), getattr(self, "pool_size")  # noqa: B009
        never_pools = pool == "none" or pool == Fixed("none")
        if never_pools and pool_size not in (None, Fixed(None)):
            raise ConfigError(
                f"pool_size applies only when pooling, but pool is 'none' (got pool_size={pool_size!r}).",
                field="pool_size",
            )
        if pool_size is None and not never_pools:
            pool_size = default_of(self.kind, "pool_size")  # the default window when pooling
            object.__setattr__(self, "pool_size", pool_size)
        if isinstance(pool, Categorical) and getattr(pool_size, "when", None) is None:
            pooling = [c for c in pool.choices if c in pooling_kinds]
            if pooling and len(pooling) < len(pool.choices):
                # Without pooling the size means nothing: don't let TPE learn from it.
                size = pool_size if isinstance(pool_size, (Int, Categorical, Fixed)) else Fixed(pool_size)
                object.__setattr__(self, "pool_size", dataclasses.replace(size, when={on: pooling}))
        super().__post_init__()


@dataclasses.dataclass(frozen=True, repr=False)
class Conv1D(_Conv):
    """A ``keras.layers.Conv1D`` layer over sequences ``(steps, channels)``, then optional pooling.

    Args:
        filters: Number of filters (>= 1).
        kernel_size: Length of the convolution window (>= 1). Defaults to `3`.
        activation: Keras activation name. Defaults to `"relu"`.
        padding: ``"same"`` keeps the length, ``"valid"`` shrinks it by
            ``kernel_size - 1``. Defaults to `"same"`.
        pool: ``"max"``, ``"average"`` or ``"none"``: pooling after the
            convolution. Defaults to `"max"`.
        pool_size: Pooling window and stride; exists only when pooling.
            Defaults to `2` when pooling, `None` without.
    """

    kind: ClassVar[str] = "conv1d"


@dataclasses.dataclass(frozen=True, repr=False)
class Conv2D(_Conv):
    """A ``keras.layers.Conv2D`` layer over images ``(height, width, channels)``, then optional pooling.

    Args:
        filters: Number of filters (>= 1).
        kernel_size: Side of the square convolution window (>= 1). Defaults to `3`.
        activation: Keras activation name. Defaults to `"relu"`.
        padding: ``"same"`` keeps height and width, ``"valid"`` shrinks
            them by ``kernel_size - 1``. Defaults to `"same"`.
        pool: ``"max"``, ``"average"`` or ``"none"``: pooling after the
            convolution. Defaults to `"max"`.
        pool_size: Side of the pooling window and its stride; exists only
            when pooling. Defaults to `2` when pooling, `None` without.

    Examples:
        >>> from search_spaces import Categorical, Int
        >>> Conv2D(filters=Int(16, 64, log=True), pool=Categorical(["max", "none"])).default_config()
        {'type': 'conv2d', 'filters': 32, 'kernel_size': 3, 'activation': 'relu', 'padding': 'same', 'pool': 'max', 'pool_size': 2}
    """

    kind: ClassVar[str] = "conv2d"


@dataclasses.dataclass(frozen=True, repr=False)
class _Recurrent(LayerTemplate):
    """The arguments of the recurrent templates."""

    units: Any
    dropout: Any = default_of("lstm", "dropout")
    bidirectional: Any = default_of("lstm", "bidirectional")


@dataclasses.dataclass(frozen=True, repr=False)
class LSTM(_Recurrent):
    """A ``keras.layers.LSTM`` layer over sequences ``(steps, features)``.

    The trainer sets ``return_sequences`` from what follows: a sequence when
    the next layer needs one (another recurrent or a Conv1D layer), the last
    output otherwise. So any stack of recurrent layers stays valid.

    Args:
        units: Number of units (>= 1).
        dropout: Dropout rate of the inputs, in [0, 1). Defaults to `0.0`.
        bidirectional: Wrap in ``keras.layers.Bidirectional``. Defaults to `False`.
    """

    kind: ClassVar[str] = "lstm"


@dataclasses.dataclass(frozen=True, repr=False)
class GRU(_Recurrent):
    """A ``keras.layers.GRU`` layer over sequences; see `LSTM` for ``return_sequences``.

    Args:
        units: Number of units (>= 1).
        dropout: Dropout rate of the inputs, in [0, 1). Defaults to `0.0`.
        bidirectional: Wrap in ``keras.layers.Bidirectional``. Defaults to `False`.
    """

    kind: ClassVar[str] = "gru"


@dataclasses.dataclass(frozen=True, repr=False)
class Embedding(LayerTemplate):
    """A ``keras.layers.Embedding`` layer over integer token ids ``(steps,)``.

    Only valid as the first layer of the model.

    Args:
        output_dim: Size of each token's vector (>= 1).
        input_dim: Vocabulary size; ``None`` takes the largest token id in
            the training data plus one. Defaults to `None`.
    """

    kind: ClassVar[str] = "embedding"
    output_dim: Any
    input_dim: Any = default_of("embedding", "input_dim")


@dataclasses.dataclass(frozen=True, repr=False)
class Backbone(LayerTemplate):
    """A ``keras.applications`` model as the base of an image model, then fine-tuned in the trial.

    Only valid as the first layer of the model, on images ``(height, width, 3)``
    of raw pixel values (0–255): the backbone's own input preprocessing is part of
    the model, so the saved model takes raw images. Its output is pooled to one
    vector per image; the layers after it (e.g. `Dropout`, `Dense`) and the head
    are the new top.

    The trial trains in two phases, counted as one run of epochs: for
    ``head_epochs`` epochs the backbone is frozen and only the top learns; then
    the backbone's layers from ``fine_tune_at`` on are unfrozen and the model is
    compiled again with the learning rate times ``fine_tune_lr_factor``. Its
    BatchNormalization layers stay frozen, in inference mode, throughout, as the
    Keras transfer-learning guide advises.

    Args:
        name: The backbone: one of ``EfficientNetB0`` to ``EfficientNetB3``,
            ``MobileNetV2``, ``MobileNetV3Small``, ``MobileNetV3Large``,
            ``ResNet50V2``, ``ConvNeXtTiny``.
        weights: ``None`` (random initialization), the path of a weights file
            of that backbone without its top (``backbone.save_weights(...)``;
            a relative path is taken from the current directory), or
            ``"imagenet"`` (downloaded by Keras: needs network access).
            Defaults to `None`.
        pooling: ``"avg"`` or ``"max"``: global pooling of the backbone's
            feature maps. Defaults to `"avg"`.
        head_epochs: Epochs of the first phase (backbone frozen, >= 0);
            ``0`` fine-tunes from the first epoch. Defaults to `2`.
        fine_tune_at: Where the second phase unfreezes from: a fraction of
            the backbone's layers in (0, 1] (``0.7`` trains the top 30 %;
            ``1.0`` only the last layer), a layer index (an int, as in the
            Keras guide's ``fine_tune_at = 100``), or a layer name.
            Defaults to `0.7`.
        fine_tune_lr_factor: The second phase's learning rate is the
            config's times this (> 0). Defaults to `0.1`.

    Examples:
        >>> from search_spaces import Categorical, Float
        >>> Backbone(name=Categorical(["MobileNetV3Small", "EfficientNetB0"]), fine_tune_at=Float(0.5, 0.9))
        Backbone(name=Categorical(choices=['MobileNetV3Small', 'EfficientNetB0']), weights=None, pooling='avg', head_epochs=2, fine_tune_at=Float(low=0.5, high=0.9), fine_tune_lr_factor=0.1)
    """

    kind: ClassVar[str] = "backbone"
    name: Any
    weights: Any = default_of("backbone", "weights")
    pooling: Any = default_of("backbone", "pooling")
    head_epochs: Any = default_of("backbone", "head_epochs")
    fine_tune_at: Any = default_of("backbone", "fine_tune_at")
    fine_tune_lr_factor: Any = default_of("backbone", "fine_tune_lr_factor")

    def __post_init__(self) -> None:
        # Trials run in other directories (Ray's workers): a relative weights path is taken from here.
        weights = self.weights
        if isinstance(weights, Categorical):
            weights = dataclasses.replace(weights, choices=[_absolute(c) for c in weights.choices])
        elif isinstance(weights, Fixed):
            weights = dataclasses.replace(weights, value=_absolute(weights.value))
        else:
            weights = _absolute(weights)
        object.__setattr__(self, "weights", weights)
        super().__post_init__()


def _absolute(weights: Any) -> Any:
    """A weights file's path made absolute; ``None``, ``"imagenet"`` and other values as they are."""
    if isinstance(weights, str) and weights not in ("", "imagenet"):
        return os.path.abspath(weights)
    return weights


# Image preprocessing: only at the start of the model body, before any other layer (the
# trainer applies them to the raw images, before its standardization or a backbone).


@dataclasses.dataclass(frozen=True, repr=False)
class Rescaling(LayerTemplate):
    """A ``keras.layers.Rescaling`` layer: ``x * scale + offset`` on the raw images.

    Only valid at the start of the model body, on images ``(height, width,
    channels)``. It replaces the standardization the trainer otherwise puts
    first: ``Rescaling(scale=1 / 255)`` feeds the next layers pixels in [0, 1].

    Args:
        scale: The factor, a finite number other than 0.
        offset: Added after scaling, a finite number. Defaults to `0.0`.

    Examples:
        >>> Rescaling(scale=1 / 127.5, offset=-1.0).default_config()
        {'type': 'rescaling', 'scale': 0.00784313725490196, 'offset': -1.0}
    """

    kind: ClassVar[str] = "rescaling"
    scale: Any
    offset: Any = default_of("rescaling", "offset")


@dataclasses.dataclass(frozen=True, repr=False)
class Resizing(LayerTemplate):
    """A ``keras.layers.Resizing`` layer: images resized to ``(height, width)`` in the model.

    Only valid at the start of the model body. The layers after it, and a
    `Backbone`'s minimum size, see the new height and width; the saved model
    takes images of the data's size.

    Args:
        height: Height of the output images (>= 1).
        width: Width of the output images (>= 1).
        interpolation: ``"bilinear"``, ``"nearest"``, ``"bicubic"``,
            ``"lanczos3"``, ``"lanczos5"`` or ``"area"``. Defaults to `"bilinear"`.
        crop_to_aspect_ratio: Crop to the output's aspect ratio before
            resizing, rather than distort. Defaults to `False`.
    """

    kind: ClassVar[str] = "resizing"
    height: Any
    width: Any
    interpolation: Any = default_of("resizing", "interpolation")
    crop_to_aspect_ratio: Any = default_of("resizing", "crop_to_aspect_ratio")


@dataclasses.dataclass(frozen=True, repr=False)
class RandomFlip(LayerTemplate):
    """A ``keras.layers.RandomFlip`` layer: images flipped at random while training, unchanged at inference.

    Only valid at the start of the model body.

    Args:
        mode: ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.
            Defaults to `"horizontal_and_vertical"`.
    """

    kind: ClassVar[str] = "random_flip"
    mode: Any = default_of("random_flip", "mode")


@dataclasses.dataclass(frozen=True, repr=False)
class RandomRotation(LayerTemplate):
    """A ``keras.layers.RandomRotation`` layer: images rotated at random while training, unchanged at inference.

    Only valid at the start of the model body.

    Args:
        factor: The largest rotation, a fraction of a full turn in [0, 1]:
            each image turns by an angle drawn in ``[-factor, factor] * 360°``.
        fill_mode: How points outside the image are filled: ``"reflect"``,
            ``"wrap"``, ``"constant"`` (zeros) or ``"nearest"``. Defaults to `"reflect"`.
        interpolation: ``"bilinear"`` or ``"nearest"``. Defaults to `"bilinear"`.

    Examples:
        >>> from search_spaces import Float
        >>> RandomRotation(factor=Float(0.0, 0.1))
        RandomRotation(factor=Float(low=0.0, high=0.1), fill_mode='reflect', interpolation='bilinear')
    """

    kind: ClassVar[str] = "random_rotation"
    factor: Any
    fill_mode: Any = default_of("random_rotation", "fill_mode")
    interpolation: Any = default_of("random_rotation", "interpolation")


@dataclasses.dataclass(frozen=True, repr=False)
class RandomZoom(LayerTemplate):
    """A ``keras.layers.RandomZoom`` layer: images zoomed at random while training, unchanged at inference.

    Only valid at the start of the model body.

    Args:
        height_factor: The largest zoom, a fraction of the height in [0, 1):
            each image is zoomed in or out by a fraction drawn in
            ``[-height_factor, height_factor]``.
        width_factor: The same for the width; ``None`` keeps the aspect
            ratio (the height's zoom). Defaults to `None`.
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or
            ``"nearest"``. Defaults to `"reflect"`.
        interpolation: ``"bilinear"`` or ``"nearest"``. Defaults to `"bilinear"`.
    """

    kind: ClassVar[str] = "random_zoom"
    height_factor: Any
    width_factor: Any = default_of("random_zoom", "width_factor")
    fill_mode: Any = default_of("random_zoom", "fill_mode")
    interpolation: Any = default_of("random_zoom", "interpolation")


@dataclasses.dataclass(frozen=True, repr=False)
class RandomTranslation(LayerTemplate):
    """A ``keras.layers.RandomTranslation`` layer: images shifted at random while training, unchanged at inference.

    Only valid at the start of the model body.

    Args:
        height_factor: The largest vertical shift, a fraction of the height
            in [0, 1], drawn in ``[-height_factor, height_factor]``.
        width_factor: The largest horizontal shift, a fraction of the width in [0, 1].
        fill_mode: ``"reflect"``, ``"wrap"``, ``"constant"`` or
            ``"nearest"``. Defaults to `"reflect"`.
        interpolation: ``"bilinear"`` or ``"nearest"``. Defaults to `"bilinear"`.
    """

    kind: ClassVar[str] = "random_translation"
    height_factor: Any
    width_factor: Any
    fill_mode: Any = default_of("random_translation", "fill_mode")
    interpolation: Any = default_of("random_translation", "interpolation")


@dataclasses.dataclass(frozen=True, repr=False)
class RandomContrast(LayerTemplate):
    """A ``keras.layers.RandomContrast`` layer: contrast changed at random while training, unchanged at inference.

    Only valid at the start of the model body. Keras clips its output to
    pixel values in [0, 255], so put it before a `Rescaling`.

    Args:
        factor: The largest change, in [0, 1]: each image's contrast is
            multiplied by a number drawn in ``[1 - factor, 1 + factor]``.
    """

    kind: ClassVar[str] = "random_contrast"
    factor: Any


TEMPLATES: dict[str, type[LayerTemplate]] = {
    cls.kind: cls
    for cls in (
        Dense,
        Dropout,
        BatchNormalization,
        LayerNormalization,
        Normalization,
        Conv1D,
        Conv2D,
        LSTM,
        GRU,
        Embedding,
        Backbone,
        Rescaling,
        Resizing,
        RandomFlip,
        RandomRotation,
        RandomZoom,
        RandomTranslation,
        RandomContrast,
    )
}


def template_from_dict(data: Any) -> LayerTemplate:
    """Builds a layer template from its dict form.

    Raises:
        ConfigError: The layer type or one of its keys is unknown, or a value is invalid.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping with a `type` key, but got {data!r}.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in TEMPLATES:
        hint = did_you_mean(str(kind), TEMPLATES)
        raise ConfigError(f"unknown layer type {kind!r}{hint}; accepted: {sorted(TEMPLATES)}.", field="type")
    cls = TEMPLATES[kind]
    args = {k: v for k, v in data.items() if k != "type"}
    check_fields(args, cls, f"{kind} layer")
    for key, value in args.items():
        with located(str(key)):
            args[key] = parameter_from_dict(value)
    return cls(**args)
