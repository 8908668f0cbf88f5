"""Samplers and schedulers by name: each one works with our define-by-run spaces."""

from __future__ import annotations

import json

import optuna
import pytest

from automl import Experiment
from automl.planning._choices import SAMPLERS, SCHEDULERS, GridSampler, make_sampler, parse_scheduler
from search_spaces import Categorical, ConfigError, Dense, Float, Int, LayerStack, Space, mlp
from trainers import FitSettings

optuna.logging.set_verbosity(optuna.logging.WARNING)

SINGLE = [n for n, k in SAMPLERS.items() if k.multi_objective is not True]
MULTI = [n for n, k in SAMPLERS.items() if k.multi_objective is not False]


def _space(name):
    """mlp(), made discrete for a grid search (12 distinct configs)."""
    if name != "grid":
        return mlp()
    return mlp(
        layers=LayerStack(Dense(units=Categorical([16, 32])), max_layers=2),
        learning_rate=Categorical([1e-3, 1e-2]),
        batch_size=64,
    )


def _needs(name):
    package = SAMPLERS[name].needs
    if package:
        pytest.importorskip(package)


# QMC is experimental in optuna and says so; that warning is the user's to see.
EXPERIMENTAL = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


@EXPERIMENTAL
@pytest.mark.parametrize("name", SINGLE)
def test_every_single_objective_sampler_drives_a_layer_stack_space(name):
    _needs(name)
    space = _space(name)
    sampler = make_sampler(name, seed=0, space=space, num_trials=12)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for i in range(12):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, float(len(config["layers"]) + config["learning_rate"] * i))
    assert len(study.trials) == 12


@EXPERIMENTAL
@pytest.mark.parametrize("name", MULTI)
def test_multi_objective_samplers(name):
    _needs(name)
    space = _space(name)
    study = optuna.create_study(
        directions=["maximize", "minimize"],
        sampler=make_sampler(name, seed=0, num_objectives=2, space=space, num_trials=6),
    )
    for _ in range(6):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, [config["learning_rate"], float(config["batch_size"])])
    assert study.best_trials


def test_same_seed_same_samples():
    def run(seed):
        study = optuna.create_study(sampler=make_sampler("random", seed=seed))
        return [mlp().sample(study.ask()) for _ in range(5)]

    assert run(3) == run(3)


def test_settings_reach_the_sampler():
    sampler = make_sampler({"name": "tpe", "n_startup_trials": 4, "n_ei_candidates": 7}, seed=0)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._n_startup_trials == 4  # no public getter in optuna
    assert sampler._n_ei_candidates == 7


def test_a_sampler_object_passes_through():
    sampler = optuna.samplers.RandomSampler(seed=1)
    assert make_sampler(sampler, seed=None) is sampler


@pytest.mark.parametrize(
    ("choice", "kwargs", "match"),
    [
        (
            "bayes",
            {},
            r"^sampler: unknown sampler 'bayes'; accepted: \['tpe', 'random', 'cmaes', 'qmc', 'gp', 'nsga2', 'grid'\]",
        ),
        (
            {"name": "tpe", "multivariat": True},
            {},
            r"^sampler\.multivariat: unknown setting 'multivariat' for tpe \(did you mean 'multivariate'\?\)",
        ),
        (
            {"name": "tpe", "n_startup_trials": "5"},
            {},
            r"^sampler\.n_startup_trials: expected int, but got '5'",
        ),
        ({"name": "tpe", "multivariate": 1}, {}, r"^sampler\.multivariate: expected bool, but got 1"),
        ({"nam": "tpe"}, {}, r"^sampler: expected a name or a mapping with a `name` key"),
        ("nsga2", {}, r"^sampler: nsga2 needs several objectives, but got one"),
        (
            "cmaes",
            {"num_objectives": 2},
            r"^sampler: cmaes optimizes one objective, but got 2; accepted for several: \['tpe', 'random', 'qmc', 'nsga2', 'grid'\]",
        ),
    ],
)
def test_bad_sampler_choices(choice, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        make_sampler(choice, seed=0, **kwargs)


def test_a_missing_package_says_what_to_install():
    missing = [
        n for n, k in SAMPLERS.items() if k.needs and __import__("importlib").util.find_spec(k.needs) is None
    ]
    if not missing:
        pytest.skip("every optional sampler package is installed here")
    with pytest.raises(
        ConfigError, match=rf"^sampler: the {missing[0]} sampler needs the `.+` package: pip install"
    ):
        make_sampler(missing[0], seed=0)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_every_scheduler_builds(name):
    scheduler = parse_scheduler(name, epochs=10, space=mlp()).build(epochs=10)
    assert scheduler is not None


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_trials_of_schedulers_that_pause_them_checkpoint_every_epoch(name):
    # A paused trial, or one PBT points at a better one's checkpoint, goes on from the newest checkpoint.
    settings = Experiment(space=mlp(), data="iris", num_trials=4, epochs=4, scheduler=name)._plan().settings
    pauses = name in ("hyperband", "pbt")
    assert parse_scheduler(name, epochs=4, space=mlp()).pauses_trials is pauses
    assert settings.checkpoint_interval_s == (0 if pauses else FitSettings().checkpoint_interval_s)


def test_scheduler_settings_reach_ray():
    scheduler = parse_scheduler({"name": "asha", "grace_period": 2, "reduction_factor": 3}, epochs=12).build(
        epochs=12
    )
    assert scheduler._max_t == 12  # no public getter in Ray
    assert scheduler._brackets[0].rf == 3


@pytest.mark.parametrize(
    ("choice", "match"),
    [
        (
            "bohb",
            r"^scheduler: unknown scheduler 'bohb'; accepted: \['asha', 'hyperband', 'median', 'pbt', 'fifo'\]",
        ),
        (
            {"name": "asha", "grace_period": 30},
            r"^scheduler\.grace_period: `1 <= grace_period <= epochs` must hold, but got \(grace_period=30, epochs=20\)",
        ),
        (
            {"name": "asha", "reduction_factor": 1},
            r"^scheduler\.reduction_factor: `reduction_factor` must be > 1, but got 1",
        ),
        (
            {"name": "hyperband", "grace_period": 1},
            r"^scheduler\.grace_period: unknown setting 'grace_period' for hyperband; accepted: \['reduction_factor'\]",
        ),
        (
            {"name": "median", "min_samples_required": 0},
            r"^scheduler\.min_samples_required: `min_samples_required` must be >= 1, but got 0",
        ),
        ({"name": "asha", "brackets": 1.5}, r"^scheduler\.brackets: expected int, but got 1\.5"),
    ],
)
def test_bad_scheduler_choices(choice, match):
    with pytest.raises(ConfigError, match=match):
        parse_scheduler(choice, epochs=20)


def test_pbt_mutates_the_rate_and_batch_size_the_space_searches():
    choice = parse_scheduler({"name": "pbt", "quantile_fraction": 0.5}, epochs=12, space=mlp())
    assert choice.settings["mutate"] == ["learning_rate", "batch_size"]
    pbt = choice.build(epochs=12)
    assert pbt._perturbation_interval == 2 and pbt._quantile_fraction == 0.5  # no public getters in Ray
    rate, batch = pbt._hyperparam_mutations["learning_rate"], pbt._hyperparam_mutations["batch_size"]
    assert (rate.lower, rate.upper) == (1e-4, 1e-2) and type(rate.get_sampler()).__name__ == "_LogUniform"
    assert batch == [32, 64, 128]  # PBT moves to a neighbouring choice or resamples
    only_rate = parse_scheduler({"name": "pbt", "mutate": ["learning_rate"]}, epochs=4, space=mlp())
    assert list(only_rate.mutations) == ["learning_rate"]
    assert only_rate.build(epochs=1)._perturbation_interval == 1  # never more than the epochs


def test_pbt_puts_perturbed_values_back_into_the_space():
    space = mlp(learning_rate=Float(1e-4, 1e-2, log=True), batch_size=Int(16, 256, step=16))
    explore = parse_scheduler("pbt", epochs=10, space=space).build(epochs=10)._custom_explore_fn
    assert explore({"learning_rate": 1.2e-2, "batch_size": 300, "x": 1}) == {
        "learning_rate": 1e-2,
        "batch_size": 256,
        "x": 1,
    }
    assert explore({"learning_rate": 5e-5, "batch_size": 38})["batch_size"] == 32  # onto the step
    assert explore({"learning_rate": 5e-5, "batch_size": 38})["learning_rate"] == 1e-4


@pytest.mark.parametrize(
    ("choice", "space", "match"),
    [
        (
            {"name": "pbt", "mutate": ["layers.0.units"]},
            mlp(),
            r"^scheduler\.mutate\.0: pbt continues a trial from another's checkpoint, where only "
            r"\['learning_rate', 'batch_size'\] can change \(other settings and the layers are saved in it\), "
            r"but got 'layers\.0\.units'",
        ),
        (
            {"name": "pbt", "mutate": ["batch_size"]},
            mlp(batch_size=64),
            r"^scheduler\.mutate\.0: 'batch_size' is not searched by the space .*; "
            r"searched and mutable: \['learning_rate'\]",
        ),
        (
            "pbt",
            mlp(learning_rate=1e-3, batch_size=64),
            r"^scheduler: pbt changes \['learning_rate', 'batch_size'\] while trials train, but the space "
            r"searches none of them",
        ),
        (
            {"name": "pbt", "mutate": ["learning_rate"]},
            Space(
                optimizer=Categorical(["adam", "sgd"]),
                learning_rate=Float(1e-3, 1e-1, log=True, when={"optimizer": "sgd"}),
            ),
            r"^scheduler\.mutate\.0: 'learning_rate' is sampled only when \{'optimizer': 'sgd'\}",
        ),
        ({"name": "pbt", "mutate": "learning_rate"}, mlp(), r"^scheduler\.mutate: expected list or tuple"),
        ({"name": "pbt", "mutate": []}, mlp(), r"^scheduler\.mutate: expected at least one parameter"),
        (
            {"name": "pbt", "perturbation_interval": 21},
            mlp(),
            r"^scheduler\.perturbation_interval: `1 <= perturbation_interval <= epochs` must hold, "
            r"but got \(perturbation_interval=21, epochs=20\)",
        ),
        (
            {"name": "pbt", "burn_in_period": 20},
            mlp(),
            r"^scheduler\.burn_in_period: `0 <= burn_in_period < epochs` must hold",
        ),
        (
            {"name": "pbt", "quantile_fraction": 0.75},
            mlp(),
            r"^scheduler\.quantile_fraction: expected a number in \(0, 0\.5\], but got 0\.75",
        ),
        (
            {"name": "pbt", "resample_probability": 2},
            mlp(),
            r"^scheduler\.resample_probability: expected a number in \[0, 1\], but got 2",
        ),
    ],
)
def test_bad_pbt_choices(choice, space, match):
    with pytest.raises(ConfigError, match=match):
        parse_scheduler(choice, epochs=20, space=space)


def test_grid_runs_every_distinct_config_once_following_conditions():
    space = mlp(
        layers=LayerStack(Dense(units=Categorical([16, 32])), min_layers=1, max_layers=2),
        optimizer=Categorical(["adam", "sgd"]),
        momentum=Float(0.0, 0.9, step=0.45, when={"optimizer": "sgd"}),
        learning_rate=1e-3,
        batch_size=64,
    )
    # (2 one-layer + 4 two-layer stacks) x (adam + 3 sgd momenta); optuna's own GridSampler
    # would take the product of every name, layer 1 and momentum included when unused.
    sampler = make_sampler({"name": "grid", "shuffle": True}, seed=0, space=space, num_trials=24)
    assert isinstance(sampler, GridSampler) and len(sampler) == 24
    study = optuna.create_study(sampler=sampler)
    configs = []
    for _ in range(24):
        trial = study.ask()
        configs.append(json.dumps(space.sample(trial), sort_keys=True))
        study.tell(trial, 0.0)  # no study.stop(): Ray's ask-and-tell loop would raise
    assert len(set(configs)) == 24
    again = make_sampler("grid", seed=0, space=space, num_trials=24)
    assert (
        again._points == sampler._points
        and make_sampler("grid", seed=1, space=space, num_trials=24)._points != sampler._points
    )


@pytest.mark.parametrize(
    "space, num_trials, match",
    [
        (
            mlp(),
            4,
            r"^space\.layers\.0\.dropout: a grid needs finitely many values, but 'layers\.0\.dropout' is a continuous range",
        ),
        (
            mlp(layers=LayerStack(Dense(units=Categorical([8, 16]))), learning_rate=0.01),
            7,
            r"^num_trials: the grid has 6 distinct configs and each runs once, but got num_trials=7",
        ),
    ],
)
def test_grid_rejects_continuous_ranges_and_too_many_trials(space, num_trials, match):
    with pytest.raises(ConfigError, match=match):
        make_sampler("grid", seed=0, space=space, num_trials=num_trials)


@pytest.mark.parametrize(
    ("choice", "match"),
    [
        (
            {"name": "asha", "max_t": 10},
            r"^scheduler\.max_t: unknown setting 'max_t' for asha; automl takes the trials' length from the "
            r"top-level 'epochs' \(Ray Tune's max_t\)\.$",
        ),
        (
            {"name": "hyperband", "max_epochs": 10},
            r"^scheduler\.max_epochs: .*top-level 'epochs' \(KerasTuner's",
        ),
        (
            {"name": "asha", "metric": "val_loss"},
            r"^scheduler\.metric: .*the top-level 'metric' \(Ray Tune's metric\)",
        ),
        ({"name": "asha", "time_attr": "epoch"}, r"^scheduler\.time_attr: .*time is counted in epochs"),
        (
            {"name": "hyperband", "factor": 3},
            r"^scheduler\.factor: .*'reduction_factor' \(KerasTuner's factor\)",
        ),
        ({"name": "pbt", "hyperparam_mutations": {}}, r"^scheduler\.hyperparam_mutations: .*pbt's 'mutate'"),
        # One of our settings, of another scheduler: the old message, then which schedulers take it.
        (
            {"name": "hyperband", "grace_period": 1},
            r"^scheduler\.grace_period: unknown setting 'grace_period' for hyperband; accepted: "
            r"\['reduction_factor'\]; 'grace_period' is a setting of \['asha', 'median'\]\.$",
        ),
        (
            "ASHAScheduler",
            r"^scheduler: unknown scheduler 'ASHAScheduler'; this scheduler is 'asha', its settings in a "
            r"mapping: \{'name': 'asha', \.\.\.\} \(Ray Tune's ASHAScheduler\)\.$",
        ),
        ("MedianPruner", r"^scheduler: .*the scheduler 'median' \(Optuna's MedianPruner\)"),
        (
            optuna.pruners.MedianPruner(),
            r"^scheduler: expected a name or a mapping with a `name` key, but got <optuna.*; accepted names: "
            r"\[.*\]; trials are pruned by the scheduler 'median' \(Optuna's MedianPruner\)\.$",
        ),
    ],
)
def test_schedulers_in_another_tools_spelling_get_ours(choice, match):
    with pytest.raises(ConfigError, match=match):
        parse_scheduler(choice, epochs=20, space=mlp())


def test_a_ray_scheduler_object_gets_its_name_here():
    from ray.tune.schedulers import ASHAScheduler

    with pytest.raises(ConfigError, match=r"^scheduler: expected a name .*this scheduler is 'asha'"):
        parse_scheduler(ASHAScheduler(max_t=10), epochs=20)


@pytest.mark.parametrize(
    ("choice", "match"),
    [
        (
            {"name": "tpe", "seed": 1},
            r"^sampler\.seed: unknown setting 'seed' for tpe; automl seeds the sampler \(and every trial's "
            r"fit\) from the top-level 'seed' \(Optuna's seed\)\.$",
        ),
        (
            {"name": "tpe", "metric": "val_loss"},
            r"^sampler\.metric: .*top-level 'metric' \(Ray Tune's metric\)",
        ),
        ({"name": "grid", "search_space": {}}, r"^sampler\.search_space: .*name 'grid' enumerates the space"),
        (
            {"name": "random", "n_startup_trials": 5},
            r"^sampler\.n_startup_trials: unknown setting 'n_startup_trials' for random; accepted: \[\]; "
            r"'n_startup_trials' is a setting of \['tpe', 'cmaes', 'gp'\]\.$",
        ),
        (
            "TPESampler",
            r"^sampler: unknown sampler 'TPESampler'; this sampler is 'tpe' \(Optuna's TPESampler\)\.$",
        ),
        ("BayesianOptimization", r"^sampler: .*this sampler is 'gp' \(or 'tpe'\) \(KerasTuner's"),
        ("OptunaSearch", r"^sampler: .*automl samples with Optuna already"),
    ],
)
def test_samplers_in_another_tools_spelling_get_ours(choice, match):
    with pytest.raises(ConfigError, match=match):
        make_sampler(choice, seed=0, space=mlp(), num_trials=4)
