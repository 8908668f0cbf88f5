"""Every layer template builds, fits and resumes; bad structures fail before fit with the layer's path."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import FitSettings, build_model, from_arrays, load_sklearn, reported_metrics, train

LSTM = {"type": "lstm", "units": 4}
GRU = {"type": "gru", "units": 4}
CONV1D = {"type": "conv1d", "filters": 4, "kernel_size": 3}
CONV2D = {"type": "conv2d", "filters": 4, "kernel_size": 3}
DENSE = {"type": "dense", "units": 8}


@pytest.fixture(scope="module")
def flat():
    """Digits as flat rows of 64 features, 300 of them."""
    digits = load_sklearn("digits")
    return from_arrays(digits.x_train[:300], digits.y_train[:300])


@pytest.fixture(scope="module")
def images(flat):
    """The same digits as 8x8 images with one channel."""
    return from_arrays(
        flat.x_train.reshape(-1, 8, 8, 1),
        flat.y_train,
        validation_data=(flat.x_val.reshape(-1, 8, 8, 1), flat.y_val),
    )


@pytest.fixture(scope="module")
def sequences():
    """200 sequences of 10 timesteps with 3 features; the class is the sign of feature 0's sum."""
    x = np.random.default_rng(0).normal(size=(200, 10, 3))
    return from_arrays(x, (x[:, :, 0].sum(axis=1) > 0).astype(int))


@pytest.fixture(scope="module")
def tokens():
    """200 sequences of 10 token ids in 0..19; the class is whether token 7 occurs."""
    ids = np.random.default_rng(0).integers(0, 20, size=(200, 10))
    return from_arrays(ids, (ids == 7).any(axis=1).astype(int))


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers]


def _return_sequences(model):
    recurrent = [
        layer.forward_layer if isinstance(layer, keras.layers.Bidirectional) else layer
        for layer in model.layers
    ]
    return [
        layer.return_sequences
        for layer in recurrent
        if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))
    ]


def _fit(config, data, tmp_path, epochs=1):
    outcome = train(config, data, settings=FitSettings(epochs=epochs), checkpoint_dir=tmp_path)
    assert set(outcome.history) == set(reported_metrics(data.task))
    assert np.isfinite(outcome.history["loss"]).all()
    return outcome


def _resume(config, data, tmp_path, first):
    """Trains to epoch 3 from the 2-epoch checkpoint in ``first``; checks it continued."""
    resumed = train(
        config,
        data,
        settings=FitSettings(epochs=3, patience=10),
        checkpoint_dir=tmp_path / "b",
        resume_from=first,
    )
    assert resumed.epochs_run == 3
    steps = -(-len(data.x_train) // config.get("batch_size", 32))
    assert int(resumed.model.optimizer.iterations) == 3 * steps
    return resumed


def test_conv2d_on_images_pools_flattens_and_resumes(images, tmp_path):
    config = {"conv_layers": [CONV2D, {**CONV2D, "pool": "average", "padding": "valid"}], "layers": [DENSE]}
    first = train(config, images, settings=FitSettings(epochs=2, patience=10), checkpoint_dir=tmp_path / "a")
    assert _kinds(first.model) == [
        "InputLayer",
        "Normalization",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "AveragePooling2D",
        "Flatten",
        "Dense",
        "Dense",
    ]
    # 8x8 → same conv, pool 2 → 4x4 → valid conv 3 → 2x2 → pool 2 → 1x1.
    assert first.model.layers[5].output.shape == (None, 1, 1, 4)
    resumed = _resume(config, images, tmp_path, tmp_path / "a")
    assert resumed.history["loss"][:2] == first.history["loss"]


def test_stacked_lstm_gru_returns_sequences_only_into_a_recurrent_layer_and_resumes(sequences, tmp_path):
    config = {
        "recurrent_layers": [LSTM, {"type": "dropout", "rate": 0.1}, {**GRU, "dropout": 0.1}],
        "layers": [DENSE],
    }
    first = train(
        config, sequences, settings=FitSettings(epochs=2, patience=10), checkpoint_dir=tmp_path / "a"
    )
    assert _return_sequences(first.model) == [True, False]
    assert "Flatten" not in _kinds(first.model)  # the GRU already gives a vector
    resumed = _resume(config, sequences, tmp_path, tmp_path / "a")
    assert _return_sequences(resumed.model) == [True, False]


@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        ([LSTM], [False]),
        ([LSTM, DENSE], [False]),
        ([LSTM, {"type": "layer_normalization"}, {"type": "dropout", "rate": 0.1}, GRU], [True, False]),
        ([{**LSTM, "bidirectional": True}, CONV1D, GRU, {"type": "batch_normalization"}], [True, False]),
        ([GRU, {"type": "dropout", "rate": 0.1}, DENSE, DENSE], [False]),
    ],
)
def test_return_sequences_follows_the_next_shape_changing_layer(sequences, layers, expected):
    assert _return_sequences(build_model({"layers": layers}, sequences)) == expected


def test_conv1d_with_normalization_layers_on_sequences(sequences, tmp_path):
    config = {
        "layers": [
            {**CONV1D, "pool": "none"},
            {"type": "batch_normalization"},
            {**CONV1D, "padding": "valid", "activation": "tanh"},
            {"type": "layer_normalization"},
        ]
    }
    outcome = _fit(config, sequences, tmp_path)
    kinds = _kinds(outcome.model)
    assert kinds[2:] == [
        "Conv1D",
        "BatchNormalization",
        "Conv1D",
        "MaxPooling1D",
        "LayerNormalization",
        "Flatten",
        "Dense",
    ]
    assert outcome.model.layers[4].output.shape == (None, 8, 4)  # 'valid' kernel 3: 10 → 8 timesteps


def test_embedding_takes_raw_token_ids_into_a_bidirectional_lstm(tokens, tmp_path):
    config = {"layers": [{"type": "embedding", "output_dim": 4}, {**LSTM, "bidirectional": True}]}
    outcome = _fit(config, tokens, tmp_path)
    assert _kinds(outcome.model) == ["InputLayer", "Embedding", "Bidirectional", "Dense"]  # no Normalization
    assert outcome.model.layers[1].input_dim == 20  # the largest id + 1


def test_an_explicit_normalization_replaces_the_automatic_one(flat, tmp_path):
    outcome = _fit({"layers": [{"type": "normalization"}, DENSE]}, flat, tmp_path)
    assert _kinds(outcome.model) == ["InputLayer", "Normalization", "Dense", "Dense"]
    standardized = outcome.model.layers[1](flat.x_train)
    np.testing.assert_allclose(np.mean(standardized, axis=0), 0.0, atol=1e-4)


def test_a_dense_layer_on_sequences_flattens_them_first(sequences):
    model = build_model({"layers": [DENSE]}, sequences)
    assert _kinds(model) == ["InputLayer", "Normalization", "Flatten", "Dense", "Dense"]
    assert model.layers[3].input.shape == (None, 30)


def test_an_explicit_input_dim_is_used(tokens):
    model = build_model({"layers": [{"type": "embedding", "output_dim": 4, "input_dim": 50}]}, tokens)
    assert model.layers[1].input_dim == 50


@pytest.mark.parametrize(
    ("data", "layers", "match"),
    [
        (
            "flat",
            [DENSE, CONV2D],
            r"^config\.layers\.1: conv2d needs a 3-D input \(height, width, channels\) per sample, "
            r"but gets shape \(8,\); image-shaped data",
        ),
        (
            "flat",
            [CONV2D],
            r"^config\.layers\.0: conv2d needs a 3-D input \(height, width, channels\) per sample, but gets shape \(64,\)",
        ),
        (
            "flat",
            [CONV1D],
            r"^config\.layers\.0: conv1d needs a 2-D input \(timesteps, features\) per sample, but gets shape \(64,\)",
        ),
        (
            "images",
            [LSTM],
            r"^config\.layers\.0: lstm needs a 2-D input \(timesteps, features\) per sample, but gets shape \(8, 8, 1\)",
        ),
        (
            "sequences",
            [DENSE, GRU],
            r"^config\.layers\.1: gru needs a 2-D input \(timesteps, features\) per sample, but gets shape \(8,\)",
        ),
        (
            "sequences",
            [LSTM, {"type": "dropout", "rate": 0.1}, DENSE, LSTM],
            r"^config\.layers\.3: lstm needs a 2-D input",
        ),
        (
            "sequences",
            [CONV2D],
            r"^config\.layers\.0: conv2d needs a 3-D input \(height, width, channels\) per sample, but gets shape \(10, 3\)",
        ),
        (
            "sequences",
            [{**CONV1D, "kernel_size": 11, "padding": "valid"}],
            r"^config\.layers\.0\.kernel_size: a 'valid' conv1d kernel of size 11 needs every spatial dimension >= 11, "
            r"but the input has shape \(10, 3\); use padding 'same' or a smaller kernel_size\.",
        ),
        (
            "sequences",
            [{**CONV1D, "pool_size": 11}],
            r"^config\.layers\.0\.pool_size: max pooling of size 11 would shrink a spatial dimension of shape \(10, 4\) below 1",
        ),
        (
            "images",
            [CONV2D, CONV2D, CONV2D, CONV2D],
            r"^config\.layers\.3\.pool_size: max pooling of size 2 would shrink a spatial dimension of shape \(1, 1, 4\) below 1; "
            r"use a smaller pool_size, pool 'none', or fewer pooling layers\.",
        ),
        (
            "flat",
            [{**DENSE, "activation": "relu6x"}],
            r"^config\.layers\.0\.activation: unknown activation 'relu6x'; accepted: \[.*'relu6'",
        ),
        (
            "sequences",
            [{"type": "embedding", "output_dim": 4}],
            r"^config\.layers\.0: an embedding takes token ids of shape \(timesteps,\) per sample, but the data have shape \(10, 3\)",
        ),
        (
            "tokens",
            [{"type": "embedding", "output_dim": 4, "input_dim": 10}],
            r"^config\.layers\.0\.input_dim: input_dim must exceed the largest token id, but got input_dim=10 with ids up to 19; leave it unset to use 20\.",
        ),
    ],
)
def test_a_layer_that_cannot_take_its_input_fails_before_fit(request, data, layers, match):
    with pytest.raises(ConfigError, match=match):
        build_model({"layers": layers}, request.getfixturevalue(data))


@pytest.mark.parametrize(("value", "shown"), [(-1, "-1"), (2.5, "2.5")])
def test_an_embedding_needs_non_negative_integer_ids(value, shown):
    ids = np.tile(np.arange(10), (20, 1)).astype(float)
    ids[3, 4] = value
    data = from_arrays(ids, np.arange(20) % 2)
    with pytest.raises(
        ConfigError,
        match=rf"^config\.layers\.0: an embedding takes token ids \(integers >= 0\), but the features hold {shown}; encode",
    ):
        build_model({"layers": [{"type": "embedding", "output_dim": 4}]}, data)


def test_an_embedding_in_a_later_stack_is_rejected_at_its_path(tokens):
    config = {"conv_layers": [CONV1D], "layers": [{"type": "embedding", "output_dim": 4}]}
    with pytest.raises(ConfigError, match=r"^config\.layers\.0: an embedding layer takes the raw features"):
        build_model(config, tokens)
