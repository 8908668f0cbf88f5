"""Layer templates: every type round-trips, checks its arguments, samples plain data."""

from __future__ import annotations

import json

import optuna
import pytest

from search_spaces import (
    GRU,
    LSTM,
    Backbone,
    BatchNormalization,
    Boolean,
    Categorical,
    ConfigError,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Float,
    Int,
    LayerNormalization,
    Normalization,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from search_spaces._layers import TEMPLATES, template_from_dict

TEMPLATE_EXAMPLES = [
    Dense(units=Int(8, 64, log=True), activation=Categorical(["relu", "gelu"]), dropout=Float(0.0, 0.5)),
    Dropout(rate=Float(0.0, 0.5)),
    BatchNormalization(),
    LayerNormalization(),
    Normalization(),
    Conv1D(filters=Int(8, 32), kernel_size=Categorical([3, 5]), padding="valid", pool="average"),
    Conv2D(filters=16, pool=Categorical(["max", "none"]), pool_size=Int(2, 3)),
    LSTM(units=Int(8, 32), dropout=Float(0.0, 0.3), bidirectional=Boolean()),
    GRU(units=16),
    Embedding(output_dim=Int(4, 16), input_dim=100),
    Backbone(
        name=Categorical(["MobileNetV3Small", "EfficientNetB0"]),
        pooling=Categorical(["avg", "max"]),
        head_epochs=Int(0, 3),
        fine_tune_at=Categorical([0.5, 100, "block_12"]),
        fine_tune_lr_factor=Float(0.01, 0.5, log=True),
    ),
    Rescaling(scale=1 / 255),
    Resizing(height=Int(16, 32, step=8), width=Categorical([16, 32]), crop_to_aspect_ratio=Boolean()),
    RandomFlip(mode=Categorical(["horizontal", "vertical"])),
    RandomRotation(factor=Float(0.0, 0.2), fill_mode=Categorical(["reflect", "constant"])),
    RandomZoom(height_factor=Float(0.0, 0.3), width_factor=0.1, interpolation="nearest"),
    RandomTranslation(height_factor=Float(0.0, 0.2), width_factor=Float(0.0, 0.2)),
    RandomContrast(factor=Float(0.0, 0.5)),
]


def test_every_layer_type_has_an_example():
    assert sorted(t.kind for t in TEMPLATE_EXAMPLES) == sorted(TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATE_EXAMPLES, ids=lambda t: t.kind)
def test_round_trip_through_dict_and_json(template):
    data = json.loads(json.dumps(template.to_dict()))
    assert template_from_dict(data) == template


@pytest.mark.parametrize("template", TEMPLATE_EXAMPLES, ids=lambda t: t.kind)
def test_samples_are_plain_dicts_with_the_template_keys(template):
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    layer = template.sample(trial, "layers.0")
    assert list(layer) == template.keys()
    assert layer["type"] == template.kind
    assert json.loads(json.dumps(layer)) == layer
    assert list(template.default_config()) == template.keys()
    assert all(name.startswith("layers.0.") for name in trial.params)


def test_pool_size_exists_only_when_pooling():
    conv = Conv2D(filters=16, pool=Categorical(["max", "none"]), pool_size=Int(2, 3))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        layer = conv.sample(trial, "c")
        seen.add(layer["pool"])
        if layer["pool"] == "none":
            assert layer["pool_size"] is None and "c.pool_size" not in trial.params
        else:
            assert layer["pool_size"] in (2, 3) and "c.pool_size" in trial.params
    assert seen == {"max", "none"}


def test_conditions_between_arguments_of_one_layer():
    dense = Dense(
        units=16,
        activation=Categorical(["relu", "tanh"]),
        dropout=Float(0.1, 0.5, when={"activation": "relu"}),
    )
    assert dense.default_config()["dropout"] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match=r"^dropout\.when\.units: can only refer to a categorical"):
        Dense(units=Int(8, 16), dropout=Float(0.1, 0.5, when={"units": 8}))
    with pytest.raises(
        ConfigError, match=r"^units\.when\.dropout: refers to 'dropout', which is not an earlier"
    ):
        Dense(units=Int(8, 16, when={"dropout": 0.0}))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Dense(units=0), r"^units: expected an int >= 1, but got 0"),
        (lambda: Dense(units=Float(1.0, 8.0)), r"^units: expected an int >= 1, but got Float"),
        (lambda: Dense(units=8, activation="relux"), r"^activation: expected one of \['relu'"),
        (lambda: Dense(units=8, dropout=1.0), r"^dropout: expected a number >= 0.0, < 1.0, but got 1.0"),
        (
            lambda: Conv2D(filters=8, padding="full"),
            r"^padding: expected one of \['same', 'valid'\], but got 'full'",
        ),
        (
            lambda: Conv1D(filters=8, pool=Categorical(["max", "min"])),
            r"^pool: expected one of .* but got 'min'",
        ),
        (lambda: Conv1D(filters=8, kernel_size=Int(0, 3)), r"^kernel_size: expected an int >= 1, but got 0"),
        (lambda: LSTM(units=8, bidirectional="yes"), r"^bidirectional: expected one of \[False, True\]"),
        (lambda: Embedding(output_dim=8, input_dim=0), r"^input_dim: expected an int >= 1, but got 0"),
        (lambda: Rescaling(scale=0), r"^scale: expected a finite number other than 0, but got 0\."),
        (lambda: Rescaling(scale=1, offset=float("nan")), r"^offset\.value: expected a finite number, but got nan"),
        (lambda: Resizing(height=0, width=8), r"^height: expected an int >= 1, but got 0"),
        (
            lambda: Resizing(height=8, width=8, interpolation="cubic"),
            r"^interpolation: expected one of \['bilinear'",
        ),
        (
            lambda: RandomFlip(mode="diagonal"),
            r"^mode: expected one of \['horizontal', 'vertical', 'horizontal_and_vertical'\], but got 'diagonal'",
        ),
        (
            lambda: RandomRotation(factor=Float(0.0, 1.5)),
            r"^factor: expected a number >= 0.0, <= 1.0, but got 1.5",
        ),
        (lambda: RandomRotation(factor=-0.1), r"^factor: expected a number >= 0.0, <= 1.0, but got -0.1"),
        (lambda: RandomRotation(factor=0.1, fill_mode="mirror"), r"^fill_mode: expected one of \['reflect'"),
        (
            lambda: RandomZoom(height_factor=1.0),
            r"^height_factor: expected a number >= 0.0, < 1.0, but got 1.0",
        ),
        (
            lambda: RandomTranslation(height_factor=0.1, width_factor=2),
            r"^width_factor: expected a number >= 0.0, <= 1.0, but got 2",
        ),
        (
            lambda: RandomContrast(factor=Categorical([0.1, 1.2])),
            r"^factor: expected a number >= 0.0, <= 1.0, but got 1.2",
        ),
    ],
)
def test_bad_arguments_name_the_field_the_value_and_what_is_accepted(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    "data, match",
    [
        (
            {"type": "conv3d", "filters": 8},
            r"^type: unknown layer type 'conv3d' \(did you mean 'conv2d'\?\); accepted",
        ),
        ({"type": ["dense"]}, r"^type: unknown layer type \['dense'\]"),
        (
            {"type": "lstm", "unit": 8},
            r"^unit: unknown key 'unit' for the lstm layer \(did you mean 'units'\?\)",
        ),
        ({"type": "gru"}, r"^units: the gru layer needs \['units'\]"),
        (
            {"type": "embedding", "output_dim": {"type": "int", "low": 8, "high": 4}},
            r"^output_dim\.low: `low <= high`",
        ),
        ("dense", r"expected a mapping with a `type` key"),
    ],
)
def test_bad_layer_documents_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        template_from_dict(data)
