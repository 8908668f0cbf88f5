"""The layer vocabulary, written once: each layer type's arguments, defaults and accepted values.

Search-space templates (`search_spaces._layers`) check their parameters against
it; the trainer (`trainers._settings`) checks sampled layer dicts and fills
their defaults from it. Neither keeps a list of its own. No Keras here: the
trainer's tests check that Keras knows every name (activations) it lists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Final

from search_spaces._checks import is_int, is_number
from search_spaces._errors import ConfigError
from search_spaces._suggest import did_you_mean

__all__ = [
    "ACTIVATIONS",
    "BACKBONES",
    "FIRST_ONLY",
    "LAYERS",
    "PREPROCESSING",
    "REQUIRED",
    "Arg",
    "Rule",
    "default_of",
    "one_of",
]


@dataclasses.dataclass(frozen=True)
class Rule:
    """What values an argument accepts: numbers in a range, or one of some choices.

    Attributes:
        low, high: Inclusive bounds, unless ``low_open`` or ``high_open``.
        integer: Only ints (never bools).
        choices: The accepted values (compared with their type: ``1`` is not ``True``).
        what: The argument's noun in "unknown <what> 'x'" (choices of names).
        words: What the trainer says it expects, where the derived words do not fit.
        suggest: Whether an unknown name gets a "did you mean" (the choices are the message otherwise).
        test: Decides alone when set (values of several kinds); ``words`` then says what it accepts.
    """

    low: float | None = None
    high: float | None = None
    integer: bool = False
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    what: str = ""
    words: str = ""
    suggest: bool = True
    test: Callable[[Any], bool] | None = None

    def accepts(self, value: Any) -> bool:
        if self.test is not None:
            return self.test(value)
        if self.choices is not None:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if not (is_int(value) if self.integer else is_number(value)):
            return False
        low, high = self.low, self.high
        above = low is None or (value > low if self.low_open else value >= low)
        below = high is None or (value < high if self.high_open else value <= high)
        return above and below

    def describe(self) -> str:
        """The words of a search-space template's message: ``"a number >= 0.0, < 1.0"``."""
        if self.test is not None:
            return self.words
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        kind = "an int" if self.integer else "a number"
        upper = "" if self.high is None else f", {'<' if self.high_open else '<='} {self.high}"
        return f"{kind} >= {self.low}{upper}"

    def accepted(self) -> str:
        """The words of the trainer's message: ``"a number in [0, 1)"``, ``"a finite number > 0"``."""
        if self.words:
            return self.words
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        if self.integer:
            return f"an int >= {self.low:g}"
        if self.high is None:
            return f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"

    def check_value(self, value: Any, field: str) -> None:
        """Raises `ConfigError` at ``field`` unless ``value`` is accepted (the trainer's words)."""
        if self.accepts(value):
            return
        names = self.choices is not None and all(isinstance(c, str) for c in self.choices)
        if names and (isinstance(value, str) or not self.words):
            hint = did_you_mean(str(value), self.choices or ()) if self.suggest else ""
            raise ConfigError(
                f"unknown {self.what} {value!r}{hint}; accepted: {list(self.choices or ())}.", field=field
            )
        raise ConfigError(f"expected {self.accepted()}, but got {value!r}.", field=field)


# Keras activation names (`keras.activations.get` knows each; tests/trainers check it).
ACTIVATIONS = (
    "relu", "gelu", "selu", "elu", "silu", "swish", "tanh", "sigmoid", "softplus",
    "softsign", "leaky_relu", "relu6", "mish", "hard_sigmoid", "exponential", "linear",
)  # fmt: skip


def one_of(what: str, *choices: Any) -> Rule:
    """A rule accepting one of ``choices``, named ``what`` in messages."""
    return Rule(choices=choices, what=what)


POSITIVE_INT = Rule(low=1, integer=True)
NON_NEGATIVE_INT = Rule(low=0, integer=True)
RATE = Rule(low=0.0, high=1.0, high_open=True)
BOOL = Rule(choices=(False, True), words="a bool")
# Unknown names get the list alone, as Keras's own "unknown activation" error does.
ACTIVATION = Rule(choices=ACTIVATIONS, what="activation", words="a Keras activation name", suggest=False)


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[Any] = _Required()  # an argument without a default


@dataclasses.dataclass(frozen=True)
class Arg:
    """One argument of a layer type.

    Attributes:
        rule: The values it accepts.
        default: Its value when unset (``None`` or missing); `REQUIRED` if it must be given.
        when: ``(argument, values)``: it exists only when that earlier argument
            takes one of ``values``, and is ``None`` otherwise.
    """

    rule: Rule
    default: Any = REQUIRED
    when: tuple[str, tuple[Any, ...]] | None = None

    @property
    def nullable(self) -> bool:
        """Whether ``None`` is a value of it: unset by default, or inactive."""
        return self.default is None or self.when is not None


_CONV: dict[str, Arg] = {
    "filters": Arg(POSITIVE_INT),
    "kernel_size": Arg(POSITIVE_INT, 3),
    "activation": Arg(ACTIVATION, "relu"),
    "padding": Arg(one_of("padding", "same", "valid"), "same"),
    "pool": Arg(one_of("pool", "max", "average", "none"), "max"),
    "pool_size": Arg(POSITIVE_INT, 2, when=("pool", ("max", "average"))),
}
# keras.applications backbones (`Backbone`): name → the smallest height and width each builds on.
BACKBONES: dict[str, int] = {
    "EfficientNetB0": 32,
    "EfficientNetB1": 32,
    "EfficientNetB2": 32,
    "EfficientNetB3": 32,
    "MobileNetV2": 32,
    "MobileNetV3Small": 32,
    "MobileNetV3Large": 32,
    "ResNet50V2": 32,
    "ConvNeXtTiny": 32,
}


def _weights(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _fine_tune_at(value: Any) -> bool:
    if isinstance(value, str):
        return value != ""
    if is_int(value):
        return value >= 0
    return is_number(value) and 0 < value <= 1


_BACKBONE: dict[str, Arg] = {
    "name": Arg(one_of("backbone", *BACKBONES)),
    "weights": Arg(Rule(test=_weights, words="None, 'imagenet' or the path of a weights file"), None),
    "pooling": Arg(one_of("pooling", "avg", "max"), "avg"),
    "head_epochs": Arg(NON_NEGATIVE_INT, 2),
    "fine_tune_at": Arg(
        Rule(
            test=_fine_tune_at,
            words="a fraction of the backbone's depth in (0, 1], a layer index (an int >= 0) or a layer name",
        ),
        0.7,
    ),
    "fine_tune_lr_factor": Arg(Rule(low=0, low_open=True), 0.1),
}


def _nonzero(value: Any) -> bool:
    return is_number(value) and value != 0


# keras.layers image preprocessing: the interpolations and fills of the random affine layers.
_INTERPOLATION = Arg(one_of("interpolation", "bilinear", "nearest"), "bilinear")
_FILL_MODE = Arg(one_of("fill_mode", "reflect", "wrap", "constant", "nearest"), "reflect")
# A random layer's factor: one number f >= 0, drawn in [-f, f] (Keras's bounds for each layer).
_FRACTION = Rule(low=0.0, high=1.0)
_ZOOM = Rule(low=0.0, high=1.0, high_open=True)  # a zoom in by 100 % leaves no image
_RECURRENT: dict[str, Arg] = {
    "units": Arg(POSITIVE_INT),
    "dropout": Arg(RATE, 0.0),
    "bidirectional": Arg(BOOL, False),
}
# Each layer type's arguments besides "type", in the order of a sampled layer dict.
LAYERS: dict[str, dict[str, Arg]] = {
    "dense": {"units": Arg(POSITIVE_INT), "activation": Arg(ACTIVATION, "relu"), "dropout": Arg(RATE, 0.0)},
    "dropout": {"rate": Arg(RATE)},
    "batch_normalization": {},
    "layer_normalization": {},
    "normalization": {},
    "conv1d": _CONV,
    "conv2d": _CONV,
    "lstm": _RECURRENT,
    "gru": _RECURRENT,
    "embedding": {"output_dim": Arg(POSITIVE_INT), "input_dim": Arg(POSITIVE_INT, None)},
    "backbone": _BACKBONE,
    "rescaling": {
        "scale": Arg(Rule(test=_nonzero, words="a finite number other than 0")),
        "offset": Arg(Rule(test=is_number, words="a finite number"), 0.0),
    },
    "resizing": {
        "height": Arg(POSITIVE_INT),
        "width": Arg(POSITIVE_INT),
        "interpolation": Arg(
            one_of("interpolation", "bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area"),
            "bilinear",
        ),
        "crop_to_aspect_ratio": Arg(BOOL, False),
    },
    "random_flip": {
        "mode": Arg(
            one_of("mode", "horizontal", "vertical", "horizontal_and_vertical"), "horizontal_and_vertical"
        )
    },
    "random_rotation": {"factor": Arg(_FRACTION), "fill_mode": _FILL_MODE, "interpolation": _INTERPOLATION},
    "random_zoom": {
        "height_factor": Arg(_ZOOM),
        "width_factor": Arg(_ZOOM, None),
        "fill_mode": _FILL_MODE,
        "interpolation": _INTERPOLATION,
    },
    "random_translation": {
        "height_factor": Arg(_FRACTION),
        "width_factor": Arg(_FRACTION),
        "fill_mode": _FILL_MODE,
        "interpolation": _INTERPOLATION,
    },
    "random_contrast": {"factor": Arg(_FRACTION)},
}
# Image preprocessing and augmentation, applied to the raw images before any other layer
# (Keras's random layers transform only in training; at inference they pass images through).
PREPROCESSING = (
    "rescaling", "resizing", "random_flip", "random_rotation", "random_zoom", "random_translation",
    "random_contrast",
)  # fmt: skip
# Layers that take the raw features, so only the first layer of a model body may be one
# (after preprocessing layers, if any).
FIRST_ONLY = ("embedding", "normalization", "backbone")


def default_of(kind: str, name: str) -> Any:
    """The default of argument ``name`` of layer type ``kind`` (for the templates' fields)."""
    return LAYERS[kind][name].default
