"""A KerasTuner hypermodel: loaded, sampled and checked before Ray starts; KerasTuner's own types accepted."""

from __future__ import annotations

import textwrap

import keras
import keras_tuner
import numpy as np
import optuna
import pytest

from automl import ConfigError, Experiment
from automl.cli import _searched
from search_spaces._hypermodel import HyperModelSpace, as_hypermodel
from search_spaces._hyperparameters import fixed_hyperparameters, sampling_hyperparameters
from trainers import from_arrays


def build_model(hp):
    """KerasTuner's getting-started hypermodel, on 64 features and 10 classes."""
    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 8, 32, step=8), activation="relu"))
    if hp.Boolean("dropout"):
        model.add(keras.layers.Dropout(hp.Float("rate", 0.1, 0.5, step=0.1)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", [1e-2, 1e-3])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class BatchSizeHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)


class PlainHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        return build_model(hp)


class NoCallbacks(keras_tuner.HyperModel):
    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, x, y, **kwargs):
        return model.fit(x, y, epochs=1, validation_data=kwargs["validation_data"], verbose=0)


class ChoosesEpochs(keras_tuner.HyperModel):
    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, epochs=hp.Int("epochs", 1, 3), **kwargs)


class ReturnsNothing(keras_tuner.HyperModel):
    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        model.fit(*args, **kwargs)


def _data():
    rng = np.random.default_rng(0)
    return from_arrays(rng.random((80, 64), dtype=np.float32), rng.integers(0, 10, 80), task="multiclass")


def test_kerastuner_isinstance_checks_hold():
    hp = fixed_hyperparameters({"units": 8})
    assert isinstance(hp, keras_tuner.HyperParameters)
    assert hp.Int("units", 8, 32, step=8) == 8


def test_same_structure_as_kerastuner_for_the_same_values():
    """KerasTuner's own hp, given values, and ours, holding them, lead the function down the same path."""
    for values in (
        {"num_layers": 3, "units_0": 8, "units_1": 16, "units_2": 24, "dropout": True, "rate": 0.2},
        {"num_layers": 1, "units_0": 32, "dropout": False},
    ):
        theirs = keras_tuner.HyperParameters()
        theirs.values = {**values, "learning_rate": 1e-3}
        ours = fixed_hyperparameters({**values, "learning_rate": 1e-3})
        a, b = build_model(theirs), build_model(ours)
        assert [layer.get_config().get("units") for layer in a.layers] == [
            layer.get_config().get("units") for layer in b.layers
        ]
        assert ours.values == {**values, "learning_rate": 1e-3}
        keras.backend.clear_session()


def test_a_hypermodel_class_instance_or_function():
    assert as_hypermodel(build_model).fit is None
    assert as_hypermodel(PlainHyperModel).fit is None  # KerasTuner's own fit: model.fit as the trainer calls it
    assert as_hypermodel(PlainHyperModel()).name == "PlainHyperModel"
    assert as_hypermodel(BatchSizeHyperModel()).fit is not None
    with pytest.raises(ConfigError, match="expected a function build_model\\(hp\\), a keras_tuner.HyperModel"):
        as_hypermodel(3)


def test_an_overridden_fit_is_sampled_in_the_driver_without_training():
    space = HyperModelSpace(as_hypermodel(BatchSizeHyperModel()), fit_rows=(None, None, None, None))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        config = space.sample(trial)
        assert config["batch_size"] in (16, 32)
        assert trial.params == config
    keras.backend.clear_session()


def test_experiment_plans_a_hypermodel(ray_stays_down):
    experiment = Experiment(hypermodel=BatchSizeHyperModel, data=_data(), num_trials=2, epochs=1, seed=3)
    run = vars(experiment)["_planned"]
    assert isinstance(run.space, HyperModelSpace)
    assert "val_accuracy" in run.reported


def _yaml_models(tmp_path):
    (tmp_path / "models.py").write_text(
        textwrap.dedent(
            """
            import keras

            def build_model(hp):
                model = keras.Sequential([keras.Input(shape=(64,))])
                model.add(keras.layers.Dense(hp.Int("units", 8, 16, step=8), activation="relu"))
                model.add(keras.layers.Dense(10, activation="softmax"))
                return model
            """
        )
    )


def test_yaml_names_the_hypermodel_by_reference(tmp_path, ray_stays_down):
    _yaml_models(tmp_path)
    experiment = Experiment.from_dict(
        {"hypermodel": "models.py:build_model", "data": {"sklearn": "digits"}, "num_trials": 1}, base_dir=tmp_path
    )
    assert experiment.hypermodel == f"{tmp_path / 'models.py'}:build_model"
    assert isinstance(experiment.space, HyperModelSpace)
    assert _searched(experiment) == "hypermodel build_model"  # `automl validate`'s line
    with pytest.raises(ConfigError, match="has no function 'nope'"):
        Experiment.from_dict({"hypermodel": "models.py:nope", "data": {"sklearn": "digits"}}, base_dir=tmp_path)


def _raises_on_wide(hp):
    units = hp.Int("units", 8, 16, step=8)
    if units:
        raise RuntimeError("too wide for this machine")


def _returns_a_list(hp):
    hp.Int("units", 8, 16, step=8)
    return [1, 2]


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"space": "x"}, "space", "a hypermodel declares its search space .* takes no space"),
        ({"build": build_model}, "build", "takes no build"),
        ({"scheduler": "pbt"}, "scheduler", "not supported with a hypermodel: scheduler 'pbt'"),
        ({"sampler": {"name": "grid"}}, "sampler", "not supported with a hypermodel: sampler 'grid'"),
        ({"points_to_evaluate": [{"units": 8}]}, "points_to_evaluate", "not supported with a hypermodel"),
        ({"warm_start": "somewhere"}, "warm_start", "not supported with a hypermodel"),
        (
            {"hypermodel": _raises_on_wide},
            "hypermodel",
            r"_raises_on_wide raised RuntimeError: too wide for this machine \(hp.values: \{'units': \d+\}\)",
        ),
        ({"hypermodel": _returns_a_list}, "hypermodel", r"_returns_a_list\(hp\) must return a keras.Model, but returned list. \(hp.values"),
        ({"hypermodel": NoCallbacks}, "hypermodel.fit", "without an epoch reaching the callbacks it was given"),
        (
            {"hypermodel": ChoosesEpochs},
            "hypermodel",
            r"multiple values for keyword argument 'epochs'; HyperModel.fit gets \['validation_data', 'epochs'",
        ),
        ({"hypermodel": ReturnsNothing}, "hypermodel.fit", "must return model.fit's History .* but returned None"),
    ],
)
def test_bad_input_is_refused_before_ray_starts(kwargs, field, match, ray_stays_down):
    settings = {"hypermodel": build_model, "data": _data(), "num_trials": 2, "epochs": 1, **kwargs}
    with pytest.raises(ConfigError, match=match) as info:
        Experiment(**settings)
    assert info.value.field == field
    keras.backend.clear_session()


def test_neither_space_nor_hypermodel(ray_stays_down):
    with pytest.raises(ConfigError, match="expected a search space .* or a KerasTuner hypermodel"):
        Experiment(data="digits")


def test_a_hypermodel_on_data_streamed_from_files_is_refused_naming_the_data(ray_stays_down):
    import tensorflow as tf

    def make_data(config):
        x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
        ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(8)
        return ds, ds

    with pytest.raises(ConfigError, match="a hypermodel takes in-memory data") as info:
        Experiment(hypermodel=build_model, data=make_data, num_trials=2, epochs=1)
    assert info.value.field == "data"


def test_the_first_sampled_values_are_the_run_first_trials(ray_stays_down):
    """The check samples with a copy of the run's sampler: the run's first trial gets the same values."""
    hp_seen = []

    def recording(hp):
        hp_seen.append(hp)
        return build_model(hp)

    experiment = Experiment(hypermodel=recording, data=_data(), num_trials=2, epochs=1, seed=7)
    run = vars(experiment)["_planned"]
    study = optuna.create_study(sampler=run.sampler, direction="maximize")
    hp = sampling_hyperparameters(study.ask())
    recording(hp)
    assert hp.values == hp_seen[0].values
    keras.backend.clear_session()


def test_resuming_a_hypermodel_passed_as_an_object_asks_for_it_again(tmp_path):
    from automl.planning._resume import _run_space

    manifest = {"space": {"hypermodel": "build_model"}}
    with pytest.raises(ConfigError, match=r"pass it again: automl.resume\(.*, hypermodel=build_model\)"):
        _run_space(tmp_path, manifest, _data(), None)
    space = _run_space(tmp_path, manifest, _data(), build_model)
    assert isinstance(space, HyperModelSpace) and space.hypermodel.build is build_model


def test_a_hypermodel_file_reference_is_recorded_absolute_and_loaded_again_on_resume(tmp_path, monkeypatch):
    from automl.planning._hypermodel import hypermodel_space
    from automl.planning._resume import _run_space

    (tmp_path / "models.py").write_text("def build_model(hp):\n    return hp.Int('units', 8, 16)\n")
    monkeypatch.chdir(tmp_path)
    stored = hypermodel_space("models.py:build_model", _data()).to_dict()
    assert stored == {"hypermodel": "build_model", "ref": f"{tmp_path / 'models.py'}:build_model"}
    monkeypatch.chdir("/")
    space = _run_space(tmp_path, {"space": stored}, _data(), None)  # the reference wins over a missing object
    assert space.hypermodel.name == "build_model" and space.to_dict() == stored


def _structure(hp):
    """Conditional structure without Keras: what a sampler must cope with."""
    for i in range(hp.Int("num_layers", 1, 3)):
        hp.Int(f"units_{i}", 8, 64, step=8)
    if hp.Choice("kind", ["a", "b"]) == "b":
        hp.Float("rate", 1e-4, 1e-1, sampling="log")
    return None


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes", "qmc"])
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # qmc
@pytest.mark.filterwarnings("ignore:.*sampled independently.*:UserWarning")  # cmaes on a conditional space
@pytest.mark.filterwarnings("ignore:.*CmaEsSampler.*:UserWarning")
def test_every_sampler_samples_a_conditional_hypermodel(name):
    from automl.execution._runner import optuna_warnings_only
    from automl.planning._choices import make_sampler

    space = HyperModelSpace(as_hypermodel(_structure))
    with optuna_warnings_only():
        study = optuna.create_study(sampler=make_sampler(name, seed=0), direction="maximize")
    for i in range(12):
        trial = study.ask()
        config = space.sample(trial)
        assert trial.params == config
        assert {k for k in config if k.startswith("units_")} == {f"units_{j}" for j in range(config["num_layers"])}
        assert ("rate" in config) == (config["kind"] == "b")
        study.tell(trial, float(i % 5))


def test_retraining_a_hypermodel_trial_is_refused_with_the_alternative(tmp_path):
    import pandas as pd

    from automl import TuningResult

    result = TuningResult(
        best_config={"units": 8},
        best_value=0.5,
        metric="val_accuracy",
        mode="max",
        trials=pd.DataFrame(),
        best_model_path=tmp_path / "best_model.keras",
        run_dir=tmp_path,
        tracking_uri="sqlite:///unused.db",
        experiment_id="0",
        parent_run_id="p",
        space=HyperModelSpace(as_hypermodel(build_model)),
    )
    with pytest.raises(ConfigError, match="not supported: retraining a hypermodel's trial; result.get_best_models"):
        result.retrain()
    assert result.best_hyperparameters.values == {"units": 8}
    assert result.best_hyperparameters.get("units") == 8


def test_the_searcher_pickles_a_closure_hypermodel():
    """Ray snapshots its searcher with the standard pickle; a hypermodel made inside a function survives it."""
    import pickle

    from automl.execution._searcher import FlatSample

    def make(units):
        def build(hp):
            return hp.Int("units", 8, units, step=8)

        return build

    sample = pickle.loads(pickle.dumps(FlatSample(HyperModelSpace(as_hypermodel(make(32))))))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    assert sample(study.ask())["units"] in (8, 16, 24, 32)
