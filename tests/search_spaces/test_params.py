from __future__ import annotations

import math

import optuna
import pytest

from search_spaces import Boolean, Categorical, ConfigError, Fixed, Float, Int
from search_spaces._params import parameter_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = [
    Float(0.0, 1.0),
    Float(1e-4, 1e-1, log=True, default=1e-3),
    Float(0.0, 1.0, step=0.25),
    Int(1, 10),
    Int(16, 256, log=True),
    Int(0, 100, step=20, default=40),
    Categorical(["adam", "sgd", None]),
    Categorical([32, 64], default=64),
    Boolean(default=True),
    Fixed("relu"),
]


def _samples(param, n=30):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    return [param.sample(study.ask(), "p") for _ in range(n)]


@pytest.mark.parametrize("param", PARAMS, ids=repr)
def test_round_trip_through_dict(param):
    assert parameter_from_dict(param.to_dict()) == param


@pytest.mark.parametrize("param", PARAMS, ids=repr)
def test_samples_and_default_lie_in_the_domain(param):
    values = [*_samples(param), param.default_value()]
    for value in values:
        if isinstance(param, (Float, Int)):
            assert param.low <= value <= param.high
            if param.step not in (None, 1):
                k = (value - param.low) / param.step
                assert math.isclose(k, round(k), abs_tol=1e-9)
        elif isinstance(param, Categorical):
            assert value in param.choices
        elif isinstance(param, Boolean):
            assert value in (True, False)
        else:
            assert value == param.value


def test_int_samples_are_ints_and_float_samples_are_floats():
    assert all(type(v) is int for v in _samples(Int(1, 5)))
    assert all(type(v) is float for v in _samples(Float(0, 1)))


def test_defaults():
    assert Float(1e-4, 1e-2, log=True).default_value() == pytest.approx(1e-3)
    assert Int(0, 10).default_value() == 5
    assert Int(0, 90, step=30).default_value() == 60
    assert Categorical(["a", "b"]).default_value() == "a"


def test_repr_shows_only_non_default_fields():
    assert repr(Int(1, 4)) == "Int(low=1, high=4)"
    assert repr(Float(0.1, 1.0, log=True)) == "Float(low=0.1, high=1.0, log=True)"


@pytest.mark.parametrize(
    ("make", "field", "match"),
    [
        (lambda: Float(1.0, 0.0), "low", r"`low <= high` must hold, but got \(low=1.0, high=0.0\)"),
        (lambda: Int(5, 1), "low", r"low=5, high=1"),
        (lambda: Float(0.0, 1.0, log=True), "low", r"log scale needs `low > 0`, but got low=0.0"),
        (lambda: Int(-1, 8, log=True), "low", r"low=-1"),
        (lambda: Float(0.0, 1.0, step=0.3), "step", r"`step` must divide `high - low`"),
        (lambda: Int(0, 10, step=3), "step", r"step=3"),
        (lambda: Float(0.0, 1.0, step=-0.5), "step", r"`step` must be > 0"),
        (lambda: Float(1e-3, 1.0, log=True, step=0.1), "step", r"cannot be combined"),
        (lambda: Float(0.0, math.inf), "high", r"finite number, but got inf"),
        (lambda: Float(0.0, math.nan), "high", r"finite number, but got nan"),
        (lambda: Float("0", 1.0), "low", r"expected a number, but got '0'"),
        (lambda: Int(0.5, 3), "low", r"expected an int, but got 0.5"),
        (lambda: Int(True, 3), "low", r"expected an int, but got True"),
        (lambda: Float(0.0, 1.0, default=2.0), "default", r"must lie in \[low, high\]"),
        (lambda: Categorical([]), "choices", r"at least one choice"),
        (lambda: Categorical("abc"), "choices", r"expected a list of choices"),
        (lambda: Categorical(["a", "a"]), "choices", r"unique"),
        (lambda: Categorical([[1, 2]]), "choices", r"must be str, int, float, bool or None"),
        (lambda: Categorical(["a"], default="b"), "default", r"one of \['a'\], but got 'b'"),
        (lambda: Boolean(default="yes"), "default", r"true or false"),
        (lambda: Fixed({"a": 1}), "value", r"expected a str, int"),
    ],
)
def test_bad_parameters_name_the_field_and_value(make, field, match):
    with pytest.raises(ConfigError, match=match) as info:
        make()
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_from_dict_rejects_unknown_type_and_keys():
    with pytest.raises(ConfigError, match=r"unknown parameter type 'flaot'; accepted: \["):
        parameter_from_dict({"type": "flaot", "low": 0, "high": 1})
    with pytest.raises(
        ConfigError, match=r"unknown key 'hihg' for the float parameter \(did you mean 'high'\?\)"
    ):
        parameter_from_dict({"type": "float", "low": 0, "hihg": 1})
    with pytest.raises(
        ConfigError, match=r"^high: the int parameter needs \['low', 'high'\], but got \['low'\]"
    ):
        parameter_from_dict({"type": "int", "low": 0})


def test_plain_values_become_fixed():
    assert parameter_from_dict(3) == Fixed(3)
