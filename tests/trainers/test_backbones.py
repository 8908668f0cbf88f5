"""Backbones on real keras.applications models with 32x32 images: two phases in one fit, resume, checks."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from search_spaces import Backbone, Categorical, ConfigError, LayerStack, Space
from trainers import FitSettings, from_arrays, train
from trainers._backbones import BACKBONE_LAYER, check_backbones

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, size=(24, *SHAPE)).astype("float32")
    return from_arrays(x, np.arange(24) % 2, seed=0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "small.weights.h5"
    keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=SHAPE).save_weights(path)
    return path


def _config(**backbone):
    layer = {
        "type": "backbone",
        "name": "MobileNetV3Small",
        "head_epochs": 1,
        "fine_tune_at": 0.5,
        **backbone,
    }
    return {"layers": [layer], "batch_size": 8, "learning_rate": 0.01}


def _train(images, tmp_path, epochs, **kwargs):
    return train(
        _config(fine_tune_lr_factor=0.1),
        images,
        settings=FitSettings(epochs=epochs, patience=10, seed=0),
        checkpoint_dir=tmp_path,
        **kwargs,
    )


def _trained_layers(model):
    backbone = model.get_layer(BACKBONE_LAYER)
    return [i for i, layer in enumerate(backbone.layers) if layer.trainable and layer.weights]


def test_the_head_trains_first_then_the_top_of_the_backbone_and_a_resume_keeps_the_phase(images, tmp_path):
    first = _train(images, tmp_path / "a", epochs=1)
    assert first.history["phase"] == [1.0]
    assert not first.model.get_layer(BACKBONE_LAYER).trainable
    assert [v.path for v in first.model.trainable_variables] == ["head/kernel", "head/bias"]
    assert json.loads((tmp_path / "a" / "state.json").read_text())["phase"] == 1

    # Resumed from phase 1 past head_epochs: the switch happens at the epoch's start.
    switched = _train(images, tmp_path / "b", epochs=2, resume_from=tmp_path / "a")
    assert switched.history["phase"] == [1.0, 2.0]
    backbone = switched.model.get_layer(BACKBONE_LAYER)
    start = len(backbone.layers) // 2  # fine_tune_at=0.5
    trained = _trained_layers(switched.model)
    assert trained and min(trained) >= start
    assert not any(isinstance(backbone.layers[i], keras.layers.BatchNormalization) for i in trained)
    assert float(keras.ops.convert_to_numpy(switched.model.optimizer.learning_rate)) == pytest.approx(0.001)
    assert json.loads((tmp_path / "b" / "state.json").read_text())["phase"] == 2

    # Mid-phase 2: the checkpoint's model is unfrozen already, and stays as it was.
    resumed = _train(images, tmp_path / "c", epochs=3, resume_from=tmp_path / "b")
    assert resumed.history["phase"] == [1.0, 2.0, 2.0]
    assert resumed.epochs_run == 3
    assert _trained_layers(resumed.model) == trained
    assert float(keras.ops.convert_to_numpy(resumed.model.optimizer.learning_rate)) == pytest.approx(0.001)
    assert resumed.history["loss"][:2] == switched.history["loss"]


def test_the_saved_model_holds_the_preprocessing_and_loads_in_safe_mode(images, tmp_path, weights_file):
    config = _config(weights=str(weights_file), head_epochs=0)
    outcome = train(config, images, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path)
    loaded = keras.saving.load_model(outcome.checkpoint, safe_mode=True)
    inner = loaded.get_layer(BACKBONE_LAYER)
    assert any(isinstance(layer, keras.layers.Rescaling) for layer in inner.layers)  # takes raw pixels
    x = images.x_val[:4]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), outcome.model.predict(x, verbose=0), rtol=1e-5)


def test_a_family_without_its_own_preprocessing_gets_its_preprocess_input(images, tmp_path):
    config = {"layers": [{"type": "backbone", "name": "MobileNetV2"}]}
    from trainers import build_model

    model = build_model(config, images)
    scale = model.get_layer("preprocess_input")
    x = images.x_val[:2]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(scale(x)),
        keras.applications.mobilenet_v2.preprocess_input(x.copy()),
        atol=1e-6,
    )


def _space(**backbone):
    return Space(layers=LayerStack(Backbone(name="MobileNetV3Small", **backbone)))


def test_a_fitting_weights_file_passes(weights_file):
    check_backbones(
        _space(weights=str(weights_file), fine_tune_at=Categorical([0.3, "expanded_conv_3"])), SHAPE
    )


def test_a_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(
        ConfigError, match=rf"^space\.layers\.layers\.0\.weights: the weights file '{missing}' does not exist"
    ):
        check_backbones(_space(weights=str(missing)), SHAPE)


def test_a_weights_file_of_another_backbone_names_its_first_mismatching_layer(tmp_path):
    other = tmp_path / "narrow.weights.h5"
    keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=SHAPE, alpha=0.75
    ).save_weights(other)
    with pytest.raises(
        ConfigError,
        match=rf"^space\.layers\.layers\.0\.weights: the weights file '{other}' does not fit the backbone: its "
        r"first mismatching layer is 'expanded_conv_3_project', whose weights have shapes \[\(1, 1, 96, 40\)\], "
        r"but the file holds \[\(1, 1, 96, 32\)\] for it\.",
    ):
        check_backbones(_space(weights=str(other)), SHAPE)


def test_a_file_that_is_not_a_weights_file_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(ConfigError, match=r"weights: '.*notes\.txt' is not a Keras weights file"):
        check_backbones(_space(weights=str(text)), SHAPE)


def test_fine_tune_at_beyond_the_depth_is_refused():
    with pytest.raises(
        ConfigError,
        match=r"^space\.layers\.layers\.0\.fine_tune_at: fine_tune_at=500 is beyond the backbone's depth: "
        r"it has \d+ layers",
    ):
        check_backbones(_space(fine_tune_at=Categorical([0.5, 500])), SHAPE)


def test_an_unknown_layer_name_gets_a_suggestion():
    with pytest.raises(
        ConfigError,
        match=r"fine_tune_at: the backbone has no layer or block named 'expanded_conv_3_projct' "
        r"\(did you mean 'expanded_conv_3_project'\?\)",
    ):
        check_backbones(_space(fine_tune_at="expanded_conv_3_projct"), SHAPE)


def test_an_hdf5_file_without_keras_3_layers_is_refused(tmp_path):
    import h5py

    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file.create_dataset("kernel", data=np.zeros((3, 3)))
    with pytest.raises(
        ConfigError, match=r"weights: '.*other\.h5' is not a Keras 3 weights file \(no 'layers' group\)"
    ):
        check_backbones(_space(weights=str(other)), SHAPE)
