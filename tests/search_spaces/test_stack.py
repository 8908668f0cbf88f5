"""Stacks: optional stacks, shared arguments, widths that change with depth, repeated blocks."""

from __future__ import annotations

import optuna
import pytest

from search_spaces import (
    GRU,
    BatchNormalization,
    Categorical,
    ConfigError,
    Conv2D,
    Dense,
    Dropout,
    Float,
    Int,
    LayerStack,
    Repeat,
    Space,
)


def _configs(space: Space, n: int = 30, seed: int = 0):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(n):
        trial = study.ask()
        yield trial, space.sample(trial)


def test_a_stack_with_min_layers_zero_may_be_empty():
    space = Space(layers=LayerStack(Dense(units=Int(8, 16)), min_layers=0, max_layers=2))
    depths = {len(config["layers"]) for _, config in _configs(space)}
    assert depths == {0, 1, 2}
    assert space.default_config() == {"layers": []}


def test_shared_width_is_sampled_once_for_all_layers():
    space = Space(
        layers=LayerStack(Dense(units=Int(8, 256), dropout=Float(0.0, 0.5)), max_layers=3, shared=["units"])
    )
    for trial, config in _configs(space):
        assert len({layer["units"] for layer in config["layers"]}) == 1
        assert "layers.units" in trial.params and not any(
            k.endswith(".units") and k != "layers.units" for k in trial.params
        )
        assert space.unflatten(space.flatten(config)) == config
        assert space.params_of(config) == trial.params
    assert "layers.0.units" not in space.flat_keys() and "layers.units" in space.flat_keys()


def test_width_factor_shrinks_units_with_depth():
    space = Space(
        layers=LayerStack(Dense(units=Int(64, 256)), min_layers=4, shared=["units"], width_factor=0.5)
    )
    for trial, config in _configs(space, n=10):
        units = [layer["units"] for layer in config["layers"]]
        first = trial.params["layers.units"]
        assert units == [max(1, round(first * 0.5**i)) for i in range(4)]
        assert units == sorted(units, reverse=True)
        assert space.params_of(config) == trial.params


def test_width_factor_grows_filters():
    stack = LayerStack(Conv2D(filters=Int(8, 16)), min_layers=3, shared=["filters"], width_factor=2)
    assert [layer["filters"] for layer in stack.default_config()] == [12, 24, 48]


def test_a_block_repeated_n_times_shares_its_parameters():
    space = Space(
        blocks=Repeat(
            [Conv2D(filters=Int(8, 32)), BatchNormalization(), Dropout(rate=Float(0.0, 0.3))], times=Int(1, 3)
        )
    )
    seen = set()
    for trial, config in _configs(space):
        layers = config["blocks"]
        times = trial.params["blocks.times"]
        seen.add(times)
        assert len(layers) == 3 * times
        assert layers == layers[:3] * times
        assert [layer["type"] for layer in layers[:3]] == ["conv2d", "batch_normalization", "dropout"]
        assert space.unflatten(space.flatten(config)) == config
        assert space.params_of(config) == trial.params
    assert seen == {1, 2, 3}


def test_repeat_and_shared_round_trip_through_yaml():
    space = Space(
        blocks=Repeat([Conv2D(filters=Int(8, 32)), BatchNormalization()], times=2),
        layers=LayerStack(
            [Dense(units=Int(8, 64)), Dropout(rate=0.2)],
            min_layers=0,
            max_layers=3,
            shared=["units"],
            width_factor=0.5,
        ),
    )
    again = Space.from_dict(space.to_dict())
    assert again == space
    assert again.to_yaml() == space.to_yaml()


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: LayerStack(Dense(units=8), min_layers=0, max_layers=0),
            r"^max_layers: a stack needs `max_layers >= 1`",
        ),
        (
            lambda: LayerStack(Dense(units=8), min_layers=-1, max_layers=2),
            r"^min_layers: expected an int >= 0, but got -1",
        ),
        (
            lambda: LayerStack(Dense(units=8), shared=["width"]),
            r"^shared: 'width' is not an argument of the stack's layers; accepted: \['activation', 'dropout', 'units'\]",
        ),
        (lambda: LayerStack(Dense(units=8), shared="units"), r"^shared: expected a list of argument names"),
        (
            lambda: LayerStack(
                [Dense(units=Int(8, 16)), Conv2D(filters=8, activation="tanh")], shared=["activation"]
            ),
            r"^shared: a shared argument needs one unconditional definition",
        ),
        (
            lambda: LayerStack(Dense(units=8), width_factor=0.5),
            r"^width_factor: scales a shared 'units' or 'filters'",
        ),
        (
            lambda: LayerStack(Dense(units=8), shared=["units"], width_factor=0),
            r"^width_factor: expected a number > 0, but got 0",
        ),
        (lambda: Repeat([], times=2), r"^block: expected one or more layer templates"),
        (lambda: Repeat(Dense(units=8), times=Float(1, 2)), r"^times: expected an int or an Int parameter"),
        (lambda: Repeat(Dense(units=8), times=0), r"^times: the block must appear at least once"),
        (
            lambda: Repeat(Dense(units=8), times=Int(0, 0)),
            r"^times: the block must be able to appear at least once",
        ),
        (
            lambda: Repeat(Dense(units=8), times=Categorical([1, 2])),
            r"^times: expected an int or an Int parameter",
        ),
    ],
)
def test_bad_stacks_name_the_field(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    "data, match",
    [
        (
            {"type": "stack", "layers": [{"type": "dense", "units": 8}], "share": ["units"]},
            r"^space\.s\.share: unknown key 'share' for the stack \(did you mean 'shared'\?\)",
        ),
        (
            {"type": "repeat", "block": [{"type": "dense", "units": 8}], "time": 2},
            r"^space\.s\.time: unknown key 'time' for the repeat \(did you mean 'times'\?\)",
        ),
        (
            {"type": "repeat", "block": "dense"},
            r"^space\.s\.block: expected a non-empty list of layer templates",
        ),
        (
            {
                "type": "repeat",
                "block": [{"type": "dense", "units": 8}],
                "times": {"type": "int", "low": 3, "high": 1},
            },
            r"^space\.s\.times\.low: `low <= high` must hold",
        ),
    ],
)
def test_bad_stack_documents_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        Space.from_dict({"s": data})


def test_templates_of_one_stack_must_sample_shared_names_with_compatible_distributions():
    # Found by the property test: optuna refuses a log and a linear Int under one name.
    with pytest.raises(ConfigError, match=r"^layers: the dense and gru layers both sample 'units'"):
        LayerStack([Dense(units=Int(1, 8, log=True)), GRU(units=Int(1, 8))])
    LayerStack([Dense(units=Int(1, 8, log=True)), GRU(units=Int(4, 64, log=True))])  # ranges may differ
    LayerStack([Dense(units=Int(1, 8, log=True)), GRU(units=16)])  # a fixed value is not sampled


def test_sampled_values_are_python_numbers():
    # Found by the property test: optuna can return numpy floats, which YAML cannot write.
    space = Space(a=Float(0.37460474325363674, 0.3746047432536368), b=Int(1, 3))
    config = space.sample(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask())
    assert type(config["a"]) is float and type(config["b"]) is int
