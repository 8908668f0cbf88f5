"""Known scores seed the sampler's study without a trial: checked without Ray."""

from __future__ import annotations

import optuna
import pytest

from automl import ConfigError, Experiment
from automl.execution._searcher import seeded_storage
from automl.planning._warm_start import known_points
from search_spaces import Categorical, Dense, Int, LayerStack, Space

SPACE = Space(
    layers=LayerStack(Dense(units=Int(8, 64)), max_layers=2), learning_rate=Categorical([1e-3, 1e-2])
)
CONFIG = {
    "layers": [{"type": "dense", "units": 16, "activation": "relu", "dropout": 0.0}],
    "learning_rate": 1e-2,
}


def _known(points):
    return known_points(SPACE, evaluated_points=points, warm_start=None, metric="val_accuracy", mode="max")


def test_known_points_become_complete_trials_with_real_distributions():
    known = _known([{"config": CONFIG, "value": 0.9}, {"config": SPACE.default_config(), "value": 0.5}])
    assert known[0] == ({"layers.depth": 1, "layers.0.units": 16, "learning_rate": 1e-2}, 0.9)
    storage = seeded_storage(known, direction="max", sample=SPACE.sample, study_name="optuna")
    study = optuna.load_study(study_name="optuna", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert [t.value for t in study.trials] == [0.9, 0.5]
    assert study.best_trial.params == known[0][0]
    assert isinstance(study.trials[0].distributions["layers.0.units"], optuna.distributions.IntDistribution)
    # A TPE study loaded from it proposes from what it knows.
    tpe = optuna.load_study(
        study_name="optuna", storage=storage, sampler=optuna.samplers.TPESampler(n_startup_trials=1, seed=0)
    )
    assert SPACE.sample(tpe.ask())["learning_rate"] in (1e-3, 1e-2)


@pytest.mark.parametrize(
    "points, match",
    [
        ({"config": CONFIG, "value": 1}, r"^evaluated_points: expected a list of \{config, value\} mappings"),
        ([CONFIG], r"^evaluated_points\.0: expected a mapping with exactly `config` and `value`"),
        (
            [{"config": CONFIG, "value": float("nan")}],
            r"^evaluated_points\.0\.value: expected a finite number, but got nan",
        ),
        (
            [{"config": CONFIG, "value": "high"}],
            r"^evaluated_points\.0\.value: expected a finite number, but got 'high'",
        ),
        ([{"config": {**CONFIG, "learning_rate": 0.5}, "value": 1.0}], r"^evaluated_points\.0\.config"),
    ],
)
def test_bad_known_points_name_the_field(points, match):
    with pytest.raises(ConfigError, match=match):
        _known(points)


def test_warm_start_needs_a_finished_run(tmp_path):
    with pytest.raises(ConfigError, match=r"^warm_start\.run_dir: .* holds no readable result\.json"):
        known_points(SPACE, evaluated_points=(), warm_start=tmp_path, metric="val_accuracy", mode="max")


def test_grid_search_takes_no_known_points():
    space = Space(layers=LayerStack(Dense(units=Categorical([8, 16]))), learning_rate=1e-2)
    config = {
        "layers": [{"type": "dense", "units": 8, "activation": "relu", "dropout": 0.0}],
        "learning_rate": 1e-2,
    }
    with pytest.raises(ConfigError, match=r"^evaluated_points: a grid search runs every config"):
        Experiment(
            space=space,
            data="iris",
            sampler="grid",
            num_trials=2,
            evaluated_points=[{"config": config, "value": 0.5}],
        )
