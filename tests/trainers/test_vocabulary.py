"""One layer vocabulary: the templates of `search_spaces` and the trainer read the same schema.

Each test fails if the two drift apart again: a layer type one knows and the
other does not, a default one fills differently, an argument the trainer reads
that the schema does not declare, an activation name Keras does not know.
"""

from __future__ import annotations

import dataclasses
import pickle

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from search_spaces._layers import TEMPLATES
from search_spaces._schema import ACTIVATIONS, LAYERS, PREPROCESSING, REQUIRED
from trainers import FitSettings, build_model, check_config, from_arrays, load_sklearn, train
from trainers._settings import LAYER_TYPES, CheckedConfig

# A value for each argument without a default, and data of the shape each layer type takes.
REQUIRED_VALUES = {
    "units": 4,
    "rate": 0.1,
    "filters": 4,
    "output_dim": 4,
    "name": "MobileNetV3Small",
    "scale": 0.5,
    "height": 6,
    "width": 6,
    "factor": 0.1,
    "height_factor": 0.1,
    "width_factor": 0.1,
}
DATA_FOR = {
    "conv1d": "sequences",
    "lstm": "sequences",
    "gru": "sequences",
    "conv2d": "images",
    "embedding": "tokens",
    "backbone": "rgb",
    **dict.fromkeys(PREPROCESSING, "images"),
}


def _required(kind):
    return {name: REQUIRED_VALUES[name] for name, arg in LAYERS[kind].items() if arg.default is REQUIRED}


def _template(kind):
    return TEMPLATES[kind](**_required(kind))


@pytest.fixture(scope="module")
def datasets():
    digits = load_sklearn("digits")
    x, y = digits.x_train[:200], digits.y_train[:200]
    rng = np.random.default_rng(0)
    steps = rng.normal(size=(200, 10, 3))
    ids = rng.integers(0, 20, size=(200, 10))
    return {
        "flat": from_arrays(x, y),
        "images": from_arrays(x.reshape(-1, 8, 8, 1), y),
        "sequences": from_arrays(steps, (steps[:, :, 0].sum(axis=1) > 0).astype(int)),
        "tokens": from_arrays(ids, (ids == 7).any(axis=1).astype(int)),
        "rgb": from_arrays(rng.uniform(0, 255, size=(10, 32, 32, 3)), np.arange(10) % 2),
    }


def test_the_templates_and_the_trainer_know_the_same_layer_types():
    assert set(TEMPLATES) == set(LAYERS) == set(LAYER_TYPES)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_a_templates_arguments_are_the_schemas_in_order(kind):
    fields = [field.name for field in dataclasses.fields(TEMPLATES[kind])]
    assert fields == list(LAYERS[kind])


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_the_trainer_fills_a_layer_as_its_template_samples_it(kind):
    """A layer given only its required arguments gets the defaults the template's default config has."""
    sampled = _template(kind).default_config()
    assert check_config({"layers": [{"type": kind, **_required(kind)}]})["layers"] == [sampled]
    assert check_config({"layers": [sampled]})["layers"] == [sampled]


class _Recording(dict):
    """A layer dict that remembers which keys the builder read."""

    read: set[str]

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_schema_layer_builds_with_its_defaults_and_reads_only_schema_arguments(kind, datasets):
    data = datasets[DATA_FOR.get(kind, "flat")]
    full = check_config({"layers": [_template(kind).default_config()]}, task=data.task)
    layer = _Recording(full["layers"][0])
    layer.read = set()
    recorded = CheckedConfig({**full, "layers": [layer]}, task=data.task, custom_model=False)
    model = build_model(recorded, data)
    assert isinstance(model, keras.Model)
    assert layer.read <= {"type", *LAYERS[kind]}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_keras_knows_every_activation_the_schema_accepts(name):
    assert callable(keras.activations.get(name))


def test_an_activation_outside_the_schema_is_refused_before_keras_sees_it():
    with pytest.raises(
        ConfigError, match=r"^config\.layers\.0\.activation: unknown activation 'softmax'; accepted: \["
    ):
        check_config({"layers": [{"type": "dense", "units": 4, "activation": "softmax"}]})


def test_a_checked_config_comes_back_as_it_is_and_is_read_only():
    full = check_config({"layers": [{"type": "dense", "units": 4}]}, task="binary")
    assert check_config(full, task="binary") is full
    assert check_config(full) is full
    assert check_config(full, task="binary", custom_model=True) is full
    unchecked_task = check_config({"layers": [{"type": "dense", "units": 4}]})
    assert check_config(unchecked_task, task="binary")["loss"] == "binary_crossentropy"  # checked again
    with pytest.raises(TypeError, match="read-only"):
        full["batch_size"] = 8
    copy = pickle.loads(pickle.dumps(full))
    assert copy == full and copy.task == "binary" and isinstance(copy, CheckedConfig)


def test_a_custom_models_checked_config_is_checked_again_for_a_layer_stack():
    full = check_config({"width": 4}, custom_model=True)
    with pytest.raises(ConfigError, match=r"^config\.width: the trainer does not know this key"):
        check_config(full)


def test_train_checks_its_config_once(monkeypatch, tmp_path, datasets):
    import trainers._settings as settings_module

    calls = []
    check_settings = settings_module._check_settings
    monkeypatch.setattr(
        settings_module, "_check_settings", lambda config: calls.append(1) or check_settings(config)
    )
    config = {"layers": [{"type": "dense", "units": 4}]}
    train(config, datasets["flat"], settings=FitSettings(epochs=1), checkpoint_dir=tmp_path)
    assert len(calls) == 1
