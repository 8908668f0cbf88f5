"""KerasTuner's `hp`, sampled through Optuna (driver) or holding a trial's values (worker)."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from search_spaces import ConfigError, HyperParameters
from search_spaces._hyperparameters import fixed_hyperparameters, sampling_hyperparameters


def _trials(n: int, seed: int = 0) -> list[optuna.Trial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [study.ask() for _ in range(n)]


def layered(hp: HyperParameters) -> list[Any]:
    """A getting-started hypermodel's calls: a loop, a conditional dropout, a learning-rate choice."""
    layers = []
    for i in range(hp.Int("num_layers", 1, 3)):
        layers.append(hp.Int(f"units_{i}", min_value=32, max_value=512, step=32))
    if hp.Boolean("dropout"):
        layers.append(hp.Float("rate", 0.1, 0.5, step=0.1, parent_name="dropout", parent_values=[True]))
    else:
        layers.append(hp.Float("rate", 0.1, 0.5, step=0.1, parent_name="dropout", parent_values=[True]))
    layers.append(hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4]))
    return layers


def test_sampling_follows_the_loop_and_the_condition() -> None:
    for trial in _trials(20):
        hp = sampling_hyperparameters(trial)
        layers = layered(hp)
        depth = hp.values["num_layers"]
        assert [f"units_{i}" for i in range(depth)] == [k for k in hp.values if k.startswith("units_")]
        assert all(v % 32 == 0 and 32 <= v <= 512 for k, v in hp.values.items() if k.startswith("units_"))
        assert ("rate" in hp.values) == hp.values["dropout"]
        assert layers[depth] == hp.values.get("rate")  # None while inactive, as in KerasTuner
        # Optuna saw exactly the active hyperparameters, under KerasTuner's names.
        assert trial.params == {k: v for k, v in hp.values.items()}


def test_inactive_and_unknown_names_as_in_kerastuner() -> None:
    hp = fixed_hyperparameters({"dropout": False, "num_layers": 1, "units_0": 64, "learning_rate": 1e-3})
    layered(hp)
    assert hp.values == {"dropout": False, "num_layers": 1, "units_0": 64, "learning_rate": 1e-3}
    with pytest.raises(ValueError, match="rate is currently inactive"):
        hp.get("rate")
    with pytest.raises(KeyError, match="nope does not exist"):
        hp.get("nope")
    assert hp["units_0"] == 64 and "units_0" in hp and "rate" not in hp
    assert hp.is_active("units_0") and not hp.is_active("rate")


def test_fixed_values_come_back_and_an_unknown_name_is_an_error() -> None:
    hp = fixed_hyperparameters({"units": 96})
    assert hp.Int("units", 32, 128, step=32) == 96
    assert hp.Fixed("kind", "mlp") == "mlp"
    assert hp.values == {"units": 96, "kind": "mlp"}
    with pytest.raises(ConfigError, match="declared hp.Int.*'depth'.*no value in this trial's config"):
        hp.Int("depth", 1, 3)


def test_same_name_twice_returns_the_same_value_and_a_different_range_is_refused() -> None:
    hp = sampling_hyperparameters(_trials(1)[0])
    first = hp.Int("units", 32, 64)
    assert hp.Int("units", 32, 64) == first
    with pytest.raises(ConfigError, match=r"'units' is declared twice.*max_value=64.*max_value=128"):
        hp.Int("units", 32, 128)


def test_steps_and_log_scales() -> None:
    for trial in _trials(30, seed=1):
        hp = sampling_hyperparameters(trial)
        assert hp.Int("batch", 16, 128, step=2, sampling="log") in (16, 32, 64, 128)
        assert hp.Float("lr", 1e-4, 1e-1, sampling="LOG") == pytest.approx(hp.values["lr"])  # any case, as KerasTuner
        assert 1e-4 <= hp.values["lr"] <= 1e-1
        # A step that does not divide the range: KerasTuner's values stop below max_value.
        assert hp.Int("odd", 1, 10, step=4) in (1, 5, 9)
        rate = hp.Float("rate", 0.0, 0.5, step=0.2)
        assert min(abs(rate - v) for v in (0.0, 0.2, 0.4)) < 1e-9
        assert hp.Choice("act", ["relu", "tanh"]) in ("relu", "tanh")
        assert isinstance(hp.Boolean("flag"), bool)


def test_conditional_scope() -> None:
    for values, active in (({"model": "cnn", "filters": 16}, True), ({"model": "mlp"}, False)):
        hp = fixed_hyperparameters(values)
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", ["cnn"]):
            filters = hp.Int("filters", 8, 32, step=8)
        assert (filters is not None) == active
    hp = fixed_hyperparameters({})
    with pytest.raises(ConfigError, match="conditional_scope names the parent 'model', which is not declared"):
        with hp.conditional_scope("model", ["cnn"]):
            pass


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda hp: hp.Int("u", 10, 1), r"`min_value <= max_value` must hold"),
        (lambda hp: hp.Int("u", 1.5, 3), "min_value must be an int, but got 1.5"),
        (lambda hp: hp.Int("u", 1, 8, sampling="reverse_log"), r"not supported: sampling='reverse_log'"),
        (lambda hp: hp.Float("u", 0.0, 1.0, sampling="log"), "sampling='log' needs min_value > 0"),
        (lambda hp: hp.Int("u", 1, 8, step=1, sampling="log"), "step must be > 1 with sampling='log'"),
        (lambda hp: hp.Int("u", 1, 8, default=9), r"the default must lie in \[1, 8\], but got 9"),
        (lambda hp: hp.Choice("c", [1, "a"]), "a Choice takes values of one type"),
        (lambda hp: hp.Choice("c", []), "values must be a non-empty list"),
        (lambda hp: hp.Choice("c", ["a", "b"], ordered=True), "ordered=True needs numeric values"),
        (lambda hp: hp.Choice("c", ["a", "b"], default="z"), "the default must be one of"),
        (lambda hp: hp.Boolean("b", default="yes"), "default must be True or False"),
        (lambda hp: hp.Fixed("f", [1, 2]), "a Fixed value must be an int, float, str or bool"),
        (lambda hp: hp.Int("block/units", 1, 8), "cannot contain '/'"),
        (lambda hp: hp.name_scope("block"), r"not supported: hp.name_scope"),
        (lambda hp: hp.merge([]), r"not supported: hp.merge"),
        (lambda hp: hp.space, r"not supported: hp.space"),
    ],
)
def test_bad_calls_say_what_is_wrong(call: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call(sampling_hyperparameters(_trials(1)[0]))


def test_a_parent_cannot_condition_itself() -> None:
    hp = fixed_hyperparameters({"a": 1})
    hp.Int("a", 1, 2)
    with pytest.raises(ConfigError, match="cannot have the name of its parent, 'a'"):
        hp.Int("a", 1, 2, parent_name="a", parent_values=[1])
