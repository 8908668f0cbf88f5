"""The Backbone template: its arguments, its YAML spelling, and the shape it needs (no TensorFlow here)."""

from __future__ import annotations

import os

import pytest

from search_spaces import Backbone, Categorical, ConfigError, Dense, Float, Int, LayerStack, Space
from search_spaces._layers import template_from_dict
from search_spaces._space import load_space
from trainers import check_config

SPEC = (
    "{type: backbone, name: MobileNetV3Small, weights: null, pooling: avg, head_epochs: 2, "
    "fine_tune_at: 0.7, fine_tune_lr_factor: 0.1}"
)


def test_the_issue_spelling_loads_and_any_value_may_be_a_parameter(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(
        "layers:\n  type: stack\n  layers:\n    - " + SPEC + "\n"
        "top_layers:\n  type: stack\n  layers:\n"
        "    - {type: backbone, name: {type: categorical, choices: [EfficientNetB0, ResNet50V2]}, "
        "fine_tune_at: {type: float, low: 0.5, high: 0.9}, fine_tune_lr_factor: {type: float, low: 0.01, "
        "high: 0.3, log: true}, head_epochs: {type: int, low: 0, high: 3}}\n"
    )
    space = load_space(path)
    assert space.default_config()["layers"] == [
        {
            "type": "backbone",
            "name": "MobileNetV3Small",
            "weights": None,
            "pooling": "avg",
            "head_epochs": 2,
            "fine_tune_at": 0.7,
            "fine_tune_lr_factor": 0.1,
        }
    ]
    assert space["top_layers"].templates[0] == Backbone(
        name=Categorical(["EfficientNetB0", "ResNet50V2"]),
        fine_tune_at=Float(0.5, 0.9),
        fine_tune_lr_factor=Float(0.01, 0.3, log=True),
        head_epochs=Int(0, 3),
    )


def test_an_unknown_backbone_name_gets_a_suggestion_in_python_yaml_and_the_trainer():
    with pytest.raises(
        ConfigError,
        match=r"^name: expected one of \[.*\], but got 'MobileNetV3Smal' \(did you mean 'MobileNetV3Small'\?\)\.$",
    ):
        Backbone(name="MobileNetV3Smal")
    with pytest.raises(ConfigError, match=r"^name: .*\(did you mean 'EfficientNetB0'\?\)"):
        template_from_dict(
            {"type": "backbone", "name": Categorical(["EfficientNetB0", "EfficientNetb0"]).to_dict()}
        )
    with pytest.raises(
        ConfigError,
        match=r"^config\.layers\.0\.name: unknown backbone 'resnet50v2' \(did you mean 'ResNet50V2'\?\)",
    ):
        check_config({"layers": [{"type": "backbone", "name": "resnet50v2"}]})


@pytest.mark.parametrize("value", [0.0, 1.5, -1, True, "", Float(0.0, 0.9)])
def test_fine_tune_at_takes_a_fraction_an_index_or_a_name(value):
    with pytest.raises(
        ConfigError, match=r"^fine_tune_at: expected a fraction of the backbone's depth in \(0, 1\]"
    ):
        Backbone(name="MobileNetV3Small", fine_tune_at=value)


def test_fine_tune_at_values_that_are_accepted():
    for value in (0.5, 1.0, 0, 1, 100, "expanded_conv_3", Categorical([0.3, 40, "expanded_conv_6"])):
        Backbone(name="MobileNetV3Small", fine_tune_at=value)


def test_a_relative_weights_path_is_taken_from_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    backbone = Backbone(name="MobileNetV3Small", weights=Categorical(["a.weights.h5", "imagenet", None]))
    assert backbone.weights.choices == (os.path.join(tmp_path, "a.weights.h5"), "imagenet", None)


def _space(**extra):
    return Space(layers=LayerStack(Backbone(name=Categorical(["MobileNetV3Small", "ConvNeXtTiny"]))), **extra)


def test_images_smaller_than_the_backbone_takes_are_refused():
    _space().check_input_shape((32, 40, 3))
    with pytest.raises(
        ConfigError,
        match=r"^space\.layers\.0: the \w+ backbone needs images of at least 32x32 pixels, but the input "
        r"has shape \(31, 64, 3\)",
    ):
        _space().check_input_shape((31, 64, 3))


def test_a_backbone_needs_rgb_images():
    with pytest.raises(
        ConfigError,
        match=r"needs RGB images of shape \(height, width, 3\) per sample, but gets \(32, 32, 1\)",
    ):
        _space().check_input_shape((32, 32, 1))


def test_a_backbone_comes_first():
    space = Space(first_layers=LayerStack(Dense(units=4)), layers=LayerStack(Backbone(name="MobileNetV2")))
    with pytest.raises(
        ConfigError, match=r"^space\.layers\.0: the backbone layer must be the model's first layer"
    ):
        space.check_input_shape((32, 32, 3))
