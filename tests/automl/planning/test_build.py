"""A custom build(config): loaded from 'file.py:function', checked on every choice of the space before Ray starts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import ray.cloudpickle

import automl
from automl import ConfigError, Experiment
from automl.planning._build import RegisteringBuild, load_build, resolve_build_ref
from search_spaces import Categorical, Int, Space
from tests._keras_objects import SCALE_LAYER

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

# Custom Keras objects, one left unregistered.
CUSTOM = """
import keras

def smoothed_ce(y_true, y_pred):  # not registered: Keras cannot load a model compiled with it
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred) * 0.9


def custom_loss(config):
    inputs = keras.Input(shape=(64,))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss=smoothed_ce, metrics=["accuracy"])
    return model


""" + SCALE_LAYER + """

@keras.saving.register_keras_serializable(package="tests")
def macro_error(y_true, y_pred):
    return 1.0 - keras.metrics.sparse_categorical_accuracy(y_true, y_pred)


def custom_metric(config):
    inputs = keras.Input(shape=(64,))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=[macro_error])
    return model


def binary_auc(config):
    inputs = keras.Input(shape=(30,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    return model


def registered_layer(config):
    inputs = keras.Input(shape=(64,))
    x = Scale(0.5)(inputs)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
"""

pytestmark = pytest.mark.usefixtures("ray_stays_down")


@pytest.fixture
def models(tmp_path):
    (tmp_path / "models.py").write_text(textwrap.dedent(MODELS))
    (tmp_path / "custom.py").write_text(CUSTOM)
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


def test_a_custom_loss_keras_cannot_load_back_fails_before_ray_starts(models):
    path = _experiment_file(models, "custom.py:custom_loss")
    with pytest.raises(
        ConfigError,
        match=r"^build: the model build\(config\) returned cannot be saved and loaded back .*"
        r"register_keras_serializable.*Could not locate function 'smoothed_ce'.*\(config: \{'width': \d+\}\)$",
    ):
        Experiment.from_yaml(path)


# In a new process that never imported models.py, as in a Ray worker: build
# the model, save it, and load it back.
_WORKER = """
import sys, keras, ray.cloudpickle
build = ray.cloudpickle.loads(open(sys.argv[1], "rb").read())
build({"width": 8}).save(sys.argv[2])
print(type(keras.saving.load_model(sys.argv[2]).layers[1]).__name__)
"""


def _in_a_worker(build, tmp_path) -> subprocess.CompletedProcess:
    (tmp_path / "build.pkl").write_bytes(ray.cloudpickle.dumps(build))
    args = [sys.executable, "-c", _WORKER, str(tmp_path / "build.pkl"), str(tmp_path / "model.keras")]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_custom_objects_a_build_file_registers_are_registered_in_the_workers(models, tmp_path):
    build = load_build(f"{models / 'custom.py'}:registered_layer")  # Ray ships the file by value
    bare = _in_a_worker(build, tmp_path)
    assert bare.returncode != 0 and "Could not locate class 'Scale'" in bare.stderr
    shipped = _in_a_worker(RegisteringBuild(build), tmp_path)
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout.split() == ["Scale"]
    assert RegisteringBuild(build).__qualname__ == "registered_layer"


def test_a_metric_the_model_is_compiled_with_can_be_the_objective(models):
    build = load_build(f"{models / 'custom.py'}:custom_metric")
    experiment = Experiment(space=Space(width=Int(8, 16)), build=build, data="digits", metric="val_macro_error")
    assert experiment.metric == "val_macro_error"
    with pytest.raises(
        ConfigError,
        match=r"^metric: the model build\(config\) returns never reports 'val_macro_err' for a multiclass "
        r"task; available: \['loss', 'macro_error', 'val_loss', 'val_macro_error'\]\. Compile the model "
        r"with that metric in build\(config\)",
    ):
        Experiment(space=Space(width=Int(8, 16)), build=build, data="digits", metric="val_macro_err")


def test_a_model_compiled_with_auc_needs_no_metrics_setting(models):
    build = load_build(f"{models / 'custom.py'}:binary_auc")
    space = Space(width=Int(8, 16))
    assert Experiment(space=space, build=build, data="breast_cancer", metric="val_auc", mode="max").mode == "max"
    with pytest.raises(
        ConfigError,
        match=r"^metric: the model build\(config\) returns never reports 'val_pr_auc' .* Compile the model "
        r"with it in build\(config\), or return it uncompiled and pass metrics=\['pr_auc'\]\.$",
    ):
        Experiment(space=space, build=build, data="breast_cancer", metric="val_pr_auc", mode="max")


def test_a_second_objective_must_be_reported_by_the_model(models):
    build = load_build(f"{models / 'custom.py'}:custom_metric")
    space = Space(width=Int(8, 16))
    assert Experiment(space=space, build=build, data="digits", metric=["val_loss", "val_macro_error"], mode=["min", "min"])
    with pytest.raises(
        ConfigError, match=r"^metric\.1: the model build\(config\) returns never reports 'val_accuracy'"
    ):
        Experiment(space=space, build=build, data="digits", metric=["val_loss", "val_accuracy"], mode=["min", "max"])
