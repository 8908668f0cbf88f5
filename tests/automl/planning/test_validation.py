"""Bad input to `automl.tune` fails fast, before Ray starts.

These tests must not start Ray: each asserts that Ray is still down afterwards.
"""

from __future__ import annotations

import pytest

import automl
from search_spaces import Categorical, Float, Space, mlp
from trainers import load_sklearn

pytestmark = pytest.mark.usefixtures("ray_stays_down")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"sampler": "bayes"},
            r"^sampler: unknown sampler 'bayes'; accepted: \['tpe', 'random', 'cmaes', 'qmc', 'gp', 'nsga2', 'grid'\]\.",
        ),
        ({"sampler": "tpee"}, r"^sampler: unknown sampler 'tpee' \(did you mean 'tpe'\?\)"),
        (
            {"scheduler": "hyperband9"},
            r"^scheduler: unknown scheduler 'hyperband9' \(did you mean 'hyperband'\?\); accepted: \['asha', 'hyperband', 'median', 'pbt', 'fifo'\]",
        ),
        (
            {"metric": "val_f1"},
            r"^metric: the trainer never reports 'val_f1' for a multiclass task; available: \['loss', 'accuracy', 'val_loss', 'val_accuracy'\]",
        ),
        (
            {"metric": "val_auc"},
            r"^metric: the trainer never reports 'val_auc' for a multiclass task; available: \['loss'",
        ),
        (  # an optional metric of the task, not asked for: the fix is to ask for it
            {"metric": "val_top_3_accuracy"},
            r"^metric: the trainer never reports 'val_top_3_accuracy' .*\. Ask for it with "
            r"metrics=\['top_3_accuracy'\]\.$",
        ),
        (
            {"metrics": ["auc"], "metric": "val_auc"},
            r"^metrics\.0: 'auc' is not a multiclass metric; accepted for multiclass: \['top_3_accuracy'\]",
        ),
        (  # only the task's metrics are offered (this used to list auc and mape for digits)
            {"metrics": ["top3"]},
            r"^metrics\.0: unknown metric 'top3'; accepted for multiclass: \['top_3_accuracy'\]\.$",
        ),
        ({"metrics": "auc"}, r"^metrics: expected a list of metric names, but got 'auc'"),
        ({"reduce_lr_patience": -1}, r"^reduce_lr_patience: expected an int >= 0, but got -1"),
        (
            {"mixed_precision": True},
            r"^mixed_precision: mixed precision pays off on GPUs .* resources_per_trial=\{'cpu': 1\}",
        ),
        ({"mode": "up"}, r"^mode: expected 'min' or 'max', but got 'up'"),
        ({"num_trials": 0}, r"^num_trials: expected an int >= 1, but got 0"),
        ({"seed": 2**32}, r"^seed: expected an int in \[0, 2\*\*32\), but got 4294967296"),
        ({"time_budget_s": 0}, r"^time_budget_s: expected a number of seconds > 0, but got 0"),
        ({"time_budget_s": "1h"}, r"^time_budget_s: expected a number of seconds > 0, but got '1h'"),
        ({"epochs": 2.5}, r"^epochs: expected an int >= 1, but got 2\.5"),
        ({"max_concurrent_trials": 0}, r"^max_concurrent_trials: expected an int >= 1, but got 0"),
        (  # 20 epochs: brackets of 4, 6 and 12 trials; the last two pause theirs at milestones
            {"scheduler": "hyperband", "epochs": 20, "num_trials": 30, "max_concurrent_trials": 11},
            r"^max_concurrent_trials: expected at least 12 or None with scheduler 'hyperband', but got 11: "
            r".* use scheduler 'asha', which never pauses trials\.$",
        ),
        (  # 10 trials: the first two brackets, 4 and 6
            {"scheduler": "hyperband", "epochs": 20, "num_trials": 10, "max_concurrent_trials": 5},
            r"^max_concurrent_trials: expected at least 6 or None",
        ),
        (  # reduction_factor 2, 9 epochs: brackets of 4, 4, 6 and 8; 12 trials give the third 4
            {
                "scheduler": {"name": "hyperband", "reduction_factor": 2},
                "epochs": 9,
                "num_trials": 12,
                "max_concurrent_trials": 3,
            },
            r"^max_concurrent_trials: expected at least 4 or None",
        ),
        (
            {"max_trials_per_worker": 0},
            r"^max_trials_per_worker: expected a whole number >= 1 or null \(no limit\), but got 0",
        ),
        (
            {"max_worker_memory_growth": "10%"},
            r"^max_worker_memory_growth: expected a fraction >= 0 \(0\.1 = 10%\) or null \(no limit\), but got '10%'",
        ),
        (
            {"resources_per_trial": {"npu": 1}},
            r"^resources_per_trial\.npu: unknown resource 'npu'; accepted: \['cpu', 'gpu', 'tpu', 'memory'\]",
        ),
        (
            {"resources_per_trial": {"cpu": -1}},
            r"^resources_per_trial\.cpu: expected a number >= 0, but got -1",
        ),
        ({"resources_per_trial": {"cpu": 0}}, r"^resources_per_trial: a trial needs some CPU or GPU"),
        ({"data": [1, 2, 3]}, r"^data: expected trainers\.TrainingData .* but got list"),
        ({"data": "mnist"}, r"^data: unknown bundled data set 'mnist'"),
    ],
)
def test_bad_arguments_raise_before_ray_starts(kwargs, match):
    args = {"data": "digits", **kwargs}
    with pytest.raises(automl.ConfigError, match=match):
        automl.tune(mlp(), **args)


def test_empty_space_raises():
    with pytest.raises(ValueError, match=r"a space needs at least one entry"):
        automl.tune(Space(), data="digits")


def test_space_must_be_a_space():
    with pytest.raises(automl.ConfigError, match=r"^space: expected a search_spaces\.Space, but got dict"):
        automl.tune({"lr": 0.1}, data="digits")


def test_space_with_keys_the_trainer_does_not_know():
    space = mlp(activation=Categorical(["relu", "tanh"]))
    with pytest.raises(automl.ConfigError, match=r"^config\.activation: the trainer does not know this key"):
        automl.tune(space, data=load_sklearn("digits"))


def test_points_to_evaluate_outside_the_space_are_rejected():
    space = mlp()
    good = space.default_config()
    bad = {**good, "learning_rate": 3.0}
    with pytest.raises(
        automl.ConfigError,
        match=r"^points_to_evaluate\.1: out of the space: The value 3\.0 of the parameter 'learning_rate'",
    ):
        automl.tune(space, data="digits", points_to_evaluate=[good, bad])


def test_pbt_takes_no_known_scores_and_no_mutation_the_trainer_cannot_continue_with():
    config = mlp().default_config()
    with pytest.raises(
        automl.ConfigError,
        match=r"^evaluated_points: pbt trains one population from the start and learns nothing from "
        r"earlier scores; pass those configs as points_to_evaluate",
    ):
        automl.tune(
            mlp(), data="digits", scheduler="pbt", evaluated_points=[{"config": config, "value": 0.9}]
        )
    with pytest.raises(automl.ConfigError, match=r"^scheduler\.mutate\.0: pbt continues a trial"):
        automl.tune(mlp(), data="digits", scheduler={"name": "pbt", "mutate": ["optimizer"]})


def test_more_points_than_trials_is_rejected():
    config = mlp().default_config()
    with pytest.raises(
        automl.ConfigError,
        match=r"^points_to_evaluate: `num_trials` must be >= .*\(num_trials=1, points_to_evaluate=2\)",
    ):
        automl.tune(mlp(), data="digits", num_trials=1, points_to_evaluate=[config, config])


@pytest.mark.parametrize(
    "entries, match",
    [
        (
            {"optimizer": Categorical(["adam", "sgd"]), "momentum": Float(0.0, 0.9)},
            r"^config\.momentum: .*adam",
        ),
        ({"loss": "mse"}, r"^config\.loss: .*multiclass"),
        (
            {"label_smoothing": Float(0.0, 0.2), "loss": Categorical(["mae", "mse"])},
            r"^config\.(loss|label_smoothing)",
        ),
    ],
)
def test_every_choice_of_the_space_is_checked_by_the_trainer_before_ray(entries, match):
    # momentum is fine for sgd, but the space can also pair it with adam: caught up front.
    with pytest.raises(automl.ConfigError, match=match):
        automl.Experiment(space=mlp(**entries), data="digits", num_trials=1)


def test_a_bad_tracking_wait_in_the_environment_is_refused_before_ray(monkeypatch):
    monkeypatch.setenv("AUTOML_TRACKING_WAIT_S", "a minute")
    with pytest.raises(
        automl.ConfigError,
        match=r"^AUTOML_TRACKING_WAIT_S: expected a number of seconds >= 0, but got 'a minute'",
    ):
        automl.tune(mlp(), data="iris", num_trials=1)


def test_optional_metrics_widen_what_can_be_optimized():
    experiment = automl.Experiment(
        space=mlp(), data="breast_cancer", metric="val_auc", metrics=["auc", "recall"], num_trials=1
    )
    assert experiment.metrics == ["auc", "recall"]


def test_reduce_lr_on_plateau_is_refused_with_a_space_that_schedules_the_rate():
    space = mlp(lr_schedule=Categorical(["constant", "cosine"]))
    with pytest.raises(
        automl.ConfigError, match=r"^reduce_lr_patience: .*lr_schedule='cosine'.*use one or the other"
    ):
        automl.Experiment(space=space, data="digits", num_trials=1, reduce_lr_patience=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"n_trials": 5},
            r"^n_trials: unknown keyword argument 'n_trials' for tune; the number of trials is 'num_trials' "
            r"\(Optuna's n_trials\)\.$",
        ),
        ({"num_samples": 5}, r"^num_samples: .*'num_trials' \(Ray Tune's num_samples\)"),
        ({"max_trials": 5}, r"^max_trials: .*'num_trials' \(KerasTuner's max_trials\)"),
        ({"timeout": 60}, r"^timeout: .*'time_budget_s' \(seconds\) \(Optuna's timeout\)"),
        ({"max_epochs": 5}, r"^max_epochs: .*'epochs' \(KerasTuner's max_epochs\)"),
        ({"max_t": 5}, r"^max_t: .*from the top-level 'epochs' \(Ray Tune's max_t\)"),
        (
            {"objective": "val_accuracy"},
            r"^objective: .*'metric' .* with 'mode' .*\(KerasTuner's objective\)",
        ),
        ({"direction": "maximize"}, r"^direction: .*'mode': 'min' or 'max' \(Optuna's direction\)"),
        ({"search_alg": "tpe"}, r"^search_alg: .*the sampler is 'sampler' .*\(Ray Tune's search_alg\)"),
        ({"max_concurrent": 2}, r"^max_concurrent: .*'max_concurrent_trials' \(Ray Tune's max_concurrent\)"),
        ({"n_jobs": 2}, r"^n_jobs: .*'max_concurrent_trials' \(Optuna's n_jobs\)"),
        ({"resources": {"cpu": 2}}, r"^resources: .*'resources_per_trial'.*\(Ray Tune's resources\)"),
        ({"grace_period": 2}, r"^grace_period: .*scheduler=\{'name': 'asha', 'grace_period': \.\.\.\}"),
        ({"reduction_factor": 3}, r"^reduction_factor: .*a scheduler setting"),
        (
            {"pruner": "median"},
            r"^pruner: .*'scheduler' \('asha', 'median', 'hyperband'\) \(Optuna's pruner\)",
        ),
        # A typo still gets the closest name, with the list.
        (
            {"num_trial": 5},
            r"^num_trial: unknown keyword argument 'num_trial' for tune \(did you mean 'num_trials'\?\); accepted: \[",
        ),
        (
            {"resources_per_trial": {"num_gpus": 1}},
            r"^resources_per_trial\.num_gpus: unknown resource 'num_gpus'; accepted: \['cpu', 'gpu', 'tpu', "
            r"'memory'\]; GPUs are 'gpu' \(Ray Tune's num_gpus\)\.$",
        ),
        ({"resources_per_trial": {"CPU": 2}}, r"^resources_per_trial\.CPU: .*CPUs are 'cpu'"),
        ({"scheduler": {"name": "asha", "max_t": 10}}, r"^scheduler\.max_t: .*top-level 'epochs'"),
        ({"sampler": {"name": "tpe", "seed": 1}}, r"^sampler\.seed: .*top-level 'seed'"),
    ],
)
def test_another_tools_names_point_at_ours(kwargs, match):
    with pytest.raises(automl.ConfigError, match=match):
        automl.tune(mlp(), data="digits", **kwargs)


def test_an_experiment_with_another_tools_keyword_points_at_ours():
    with pytest.raises(
        automl.ConfigError,
        match=r"^n_trials: unknown keyword argument 'n_trials' for Experiment; .*'num_trials'",
    ):
        automl.Experiment(space=mlp(), data="digits", n_trials=3)


@pytest.mark.parametrize(
    ("data", "metrics", "match"),
    [
        (  # a regression task is offered only its own metrics, never auc
            "diabetes",
            ["top3"],
            r"^metrics\.0: unknown metric 'top3'; accepted for regression: \['rmse', 'mse', 'mape'\]\.$",
        ),
        (
            "diabetes",
            ["auc"],
            r"^metrics\.0: 'auc' is not a regression metric; accepted for regression: \['rmse', 'mse', 'mape'\]; "
            r"'auc' is a binary metric\.$",
        ),
        ("breast_cancer", ["rmsee"], r"^metrics\.0: unknown metric 'rmsee'; accepted for binary: \['auc'"),
        (
            "diabetes",
            ["rmsee"],
            r"^metrics\.0: unknown metric 'rmsee' \(did you mean 'rmse'\?\); accepted for regression",
        ),
    ],
)
def test_metric_lists_offer_only_the_tasks_metrics(data, metrics, match):
    with pytest.raises(automl.ConfigError, match=match):
        automl.Experiment(space=mlp(), data=data, metric="val_loss", mode="min", metrics=metrics)
