"""Shape checks without TensorFlow: a space is checked against the data's input shape before any trial."""

from __future__ import annotations

import pytest

from search_spaces import (
    GRU,
    LSTM,
    BatchNormalization,
    Categorical,
    ConfigError,
    Conv1D,
    Conv2D,
    Dense,
    Embedding,
    Int,
    LayerStack,
    Normalization,
    Repeat,
    Space,
    cnn,
    mlp,
    rnn,
)
from search_spaces._shapes import check_layers


def test_concrete_layers_give_the_shapes_keras_would():
    layers = [
        {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": "valid", "pool": "max", "pool_size": 2},
        {"type": "batch_normalization"},
        {"type": "dense", "units": 16},
    ]
    assert check_layers(layers[:1], (8, 8, 1)) == (3, 3, 8)  # (8 - 3 + 1) // 2
    assert check_layers(layers, (8, 8, 1)) == (16,)
    assert check_layers([{"type": "embedding", "output_dim": 4}, {"type": "lstm", "units": 5}], (10,)) == (
        10,
        5,
    )
    conv1d = {
        "type": "conv1d",
        "filters": 6,
        "kernel_size": 3,
        "padding": "same",
        "pool": "none",
        "pool_size": None,
    }
    assert check_layers([conv1d], (10, 3)) == (10, 6)


@pytest.mark.parametrize(
    "space, shape, match",
    [
        (
            Space(layers=LayerStack([Dense(units=8), Conv2D(filters=4)], max_layers=2)),
            (8, 8, 1),
            r"^space\.layers\.1: the conv2d layer needs a 3-D input per sample \(height, width, channels\), but gets \(None,\)",
        ),
        (
            Space(layers=LayerStack(Conv2D(filters=4))),
            (64,),
            r"^space\.layers\.0: the conv2d layer needs a 3-D input",
        ),
        (Space(layers=LayerStack(Conv2D(filters=4))), (8, 8), r"reshape images to \(height, width, 1\)"),
        (
            Space(layers=LayerStack(LSTM(units=4))),
            (64,),
            r"^space\.layers\.0: the lstm layer needs a 2-D input per sample \(steps, features\), but gets \(64,\)",
        ),
        (
            Space(layers=LayerStack(Conv2D(filters=4, pool_size=Categorical([2, 3])), max_layers=3)),
            (8, 8, 1),
            r"^space\.layers\.1: the conv2d layer .* can shrink the height 2 below 1",
        ),
        (
            Space(
                layers=LayerStack(
                    Conv1D(filters=4, kernel_size=5, padding="valid", pool="none"), max_layers=3
                )
            ),
            (10, 2),
            r"^space\.layers\.2: .*padding 'same' or a smaller pool_size",
        ),
        (
            Space(layers=LayerStack([BatchNormalization(), Normalization()], max_layers=2)),
            (4,),
            r"^space\.layers\.1: the normalization layer must be the model's first layer",
        ),
        (
            Space(a_layers=LayerStack(Dense(units=4)), layers=LayerStack(Embedding(output_dim=4))),
            (10,),
            r"^space\.layers\.0: the embedding layer must be the model's first",
        ),
        (
            Space(layers=LayerStack(Embedding(output_dim=4))),
            (10, 2),
            r"^space\.layers\.0: the embedding layer needs token ids of shape \(steps,\)",
        ),
        (
            Space(b=Repeat([Conv2D(filters=4), BatchNormalization()], times=Int(1, 4))),
            (8, 8, 1),
            r"^space\.b\.6: the conv2d layer .* can shrink the height 1 below 1",
        ),
    ],
)
def test_a_space_that_can_sample_an_unbuildable_stack_is_rejected(space, shape, match):
    with pytest.raises(ConfigError, match=match):
        space.check_input_shape(shape)


def test_every_stack_is_checked_in_order():
    ok = Space(
        conv_layers=LayerStack(Conv2D(filters=4), min_layers=0, max_layers=2),
        layers=LayerStack(Dense(units=4)),
    )
    ok.check_input_shape((8, 8, 1))
    ok.check_input_shape((4, 4, 3))
    reversed_order = Space(
        layers=LayerStack(Dense(units=4)),
        conv_layers=LayerStack(Conv2D(filters=4), min_layers=0, max_layers=2),
    )
    with pytest.raises(ConfigError, match=r"^space\.conv_layers\.0: the conv2d layer needs a 3-D input"):
        reversed_order.check_input_shape((8, 8, 1))


@pytest.mark.parametrize(
    "space, good, bad",
    [
        (mlp(), [(64,), (8, 8, 1)], []),
        (cnn(), [(8, 8, 1), (28, 28, 3)], [(64,), (3, 3, 1)]),
        (rnn(), [(10, 3), (1, 1)], [(64,), (8, 8, 1)]),
    ],
    ids=["mlp", "cnn", "rnn"],
)
def test_presets_fit_their_kind_of_input(space, good, bad):
    for shape in good:
        space.check_input_shape(shape)
    for shape in bad:
        with pytest.raises(ConfigError, match=r"^space\."):
            space.check_input_shape(shape)


def test_recurrent_stacks_of_any_mix_are_valid():
    Space(
        layers=LayerStack([LSTM(units=4), GRU(units=4), Conv1D(filters=4, pool="none")], max_layers=4)
    ).check_input_shape((12, 3))
