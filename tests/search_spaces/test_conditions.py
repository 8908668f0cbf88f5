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
