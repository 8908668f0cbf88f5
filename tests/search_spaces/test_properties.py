"""Property tests (hypothesis): spaces and configs round-trip; seeds repeat."""

from __future__ import annotations

import json
import keyword

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from search_spaces import (
    GRU,
    LSTM,
    BatchNormalization,
    Boolean,
    Categorical,
    ConfigError,
    Conv2D,
    Dense,
    Dropout,
    Fixed,
    Float,
    Int,
    LayerStack,
    Repeat,
    Space,
    cnn,
    mlp,
    rnn,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

small_ints = st.integers(1, 512)


@st.composite
def ints(draw, low_min=1):
    low = draw(st.integers(low_min, 256))
    high = draw(st.integers(low, low + 512))
    log = draw(st.booleans())
    step = 1 if log else draw(st.sampled_from([d for d in (1, 2, 4) if (high - low) % d == 0]))
    return Int(low, high, log=log, step=step)


@st.composite
def floats(draw, high_max=1.0):
    low = draw(st.floats(1e-6, high_max / 2))
    high = draw(st.floats(low, high_max))
    return Float(low, high, log=draw(st.booleans()))


scalars = st.one_of(st.booleans(), st.integers(-100, 100), st.text(max_size=8), st.floats(-1e6, 1e6))
choices = st.lists(scalars, min_size=1, max_size=4, unique_by=repr)
params = st.one_of(
    ints(),
    floats(),
    choices.map(Categorical),
    st.builds(Boolean, default=st.booleans()),
    scalars.map(Fixed),
)
rates = st.one_of(st.floats(0.0, 0.9), floats(high_max=0.9))
templates = st.one_of(
    st.builds(
        Dense,
        units=st.one_of(small_ints, ints()),
        dropout=rates,
        activation=st.sampled_from(["relu", "tanh"]),
    ),
    st.builds(Dropout, rate=rates),
    st.builds(BatchNormalization),
    st.builds(
        Conv2D,
        filters=st.one_of(small_ints, ints()),
        pool=st.one_of(st.just("max"), st.just(Categorical(["max", "none"]))),
    ),
    st.builds(
        LSTM, units=st.one_of(small_ints, ints()), bidirectional=st.one_of(st.booleans(), st.just(Boolean()))
    ),
    st.builds(GRU, units=ints()),
)


@st.composite
def stacks(draw):
    if draw(st.booleans()):
        return Repeat(
            draw(st.lists(templates, min_size=1, max_size=3)),
            times=draw(st.one_of(st.integers(1, 3), st.just(Int(1, 3)))),
        )
    chosen = draw(st.lists(templates, min_size=1, max_size=3, unique_by=lambda t: t.kind))
    low = draw(st.integers(0, 2))
    try:
        stack = LayerStack(chosen, min_layers=low, max_layers=draw(st.integers(max(low, 1), 4)))
    except ConfigError:  # templates whose shared argument names optuna can't take together
        assume(False)
    if len(chosen) == 1 and isinstance(chosen[0], Dense) and draw(st.booleans()):
        stack = LayerStack(
            chosen,
            min_layers=low,
            max_layers=stack.max_layers,
            shared=["units"],
            width_factor=draw(st.sampled_from([None, 0.5, 2.0])),
        )
    return stack


@st.composite
def spaces(draw):
    entries = {}
    identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
        lambda n: not keyword.iskeyword(n) and n != "conditional"
    )
    names = draw(st.lists(identifiers, min_size=1, max_size=6, unique=True))
    for name in names:
        entries[name] = draw(st.one_of(params, stacks()))
    categorical = [(k, v) for k, v in entries.items() if isinstance(v, Categorical) and v.when is None]
    if categorical and draw(st.booleans()):  # a conditional entry on an earlier categorical
        key, parent = categorical[0]
        entries["conditional"] = Float(0.0, 1.0, when={key: parent.choices[0]})
    return Space(entries)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spaces())
def test_space_round_trips_through_dict_json_and_yaml(space):
    assert Space.from_dict(space.to_dict()) == space
    assert Space.from_dict(json.loads(space.to_json())) == space
    assert Space.from_dict(yaml.safe_load(space.to_yaml())) == space


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces(), seed=st.integers(0, 2**16))
def test_sampled_configs_round_trip_and_replay(space, seed):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(3):
        trial = study.ask()
        config = space.sample(trial)
        assert json.loads(json.dumps(config)) == config
        assert yaml.safe_load(yaml.safe_dump(config)) == config
        flat = space.flatten(config)
        assert list(flat) == space.flat_keys()
        assert space.unflatten(flat) == config
        assert space.params_of(config) == trial.params
        study.tell(trial, 0.0)


# multivariate/grouped TPE are experimental in optuna: the point is that they see the structure.
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), preset=st.sampled_from([mlp, cnn, rnn]))
def test_same_space_sampler_and_seed_give_the_same_configs(seed, preset):
    def run():
        space = preset()
        study = optuna.create_study(
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3, multivariate=True, group=True)
        )
        configs = []
        for i in range(6):
            trial = study.ask()
            configs.append(space.sample(trial))
            study.tell(trial, float(i % 3))
        return configs

    assert run() == run()
