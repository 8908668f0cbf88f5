"""Image preprocessing templates: their YAML spelling, and where in a model they may go (no TensorFlow here)."""

from __future__ import annotations

import pytest

from search_spaces import (
    Backbone,
    Categorical,
    ConfigError,
    Conv2D,
    Dense,
    Float,
    Int,
    LayerStack,
    RandomFlip,
    RandomRotation,
    RandomZoom,
    Repeat,
    Resizing,
    Space,
)
from search_spaces._shapes import check_layers
from search_spaces._space import load_space
from trainers import check_config

YAML = """
augment_layers:
  type: repeat
  block:
    - {type: rescaling, scale: 0.00392156862745098}
    - {type: resizing, height: 24, width: 24, interpolation: nearest}
    - {type: random_flip, mode: horizontal}
    - {type: random_rotation, factor: {type: float, low: 0.0, high: 0.2}, fill_mode: constant}
    - {type: random_zoom, height_factor: {type: float, low: 0.0, high: 0.2}}
    - {type: random_translation, height_factor: 0.1, width_factor: {type: float, low: 0.0, high: 0.1}}
    - {type: random_contrast, factor: {type: categorical, choices: [0.1, 0.2]}}
conv_layers:
  type: stack
  layers:
    - {type: conv2d, filters: 8}
"""


def test_the_yaml_spelling_samples_keras_arguments(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(YAML)
    space = load_space(path)
    layers = space.default_config()["augment_layers"]
    assert layers[:3] == [
        {"type": "rescaling", "scale": 1 / 255, "offset": 0.0},
        {
            "type": "resizing",
            "height": 24,
            "width": 24,
            "interpolation": "nearest",
            "crop_to_aspect_ratio": False,
        },
        {"type": "random_flip", "mode": "horizontal"},
    ]
    assert layers[3] == {
        "type": "random_rotation",
        "factor": 0.1,
        "fill_mode": "constant",
        "interpolation": "bilinear",
    }
    assert layers[4]["width_factor"] is None and layers[6]["factor"] == 0.1
    assert {
        "augment_layers.3.factor",
        "augment_layers.4.height_factor",
        "augment_layers.5.width_factor",
    } <= set(space.flat_keys())
    assert Space.from_dict(space.to_dict()) == space
    space.check_input_shape((8, 8, 3))
    assert check_config(space.default_config())["augment_layers"] == layers


@pytest.mark.parametrize(
    "yaml, match",
    [
        (
            "{type: random_rotation, factor: {type: float, low: 0.0, high: 2.0}}",
            r"^space\.a\.layers\.0\.factor: expected a number >= 0\.0, <= 1\.0, but got 2\.0\.",
        ),
        ("{type: random_flip, mode: sideways}", r"^space\.a\.layers\.0\.mode: expected one of \['horizontal'"),
        (
            "{type: random_zoom, factor: 0.1}",
            r"^space\.a\.layers\.0\.factor: unknown key 'factor' for the random_zoom layer",
        ),
        (
            "{type: resizing, height: 8}",
            r"^space\.a\.layers\.0\.width: the resizing layer needs \['height', 'width'\]",
        ),
        (
            "{type: random_flipp}",
            r"^space\.a\.layers\.0\.type: unknown layer type 'random_flipp' \(did you mean 'random_flip'\?\)",
        ),
    ],
)
def test_bad_yaml_names_the_field_the_value_and_what_is_accepted(tmp_path, yaml, match):
    path = tmp_path / "space.yaml"
    path.write_text(f"a:\n  type: stack\n  layers:\n    - {yaml}\n")
    with pytest.raises(ConfigError, match=match):
        load_space(path)


FLIP = {"type": "random_flip", "mode": "horizontal"}
ROTATE = {"type": "random_rotation", "factor": 0.1}
BACKBONE = {"type": "backbone", "name": "MobileNetV3Small"}


def test_preprocessing_may_come_before_a_backbone_and_nothing_else_may():
    assert check_layers([FLIP, ROTATE, BACKBONE, {"type": "dense", "units": 4}], (32, 32, 3)) == (4,)
    check_config({"layers": [FLIP, ROTATE, BACKBONE, {"type": "dense", "units": 4}]})
    with pytest.raises(
        ConfigError, match=r"^1: the random_flip layer preprocesses the raw images, so it must come before"
    ):
        check_layers([{"type": "dense", "units": 4}, FLIP], (32, 32, 3))
    with pytest.raises(
        ConfigError,
        match=r"^config\.top_layers\.0: a random_flip layer preprocesses the raw images, so it must come before every "
        r"other layer of the model body, but it is layer 1 \(0-based\) of \['dense', 'random_flip'\]",
    ):
        check_config({"layers": [{"type": "dense", "units": 4}], "top_layers": [FLIP]})
    with pytest.raises(
        ConfigError, match=r"^config\.layers\.2: a backbone layer takes the raw features, so it must"
    ):
        check_config({"layers": [FLIP, {"type": "dense", "units": 4}, BACKBONE]})


def test_a_space_checks_every_order_its_stacks_can_sample():
    augment = LayerStack([RandomFlip(), RandomRotation(factor=Float(0.0, 0.2))], min_layers=0, max_layers=2)
    Space(augment_layers=augment, layers=LayerStack(Backbone(name="MobileNetV3Small"))).check_input_shape(
        (32, 32, 3)
    )
    Space(
        layers=Repeat([RandomFlip(), RandomRotation(factor=0.1), Backbone(name="MobileNetV2")])
    ).check_input_shape((32, 32, 3))
    mixed = Space(layers=LayerStack([Conv2D(filters=4), RandomFlip()], max_layers=2))
    with pytest.raises(
        ConfigError, match=r"^space\.layers\.1: the random_flip layer preprocesses the raw images"
    ):
        mixed.check_input_shape((8, 8, 1))
    late = Space(layers=LayerStack(Dense(units=4)), augment_layers=augment)
    with pytest.raises(
        ConfigError, match=r"^space\.augment_layers\.0: the random_flip layer preprocesses the raw images"
    ):
        late.check_input_shape((8, 8, 1))


@pytest.mark.parametrize("shape", [(64,), (10, 3)])
def test_preprocessing_needs_images(shape):
    space = Space(augment_layers=LayerStack(RandomZoom(height_factor=0.1)), layers=LayerStack(Dense(units=4)))
    with pytest.raises(
        ConfigError,
        match=r"^space\.augment_layers\.0: the random_zoom layer works on images of shape \(height, width, channels\) per "
        rf"sample, but the input has shape \({shape[0]},",
    ):
        space.check_input_shape(shape)


def test_resizing_sets_the_size_later_layers_and_a_backbone_see():
    backbone = LayerStack(Backbone(name="MobileNetV3Small"))
    with pytest.raises(
        ConfigError, match=r"needs images of at least 32x32 pixels, but the input has shape \(16, 16, 3\)"
    ):
        Space(layers=backbone).check_input_shape((16, 16, 3))
    Space(resize_layers=LayerStack(Resizing(height=32, width=40)), layers=backbone).check_input_shape(
        (16, 16, 3)
    )
    assert check_layers([{"type": "resizing", "height": 32, "width": 40}], (16, 16, 3)) == (32, 40, 3)
    # A sampled size is checked at its smallest.
    sampled = LayerStack(Resizing(height=Int(24, 48), width=Categorical([48, 32])))
    with pytest.raises(ConfigError, match=r"^space\.layers\.0: .* the input has shape \(24, 32, 3\)"):
        Space(resize_layers=sampled, layers=backbone).check_input_shape((64, 64, 3))
    shrink = LayerStack(Conv2D(filters=4, padding="valid", kernel_size=5, pool="none"))
    with pytest.raises(
        ConfigError, match=r"^space\.layers\.0: the conv2d layer .* can shrink the height 4 below 1"
    ):
        Space(resize_layers=LayerStack(Resizing(height=4, width=8)), layers=shrink).check_input_shape(
            (32, 32, 1)
        )
