"""Shape checks without TensorFlow: can a layer sequence be built on an input?

Shapes are per sample (no batch axis). The rules mirror how the trainer builds
models: a Dense layer or the output head flattens what it gets; recurrent
layers return sequences when the next layer needs them; Conv layers need
``(steps, channels)`` or ``(height, width, channels)``; image preprocessing
layers come before all others, on ``(height, width, channels)``; Embedding,
Normalization and Backbone only come first (after preprocessing layers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from search_spaces._checks import is_int
from search_spaces._errors import ConfigError, located
from search_spaces._layers import LayerTemplate
from search_spaces._params import Categorical, Fixed, Float, Int, Parameter
from search_spaces._schema import BACKBONES, FIRST_ONLY, PREPROCESSING
from search_spaces._stack import LayerStack, Repeat

__all__ = ["Shape", "check_layers", "check_stacks", "layer_output", "propagate"]

# Sizes per axis; ``None`` is a size the space leaves open (e.g. searched units).
Shape = tuple[int | None, ...]

_NEEDS = {"conv1d": (2, "(steps, channels)"), "conv2d": (3, "(height, width, channels)")}
_RECURRENT = {"lstm": "(steps, features)", "gru": "(steps, features)"}


def _shrink(size: int | None, layer: Mapping[str, Any], axis: str) -> int | None:
    if size is None:
        return None
    out = size - layer["kernel_size"] + 1 if layer.get("padding") == "valid" else size
    if layer.get("pool", "none") != "none" and layer.get("pool_size"):
        out //= layer["pool_size"]
    if out < 1:
        fixes = ["a smaller pool_size", "fewer layers"]
        if layer.get("padding") == "valid":
            fixes.insert(0, "padding 'same'")
        raise ConfigError(
            f"the {layer['type']} layer (kernel_size={layer['kernel_size']}, padding={layer.get('padding')!r}, "
            f"pool={layer.get('pool')!r}, pool_size={layer.get('pool_size')}) can shrink the {axis} "
            f"{size} below 1; use {' or '.join(fixes)}."
        )
    return out


def _backbone_output(layer: Mapping[str, Any], shape: Shape) -> Shape:
    """A backbone takes RGB images at least its minimum in height and width; it gives one vector."""
    name = layer.get("name")
    if len(shape) != 3 or shape[-1] != 3:
        raise ConfigError(
            f"the {name} backbone needs RGB images of shape (height, width, 3) per sample, but gets {shape}; "
            "give grayscale images three channels (e.g. np.repeat(x, 3, axis=-1))."
        )
    least = BACKBONES.get(str(name), 1)
    small = [size for size in shape[:2] if size is not None and size < least]
    if small:
        raise ConfigError(
            f"the {name} backbone needs images of at least {least}x{least} pixels, but the input has shape "
            f"{shape}; resize the images (e.g. with a resizing layer before it)."
        )
    return (None,)


def _preprocessed(layer: Mapping[str, Any], shape: Shape, *, first: bool) -> Shape:
    """Image preprocessing takes the raw images ``(height, width, channels)``; resizing sets their size."""
    kind = layer["type"]
    if not first:
        raise ConfigError(
            f"the {kind} layer preprocesses the raw images, so it must come before every other layer of "
            "the model, but other layers come before it; move it to the start of the first stack."
        )
    if len(shape) != 3:
        raise ConfigError(
            f"the {kind} layer works on images of shape (height, width, channels) per sample, but the "
            f"input has shape {shape}; image preprocessing layers apply only to image data."
        )
    if kind == "resizing":
        return (layer.get("height"), layer.get("width"), shape[-1])
    return shape


def layer_output(layer: Mapping[str, Any], shape: Shape, *, first: bool) -> Shape:
    """The per-sample output shape of one layer dict on an input of ``shape``.

    Raises:
        ConfigError: The layer cannot take that input (without a field path;
            the caller adds the layer's).
    """
    kind = layer["type"]
    if kind in PREPROCESSING:
        return _preprocessed(layer, shape, first=first)
    if kind in FIRST_ONLY and not first:
        raise ConfigError(
            f"the {kind} layer must be the model's first layer, but other layers come before it (only image "
            "preprocessing layers may)."
        )
    if kind == "embedding":
        if len(shape) != 1:
            raise ConfigError(f"the embedding layer needs token ids of shape (steps,), but gets {shape}.")
        return (shape[0], layer.get("output_dim"))
    if kind in _NEEDS or kind in _RECURRENT:
        rank, axes = _NEEDS.get(kind, (2, _RECURRENT.get(kind, "")))
        if len(shape) != rank:
            hint = " (reshape images to (height, width, 1))" if kind == "conv2d" and len(shape) == 2 else ""
            raise ConfigError(
                f"the {kind} layer needs a {rank}-D input per sample {axes}, but gets {shape}{hint}."
            )
        if kind in _RECURRENT:
            return (shape[0], layer.get("units"))
        names = ("steps",) if rank == 2 else ("height", "width")
        spatial = tuple(_shrink(size, layer, name) for size, name in zip(shape[:-1], names, strict=True))
        return (*spatial, layer.get("filters"))
    if kind == "backbone":
        return _backbone_output(layer, shape)
    if kind == "dense":
        return (layer.get("units"),)
    return shape  # dropout and normalizations keep the shape


def check_layers(layers: Sequence[Mapping[str, Any]], input_shape: Shape, *, first: bool = True) -> Shape:
    """Walks a concrete layer list; returns the output shape.

    Raises:
        ConfigError: With field ``<i>``, the first layer that cannot be built.
    """
    shape = tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            shape = layer_output(layer, shape, first=first)
        except ConfigError as exc:
            raise exc.at(str(i)) from exc
        first = first and layer["type"] in PREPROCESSING
    return shape


def _worst(param: Parameter, *, largest: bool = True) -> Any:
    """The value of ``param`` that shrinks shapes most (the largest kernel or pool; the smallest size)."""
    if isinstance(param, (Int, Float)):
        return param.high if largest else param.low
    if isinstance(param, Fixed):
        return param.value
    if isinstance(param, Categorical):
        numbers = [c for c in param.choices if is_int(c, plain=True)]
        if not numbers:
            return param.choices[0]
        return max(numbers) if largest else min(numbers)
    return False


def _worst_case(template: LayerTemplate) -> dict[str, Any]:
    """The layer dict of ``template`` that shrinks its input most."""
    params = template.parameters()
    layer: dict[str, Any] = {"type": template.kind}
    for name, param in params.items():
        smallest = template.kind == "resizing" and name in ("height", "width")
        layer[name] = (
            None if name in ("units", "filters", "output_dim") else _worst(param, largest=not smallest)
        )
    names = params.get("name")
    if template.kind == "backbone" and isinstance(names, Categorical):
        layer["name"] = max(names.choices, key=lambda n: BACKBONES.get(str(n), 0))  # the largest minimum size
    for name, prefer in (("padding", "valid"), ("pool", "max"), ("pool", "average")):
        choice = params.get(name)
        if isinstance(choice, Categorical) and prefer in choice.choices:
            layer[name] = prefer
    return layer


State = tuple[Shape, bool]  # a shape and whether only preprocessing layers came before it


def propagate(templates: Sequence[LayerTemplate], states: Iterable[State]) -> set[State]:
    """Every (shape, first) after one layer chosen among ``templates`` from any of ``states``.

    Raises:
        ConfigError: Some template cannot take one of the shapes.
    """
    out: set[State] = set()
    for shape, first in states:
        for template in templates:
            leading = first and template.kind in PREPROCESSING
            out.add((layer_output(_worst_case(template), shape, first=first), leading))
    return out


def check_stacks(nodes: Mapping[str, Any], input_shape: Shape) -> None:
    """`Space.check_input_shape` over a space's entries: its stacks, in order, from ``input_shape``."""
    states: set[State] = {(tuple(input_shape), True)}
    for name, node in nodes.items():
        if isinstance(node, LayerStack):
            states = _walk(name, [node.templates] * node.max_layers, node.min_layers, states)
        elif isinstance(node, Repeat):
            counts = node._counts()
            positions = [(t,) for t in node.block] * counts[-1]
            states = _walk(name, positions, node.min_layers, states, every=len(node.block))
    if not states:  # pragma: no cover - a stack always has a depth
        raise ConfigError("the space produces no model.")


def _walk(name: str, positions: list[Any], least: int, states: set[State], every: int = 1) -> set[State]:
    """The states after each depth ``least`` or more (a multiple of ``every``) of ``positions``."""
    reachable = set(states) if least == 0 else set()
    current = states
    for i, templates in enumerate(positions):
        with located(f"space.{name}.{i}"):
            current = propagate(templates, current)
        if i + 1 >= least and (i + 1) % every == 0:
            reachable |= current
    return reachable
