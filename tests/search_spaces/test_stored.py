"""Flat configs as tables store them come back with the space's types (`Space.unflatten_stored`)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from search_spaces import (
    BatchNormalization,
    Boolean,
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

SPACE = Space(
    blocks=Repeat([Conv2D(filters=Int(8, 32)), BatchNormalization()], times=Int(0, 2)),
    layers=LayerStack([Dense(units=Int(16, 256, log=True)), Dropout(rate=Float(0.1, 0.5))], max_layers=3),
    optimizer=Categorical(["adam", "sgd"]),
    momentum=Float(0.0, 0.9, when={"optimizer": "sgd"}),
    nesterov=Boolean(when={"optimizer": "sgd"}),
    batch_size=Categorical([32, 64, "auto"]),
    flag=Categorical([True, False, None]),
    seed_value=7,
)


def _configs() -> list[dict]:
    sgd = SPACE.default_config(optimizer="sgd", batch_size=64, flag=None)
    sgd["nesterov"] = True
    sgd["layers"] = [{"type": "dropout", "rate": 0.2}, {"type": "dense", "units": 200, "activation": "relu", "dropout": 0.0}]
    sgd["blocks"] = []
    return [SPACE.default_config(batch_size="auto", flag=False), sgd]


def _typed(value):
    """A value with its type, so 256 and 256.0, True and 1 tell apart."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    return (type(value).__name__, value)


def test_a_dataframe_and_its_csv_give_back_the_configs_with_their_types(tmp_path):
    configs = _configs()
    frame = pd.DataFrame([SPACE.flatten(c) for c in configs])
    assert frame["layers.1.units"].dtype.kind == "f"  # a gap makes the ints floats
    frame.to_csv(tmp_path / "t.csv", index=False)
    for table in (frame, pd.read_csv(tmp_path / "t.csv")):
        for config, row in zip(configs, table.to_dict("records"), strict=True):
            assert _typed(SPACE.unflatten_stored(row)) == _typed(config)


def test_nan_is_none_for_an_inactive_parameter():
    flat = SPACE.flatten(SPACE.default_config())
    flat.update(momentum=math.nan, nesterov=math.nan)
    config = SPACE.unflatten_stored(flat)
    assert config["momentum"] is None and config["nesterov"] is None


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("layers.0.units", 12.5, r"^layers\.0\.units: expected an int, but got 12\.5\.$"),
        ("nesterov", "yes", r"^nesterov: expected true or false, but got 'yes'\.$"),
        ("optimizer", "rmsprop", r"^optimizer: expected one of \['adam', 'sgd'\], but got 'rmsprop'\.$"),
        ("seed_value", 8, r"^seed_value: expected one of \[7\], but got 8\.$"),
        ("layers.depth", None, r"^layers\.depth: expected an int, but got None\.$"),
    ],
)
def test_a_value_its_parameter_cannot_take_is_named_by_its_key(key, value, message):
    flat = SPACE.flatten(SPACE.default_config(optimizer="sgd"))
    flat[key] = value
    with pytest.raises(ConfigError, match=message):
        SPACE.unflatten_stored(flat)
