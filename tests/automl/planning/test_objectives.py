"""Several objectives: parsing metric/mode and the Pareto front."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from automl import ConfigError, Experiment
from automl.planning._objectives import best_on_front, pareto_front, parse_objectives
from search_spaces import mlp


def test_one_or_several_objectives():
    assert parse_objectives("val_loss", "min") == (("val_loss", "min"),)
    assert parse_objectives(["val_accuracy", "params"], ["max", "min"]) == (
        ("val_accuracy", "max"),
        ("params", "min"),
    )


@pytest.mark.parametrize(
    "metric, mode, match",
    [
        (
            ["val_accuracy", "params"],
            "max",
            r"^mode: needs one mode per metric, but got 1 modes for metrics \['val_accuracy', 'params'\]",
        ),
        (["val_accuracy", "val_accuracy"], ["max", "max"], r"^metric: each metric may appear once"),
        (["val_accuracy", 3], ["max", "min"], r"^metric\.1: expected a metric name, but got 3"),
        (["val_accuracy", "params"], ["max", "lower"], r"^mode\.1: expected 'min' or 'max', but got 'lower'"),
        ([], "max", r"^metric: expected a name or a non-empty list of names, but got \[\]"),
    ],
)
def test_bad_objectives_name_the_field(metric, mode, match):
    with pytest.raises(ConfigError, match=match):
        parse_objectives(metric, mode)


def test_pareto_front_keeps_the_non_dominated_complete_trials():
    trials = pd.DataFrame(
        {
            "number": [1, 2, 3, 4, 5, 6],
            "state": ["COMPLETE", "COMPLETE", "COMPLETE", "COMPLETE", "PRUNED", "COMPLETE"],
            "val_accuracy": [0.90, 0.95, 0.80, 0.90, 0.99, math.nan],
            "params": [1000, 5000, 500, 2000, 10, 1],
        }
    )
    front = pareto_front(trials, [("val_accuracy", "max"), ("params", "min")])
    # 4 is dominated by 1 (same accuracy, more params); 5 was pruned; 6 has no score.
    assert list(front["number"]) == [2, 1, 3]


def test_ties_are_all_on_the_front():
    trials = pd.DataFrame({"number": [1, 2], "state": ["COMPLETE"] * 2, "a": [1.0, 1.0], "b": [2.0, 2.0]})
    assert list(pareto_front(trials, [("a", "max"), ("b", "min")])["number"]) == [1, 2]


def test_the_model_handed_over_is_on_the_front_ties_broken_by_the_later_objectives():
    trials = pd.DataFrame(
        {
            "trial_id": ["a", "b", "c", "d"],
            "number": [1, 2, 3, 4],
            "state": ["COMPLETE"] * 4,
            # a reached 1.0 at its best epoch and ends at 1.0 like b, with more parameters: b dominates it
            "best_val_accuracy": [1.0, 1.0, 0.9, 0.95],
            "val_accuracy": [1.0, 1.0, 0.9, 0.95],
            "params": [1897, 512, 100, 512],
            "val_loss": [0.1, 0.2, 0.3, 0.4],
        }
    )
    assert best_on_front(trials, [("val_accuracy", "max"), ("params", "min")]) == "b"
    # Three objectives: a and b tie on the first; the second breaks the tie.
    three = [("val_accuracy", "max"), ("val_loss", "min"), ("params", "min")]
    assert list(pareto_front(trials, three)["trial_id"]) == ["a", "b", "c"]  # b dominates d
    assert best_on_front(trials, three) == "a"
    assert best_on_front(trials.assign(state="FAILED"), three) is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scheduler": "asha"}, r"^scheduler: asha stops trials early on one metric"),
        ({"sampler": "cmaes"}, r"^sampler: cmaes optimizes one objective, but got 2"),
        (
            {"metric": ["val_accuracy", "val_mae"]},
            r"^metric\.1: the trainer never reports 'val_mae' for a multiclass task",
        ),
        (
            {"evaluated_points": [{"config": {}, "value": 1.0}]},
            r"^evaluated_points: known scores seed a single objective",
        ),
    ],
)
def test_settings_that_do_not_fit_several_objectives_fail_before_ray(kwargs, match):
    settings = {"metric": ["val_accuracy", "val_loss"], "mode": ["max", "min"], **kwargs}
    with pytest.raises(ConfigError, match=match):
        Experiment(space=mlp(), data="iris", num_trials=2, epochs=2, **settings)


def test_nsga2_needs_several_objectives():
    with pytest.raises(ConfigError, match=r"^sampler: nsga2 needs several objectives"):
        Experiment(space=mlp(), data="iris", sampler="nsga2")
