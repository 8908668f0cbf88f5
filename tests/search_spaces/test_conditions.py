"""Conditional parameters: sampled define-by-run only when earlier entries allow them."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import Boolean, Categorical, ConfigError, Dense, Fixed, Float, Int, LayerStack, Space


def _space() -> Space:
    return Space(
        optimizer=Categorical(["adam", "sgd", "rmsprop"]),
        momentum=Float(0.0, 0.99, when={"optimizer": ["sgd", "rmsprop"]}),
        nesterov=Boolean(when={"optimizer": "sgd"}),
        learning_rate=Float(1e-4, 1e-1, log=True),
    )


def test_inactive_parameters_are_not_sampled_and_are_none():
    space = _space()
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=5))
    seen = set()
    for _ in range(25):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, config["learning_rate"])
        seen.add(config["optimizer"])
        active = {
            "momentum": config["optimizer"] in ("sgd", "rmsprop"),
            "nesterov": config["optimizer"] == "sgd",
        }
        for name, on in active.items():
            assert (name in trial.params) is on
            assert (config[name] is not None) is on
        assert space.params_of(config) == trial.params
    assert seen == {"adam", "sgd", "rmsprop"}


def test_defaults_and_variants_follow_the_conditions():
    space = _space()
    assert space.default_config() == {
        "optimizer": "adam",
        "momentum": None,
        "nesterov": None,
        "learning_rate": 0.00316227766,
    }
    sgd = space.default_config(optimizer="sgd")
    assert sgd["momentum"] == pytest.approx(0.495) and sgd["nesterov"] is False
    assert [c["optimizer"] for c in space.variants()] == ["adam", "sgd", "rmsprop"]


def test_a_config_with_a_value_for_an_inactive_parameter_is_not_in_the_space():
    config = {"optimizer": "adam", "momentum": 0.9, "nesterov": None, "learning_rate": 0.00316227766}
    with pytest.raises(ConfigError, match=r"^momentum: the config differs from what the space allows"):
        _space().params_of(config)


def test_conditions_round_trip():
    space = _space()
    assert Space.from_dict(space.to_dict()) == space
    assert space.to_dict()["momentum"]["when"] == {"optimizer": ["sgd", "rmsprop"]}
    assert Space.from_dict(
        {"a": Categorical([1, 2]).to_dict(), "b": {"type": "fixed", "value": 3, "when": {"a": 2}}}
    )["b"] == Fixed(3, when={"a": 2})


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: Space(
                {"momentum": Float(0, 1, when={"optimizer": "sgd"}), "optimizer": Categorical(["sgd"])}
            ),
            r"^momentum\.when\.optimizer: refers to 'optimizer', which is not an earlier parameter entry",
        ),
        (
            lambda: Space(
                {
                    "optimizer": Categorical(["adam", "sgd"]),
                    "momentum": Float(0, 1, when={"optimiser": "sgd"}),
                }
            ),
            r"^momentum\.when\.optimiser: .*\(did you mean 'optimizer'\?\)",
        ),
        (
            lambda: Space(
                {
                    "optimizer": Categorical(["adam", "sgd"]),
                    "momentum": Float(0, 1, when={"optimizer": "sgdd"}),
                }
            ),
            r"^momentum\.when\.optimizer: 'optimizer' can never be 'sgdd'; it takes one of \['adam', 'sgd'\]",
        ),
        (
            lambda: Space({"lr": Float(0.1, 1), "momentum": Float(0, 1, when={"lr": 0.5})}),
            r"^momentum\.when\.lr: can only refer to a categorical, boolean or fixed",
        ),
        (
            lambda: Space({"layers": LayerStack(Dense(units=8)), "m": Int(1, 2, when={"layers": 1})}),
            r"^m\.when\.layers: refers to 'layers', which is not an earlier",
        ),
        (
            lambda: Space({"a": Boolean(), "b": Int(1, 2, when={"a": []})}),
            r"^when\.a: expected a value or a non-empty list",
        ),
        (lambda: Space({"a": Boolean(), "b": Int(1, 2, when="a")}), r"^when: expected a mapping such as"),
    ],
)
def test_bad_conditions_name_the_field(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def _layers_space() -> Space:
    # KerasTuner's habit: the second and third layers exist when num_layers says so.
    return Space(
        num_layers=Int(1, 3),
        units_2=Int(8, 64, when={"num_layers": [2, 3]}),
        units_3=Int(8, 64, when={"num_layers": 3}),
    )


def test_a_condition_can_name_values_of_an_int_entry():
    space = _layers_space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        config = space.sample(trial)
        study.tell(trial, 0.0)
        seen.add(config["num_layers"])
        assert (config["units_2"] is not None) is (config["num_layers"] >= 2)
        assert ("units_3" in trial.params) is (config["num_layers"] == 3)
        assert space.params_of(config) == trial.params
    assert seen == {1, 2, 3}
    assert Space.from_dict(space.to_dict()) == space
    assert space.to_dict()["units_2"]["when"] == {"num_layers": [2, 3]}


def test_variants_cover_every_int_value_a_condition_names():
    variants = _layers_space().variants()
    assert sorted(c["num_layers"] for c in variants) == [2, 3]  # the default, 2, and 3
    assert any(c["units_3"] is not None for c in variants)


@pytest.mark.parametrize(
    ("when", "match"),
    [
        ({"n": 5}, r"^u\.when\.n: 'n' can never be 5; it takes the ints of \[2, 8\] in steps of 2\.$"),
        ({"n": [2, 3]}, r"^u\.when\.n: 'n' can never be 3; it takes the ints of \[2, 8\] in steps of 2\.$"),
        ({"n": 4.0}, r"^u\.when\.n: 'n' is an Int, so a condition lists ints, but got 4\.0\.$"),
        ({"n": True}, r"^u\.when\.n: 'n' is an Int, so a condition lists ints, but got True\.$"),
    ],
)
def test_a_condition_on_an_int_names_values_it_takes(when, match):
    with pytest.raises(ConfigError, match=match):
        Space(n=Int(2, 8, step=2), u=Int(8, 64, when=when))


def test_a_condition_on_a_float_says_what_to_do_instead():
    with pytest.raises(
        ConfigError,
        match=r"^m\.when\.lr: can only refer to a categorical, boolean or fixed parameter entry, or an Int "
        r"one, but 'lr' is Float\(low=0\.1, high=1\); .*make 'lr' a Categorical",
    ):
        Space(lr=Float(0.1, 1), m=Float(0, 1, when={"lr": 0.5}))
