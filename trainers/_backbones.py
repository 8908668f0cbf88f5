"""``keras.applications`` backbones: built with their own preprocessing, checked before a trial, fine-tuned in it.

A ``backbone`` layer dict (`search_spaces.Backbone`) becomes the backbone model
called with ``training=False`` (its BatchNormalization layers always run in
inference mode, as the Keras transfer-learning guide advises), after the
preprocessing its family expects. The model starts with the backbone frozen;
`unfreeze` opens it from ``fine_tune_at`` for the second phase.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces import Backbone, Categorical, ConfigError, Float, Int, LayerStack, Parameter, Repeat, Space
from search_spaces._checks import is_int
from search_spaces._schema import BACKBONES, PREPROCESSING
from search_spaces._suggest import did_you_mean

if TYPE_CHECKING:
    import keras

__all__ = [
    "BACKBONE_LAYER",
    "PHASE_METRIC",
    "FineTune",
    "backbone_of",
    "build_backbone",
    "check_backbones",
    "fine_tune_of",
    "unfreeze",
]

# The name of the backbone inside a trial's model, so that a restored model finds it.
BACKBONE_LAYER = "backbone"
# The epoch log entry `FineTuning` adds: 1 while the backbone is frozen, 2 once fine-tuned.
PHASE_METRIC = "phase"


# keras.applications backbones (each the name of its constructor there) → whether the model scales raw
# pixels itself (include_preprocessing, or always); otherwise its preprocess_input is mode "tf":
# x / 127.5 - 1, a Rescaling layer. Keras is imported when a backbone is built, not with this module,
# which the driver imports to plan any run.
_PREPROCESSES: dict[str, bool] = {
    "EfficientNetB0": True,
    "EfficientNetB1": True,
    "EfficientNetB2": True,
    "EfficientNetB3": True,
    "MobileNetV2": False,
    "MobileNetV3Small": True,
    "MobileNetV3Large": True,
    "ResNet50V2": False,
    "ConvNeXtTiny": True,
}


@dataclasses.dataclass(frozen=True)
class FineTune:
    """The second phase of a backbone's trial: from which epoch, where, and at what learning rate."""

    head_epochs: int
    fine_tune_at: float | int | str
    lr_factor: float


def backbone_of(body: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[str, Mapping[str, Any]] | None:
    """The (field, layer dict) of the body's backbone, which can only be its first layer after preprocessing."""
    first = next((item for item in body if item[1]["type"] not in PREPROCESSING), None)
    return first if first is not None and first[1]["type"] == "backbone" else None


def fine_tune_of(layer: Mapping[str, Any]) -> FineTune:
    return FineTune(int(layer["head_epochs"]), layer["fine_tune_at"], float(layer["fine_tune_lr_factor"]))


def _backbone(
    layer: Mapping[str, Any], input_shape: Sequence[int | None], weights: str | None = None
) -> keras.Model:
    """The backbone without its top, pooled, named `BACKBONE_LAYER`; ``weights`` ``None`` or ``"imagenet"``."""
    import keras

    model = getattr(keras.applications, layer["name"])(
        include_top=False, weights=weights, input_shape=tuple(input_shape), pooling=layer["pooling"]
    )
    # keras.applications names each model after its family; the trial's model looks it up by this name.
    return keras.Model(model.input, model.output, name=BACKBONE_LAYER)


def build_backbone(x: Any, layer: Mapping[str, Any], field: str) -> Any:
    """The preprocessing and the frozen backbone on the raw images ``x``, its weights loaded."""
    import keras

    weights = layer["weights"]
    backbone = _backbone(layer, tuple(x.shape[1:]), "imagenet" if weights == "imagenet" else None)
    if weights not in (None, "imagenet"):
        check_weights_file(backbone, Path(weights), f"{field}.weights")
        backbone.load_weights(weights)
    backbone.trainable = False
    if not _PREPROCESSES[layer["name"]]:
        x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess_input")(x)
    return backbone(x, training=False)


def _start(backbone: keras.Model, at: float | int | str, field: str) -> int:
    """The index of the first layer trained in the second phase."""
    layers = backbone.layers
    if isinstance(at, str):
        for i, layer in enumerate(layers):
            if layer.name == at or layer.name.startswith(f"{at}_"):
                return i
        names = [layer.name for layer in layers]
        raise ConfigError(
            f"the backbone has no layer or block named {at!r}{did_you_mean(at, names)}; a layer's name, or "
            f"the start of some (a block such as {names[len(names) // 2].rsplit('_', 1)[0]!r}), is accepted.",
            field=field,
        )
    if is_int(at):
        if at >= len(layers):
            raise ConfigError(
                f"fine_tune_at={at} is beyond the backbone's depth: it has {len(layers)} layers "
                f"(indices 0 to {len(layers) - 1}); use a smaller index or a fraction in (0, 1].",
                field=field,
            )
        return int(at)
    return min(int(float(at) * len(layers)), len(layers) - 1)


def unfreeze(model: keras.Model, at: float | int | str) -> None:
    """Trains the backbone's layers from ``at`` on, its BatchNormalization layers excepted."""
    import keras

    backbone = model.get_layer(BACKBONE_LAYER)
    start = _start(backbone, at, "fine_tune_at")
    backbone.trainable = True
    for i, layer in enumerate(backbone.layers):
        if i < start or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def _snake_case(name: str) -> str:
    """A class name as Keras's weights files name its layers: ``BatchNormalization`` → ``batch_normalization``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _paths(backbone: keras.Model) -> list[tuple[str, keras.layers.Layer]]:
    """Each layer's group in a Keras 3 ``.weights.h5`` file: its class's name, numbered in the layers' order.

    Keras addresses layers so rather than by their names, which are made
    up anew in each session (``activation_12``).
    """
    used: dict[str, int] = {}
    out = []
    for layer in backbone.layers:
        base = _snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        out.append((f"{base}_{used[base]}" if used[base] else base, layer))
    return out


def _stored_shapes(path: Path, backbone: keras.Model, field: str) -> list[tuple[str, list[Any], list[Any]]]:
    """(layer name, its weights' shapes, those the file holds) for each layer with weights."""
    import h5py

    try:
        file = h5py.File(path, "r")
    except OSError as exc:
        raise ConfigError(
            f"{str(path)!r} is not a Keras weights file (.weights.h5): {exc}; write one with "
            "backbone.save_weights(...).",
            field=field,
        ) from exc
    with file:
        if "layers" not in file:
            raise ConfigError(
                f"{str(path)!r} is not a Keras 3 weights file (no 'layers' group); write one with "
                "backbone.save_weights('NAME.weights.h5') from the backbone built without its top.",
                field=field,
            )
        out = []
        for group, layer in _paths(backbone):
            shapes = [tuple(w.shape) for w in layer.weights]
            if shapes:
                found = file.get(f"layers/{group}/vars")
                stored = [tuple(found[k].shape) for k in sorted(found, key=int)] if found is not None else []
                out.append((layer.name, shapes, stored))
    return out


def check_weights_file(backbone: keras.Model, path: Path, field: str) -> None:
    """Raises unless ``path`` holds weights of every layer of ``backbone``, each of its shapes."""
    if not path.is_file():
        raise ConfigError(
            f"the weights file {str(path)!r} does not exist; give the path of a file written by "
            "backbone.save_weights(...) (a .weights.h5 file), None, or 'imagenet'.",
            field=field,
        )
    for name, shapes, stored in _stored_shapes(path, backbone, field):
        if shapes != stored:
            raise ConfigError(
                f"the weights file {str(path)!r} does not fit the backbone: its first mismatching layer is "
                f"{name!r}, whose weights have shapes {shapes}, but the file holds "
                f"{stored or 'no weights'} for it. Save the weights of the same backbone, built without "
                "its top (include_top=False) with the same pooling.",
                field=field,
            )


def _values(param: Parameter) -> list[Any]:
    """The values of ``param`` a check must try: each choice, or a range's ends."""
    if isinstance(param, Categorical):
        return list(param.choices)
    if isinstance(param, (Float, Int)):
        return [param.low, param.high]
    return [param.default_value()]


def _backbone_templates(space: Space) -> list[tuple[str, Backbone]]:
    """Each `Backbone` of the space's stacks, with its path in the space (``space.layers.layers.0``)."""
    out: list[tuple[str, Backbone]] = []
    for name in space:
        node = space[name]
        if isinstance(node, LayerStack):
            templates, key = node.templates, "layers"
        elif isinstance(node, Repeat):
            templates, key = node.block, "block"
        else:
            continue
        out.extend((f"space.{name}.{key}.{i}", t) for i, t in enumerate(templates) if isinstance(t, Backbone))
    return out


def check_backbones(space: Space, input_shape: Sequence[int | None]) -> None:
    """Builds each backbone a space can sample on the data's input shape (no weights), before Ray starts.

    Every weights file and ``fine_tune_at`` value the space can sample is
    checked against every backbone name it can sample with them.

    Raises:
        ConfigError: A weights file is missing or does not fit, or a
            ``fine_tune_at`` is beyond a backbone's depth or names none of its layers.
    """
    for field, template in _backbone_templates(space):
        params = template.parameters()
        pooling = params["pooling"].default_value()
        for name in _values(params["name"]):
            # A resizing layer may enlarge small images first (`Space.check_input_shape` checks the sizes):
            # the depth and the weights' shapes checked here do not depend on them.
            least = BACKBONES[name]
            height, width, channels = input_shape
            shape = (max(height or least, least), max(width or least, least), channels)
            backbone = _backbone({"name": name, "pooling": pooling}, shape)
            for weights in _values(params["weights"]):
                if weights not in (None, "imagenet"):
                    check_weights_file(backbone, Path(weights), f"{field}.weights")
            for at in _values(params["fine_tune_at"]):
                _start(backbone, at, f"{field}.fine_tune_at")
