"""Fuzzed experiment files: each is accepted or rejected with ConfigError naming a field.

Nothing else may escape (no TypeError/KeyError from inside our code, optuna,
Keras or Ray), no YAML tag executes, and no document reaches Ray (validation
never starts it).
"""

from __future__ import annotations

import math

import pytest
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automl import ConfigError, Experiment
from search_spaces._yaml import parse_yaml

KEYS = [
    "space",
    "data",
    "metric",
    "mode",
    "num_trials",
    "epochs",
    "patience",
    "sampler",
    "scheduler",
    "seed",
    "points_to_evaluate",
    "resources_per_trial",
    "max_concurrent_trials",
    "experiment_name",
    "time_budget_s",
]
GOOD = {
    "data": {"sklearn": "iris"},
    "space": {"preset": "mlp"},
    "metric": "val_accuracy",
    "mode": "max",
    "num_trials": 2,
    "epochs": 2,
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["tpe", "asha", "mlp", "digits", "dense", "float", "int", "max"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from([*KEYS, "type", "low", "high", "name", "layers"]), inner, max_size=4),
    ),
    max_leaves=12,
)


def _check(document: object) -> None:
    ray_was_up = ray.is_initialized()  # the session's shared Ray may be up already
    try:
        Experiment.from_dict(document, base_dir=".")
    except ConfigError as exc:
        assert str(exc).strip(), "an error must say something"
    assert ray.is_initialized() == ray_was_up, "validation must never start Ray"


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_random_documents(document):
    _check(document)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(GOOD)), value=values)
def test_one_bad_field_in_a_good_document(key, value):
    _check({**GOOD, key: value})


@pytest.mark.parametrize(
    "text",
    [
        "x: !!python/object/apply:os.system ['touch /tmp/automl-fuzz-pwned']",
        "x: !!python/name:os.system",
        "a: &a [*a]",
        "a: 1\na: 2",
        "[" * 10000,
        "a: " + "x" * 1_000_000,
        "num_trials: .nan",
        "epochs: .inf",
    ],
)
def test_hostile_yaml(text, tmp_path):
    try:
        document = parse_yaml(text)
    except ConfigError:
        return
    _check(document)
    import os

    assert not os.path.exists("/tmp/automl-fuzz-pwned")


def test_reversed_bounds_and_non_finite_numbers_name_the_field():
    space = {"preset": "mlp", "learning_rate": {"type": "float", "low": 1.0, "high": math.nan}}
    with pytest.raises(
        ConfigError, match=r"^space\.learning_rate\.high: expected a finite number, but got nan"
    ):
        Experiment.from_dict({**GOOD, "space": space})
