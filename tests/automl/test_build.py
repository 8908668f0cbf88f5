"""A custom build(config): loaded from 'file.py:function', checked on every choice of the space before Ray starts."""

from __future__ import annotations

import textwrap

import pytest

import automl
from automl import ConfigError, Experiment
from automl._build import load_build, resolve_build_ref
from search_spaces import Categorical, Int, Space

MODELS = """
import keras

def build(config):
    inputs = keras.Input(shape=(64,))
    x = keras.layers.Dense(config["width"], activation=config.get("activation", "relu"))(inputs)
    x = keras.layers.Add()([x, keras.layers.Dense(config["width"])(x)])
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))

def three_classes(config):
    inputs = keras.Input(shape=(64,))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))

def unknown_activation(config):
    inputs = keras.Input(shape=(64,))
    x = keras.layers.Dense(8, activation=config["activation"])(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
"""


pytestmark = pytest.mark.usefixtures("ray_stays_down")


@pytest.fixture
def models(tmp_path):
    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS))
    return tmp_path


def _experiment_file(directory, build, space="width: {type: int, low: 8, high: 32}"):
    path = directory / "exp.yaml"
    path.write_text(f"data: {{sklearn: digits}}\nbuild: {build}\nspace:\n  {space}\nnum_trials: 2\n")
    return path


def test_a_file_reference_is_read_from_the_experiment_files_directory(models):
    experiment = Experiment.from_yaml(_experiment_file(models, "models.py:build"))
    assert experiment.build == f"{models / 'models.py'}:build"
    assert load_build(experiment.build)({"width": 8}).count_params() > 0


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("models.py", r"expected 'file.py:function' or 'package.module:function', but got 'models.py'"),
        ("missing.py:build", r"no file .*missing.py"),
        (
            "models.py:biuld",
            r"has no function 'biuld'; its callables: \['build', 'three_classes', 'unknown_activation'\]",
        ),
        ("no_such_package.models:build", r"cannot import no_such_package.models: ModuleNotFoundError"),
    ],
)
def test_a_bad_reference_names_the_build_field(models, ref, message):
    with pytest.raises(ConfigError, match=message) as error:
        load_build(resolve_build_ref(ref, models))
    assert error.value.field == "build"


def test_a_module_that_raises_on_import_is_reported(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('no GPU here')\n")
    with pytest.raises(ConfigError, match=r"cannot import .*broken.py: RuntimeError: no GPU here"):
        load_build(f"{tmp_path / 'broken.py'}:build")


def test_a_model_that_does_not_fit_the_data_fails_before_ray_starts(models):
    path = _experiment_file(models, "models.py:three_classes")
    with pytest.raises(ConfigError, match=r"^build: .*3 output units, but a multiclass task needs 10"):
        Experiment.from_yaml(path)


def test_every_choice_of_the_space_is_built_before_ray_starts(models):
    build = load_build(f"{models / 'models.py'}:unknown_activation")
    space = Space(activation=Categorical(["relu", "swishh"]))
    with pytest.raises(
        ConfigError, match=r"^build: .*raised ValueError.*swishh.*\(config: \{'activation': 'swishh'"
    ):
        automl.tune(space, build=build, data="digits", num_trials=2)


def test_training_settings_in_a_custom_space_are_still_checked(models):
    build = load_build(f"{models / 'models.py'}:build")
    space = Space(width=Int(8, 16), optimizer=Categorical(["adam", "sgdd"]))
    with pytest.raises(
        ConfigError, match=r"config.optimizer: unknown optimizer 'sgdd' \(did you mean 'sgd'\?\)"
    ):
        automl.tune(space, build=build, data="digits", num_trials=2)


def test_build_must_be_callable():
    with pytest.raises(ConfigError, match=r"^build: expected a function build\(config\) -> keras.Model"):
        automl.tune(Space(width=Int(8, 16)), build=42, data="digits", num_trials=2)


def test_without_build_the_space_keys_must_be_the_trainers():
    with pytest.raises(ConfigError, match=r"config.width: the trainer does not know this key"):
        automl.tune(Space(width=Int(8, 16)), data="digits", num_trials=2)
