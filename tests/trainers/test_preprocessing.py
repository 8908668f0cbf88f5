"""Image preprocessing in the model: Keras's layers on the raw images, random only in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from search_spaces import Backbone, ConfigError, LayerStack, Resizing, Space
from tests.trainers.test_texts import write_texts
from trainers import FitSettings, build_model, from_arrays, load_sklearn, text_directory, train
from trainers._backbones import check_backbones
from trainers._texts import check_text_body

AUGMENT = [
    {"type": "random_flip", "mode": "horizontal"},
    {"type": "random_rotation", "factor": 0.2},
    {"type": "random_zoom", "height_factor": 0.2},
    {"type": "random_translation", "height_factor": 0.2, "width_factor": 0.2},
    {"type": "random_contrast", "factor": 0.3},
]
DENSE = {"type": "dense", "units": 8}


@pytest.fixture(scope="module")
def images():
    digits = load_sklearn("digits")
    x = np.repeat(digits.x_train[:96].reshape(-1, 8, 8, 1) * 16.0, 3, axis=-1)  # pixels in 0..256, RGB
    return from_arrays(x, digits.y_train[:96])


def test_augmentation_acts_only_in_training_and_the_saved_model_loads_safely(images, tmp_path):
    model = build_model({"augment_layers": AUGMENT, "layers": [DENSE]}, images)
    kinds = [type(layer).__name__ for layer in model.layers[1:7]]
    assert kinds == [
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "Normalization",
    ]
    x = images.x_val[:16]
    inference = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), inference)
    assert not np.allclose(model(x, training=True), inference)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), inference, rtol=1e-5, atol=1e-6)


def test_rescaling_replaces_the_standardization_and_an_explicit_one_follows_it(images):
    rescale = {"type": "rescaling", "scale": 1 / 255, "offset": -0.5}
    plain = build_model({"layers": [rescale, DENSE]}, images)
    assert not any(isinstance(layer, keras.layers.Normalization) for layer in plain.layers)
    model = build_model({"layers": [rescale, {"type": "normalization"}, DENSE]}, images)
    (normalize,) = [layer for layer in model.layers if isinstance(layer, keras.layers.Normalization)]
    standardized = keras.Model(model.inputs, normalize.output).predict(images.x_train, verbose=0)
    np.testing.assert_allclose(standardized.mean(axis=(0, 1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(standardized.std(axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_resizing_sets_the_size_a_backbone_is_built_and_checked_at():
    rng = np.random.default_rng(0)
    small = from_arrays(rng.uniform(0, 255, size=(8, 16, 16, 3)), np.arange(8) % 2)
    resize = {"type": "resizing", "height": 32, "width": 32}
    model = build_model({"layers": [resize, {"type": "backbone", "name": "MobileNetV3Small"}]}, small)
    assert model.get_layer("backbone").input_shape == (None, 32, 32, 3)
    space = Space(
        resize_layers=LayerStack(Resizing(height=32, width=32)),
        layers=LayerStack(Backbone(name="MobileNetV3Small", fine_tune_at=100)),
    )
    space.check_input_shape(small.input_shape)
    check_backbones(space, small.input_shape)  # builds the backbone at its least size, not at 16x16
    with pytest.raises(ConfigError, match=r"fine_tune_at=500 is beyond the backbone's depth"):
        check_backbones(
            Space(layers=LayerStack(Backbone(name="MobileNetV3Small", fine_tune_at=500))), (16, 16, 3)
        )


def test_preprocessing_on_a_table_or_texts_is_refused(images, tmp_path):
    table = from_arrays(images.x_train.reshape(len(images.x_train), -1), images.y_train)
    with pytest.raises(
        ConfigError,
        match=r"^config\.layers\.0: random_flip works on images of shape \(height, width, channels\) per sample, "
        r"but gets shape \(192,\)",
    ):
        build_model({"layers": [AUGMENT[0], DENSE]}, table)
    texts = text_directory(str(write_texts(tmp_path / "reviews")))
    with pytest.raises(
        ConfigError,
        match=r"^config\.layers\.0: .* but it starts with random_flip \(random_flip works on images only\)",
    ):
        check_text_body({"layers": [AUGMENT[0], DENSE]}, texts)


def test_a_seeded_fit_draws_the_same_augmentations(images, tmp_path):
    def fit(directory):
        settings = FitSettings(epochs=2, patience=10, seed=5)
        config = {"augment_layers": AUGMENT[1:3], "layers": [DENSE], "batch_size": 32}
        return train(config, images, settings=settings, checkpoint_dir=tmp_path / directory).history

    assert fit("a") == fit("b")
