"""Fuzzed space files: every generated bad document is rejected with ConfigError naming a field.

Each document starts from a valid space and gets one mutation that makes it
invalid (reversed bounds, NaN/inf, wrong types, unknown keys and types, empty
choices, bad stacks, huge strings, deep nesting). None may escape as another
exception from inside our code, optuna or yaml; nothing in a YAML tag runs.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search_spaces import ConfigError, Conv2D, Dense, Float, Int, LayerStack, Repeat, Space, cnn, mlp, rnn
from search_spaces._layers import TEMPLATES
from search_spaces._space import load_space
from search_spaces._yaml import parse_yaml

BASES = [
    mlp().to_dict(),
    cnn().to_dict(),
    rnn().to_dict(),
    Space(
        blocks=Repeat([Conv2D(filters=Int(8, 32)), Dense(units=16)], times=Int(1, 2)),
        layers=LayerStack(Dense(units=Int(8, 64)), max_layers=3, shared=["units"], width_factor=0.5),
        lr=Float(1e-4, 1e-1, log=True),
    ).to_dict(),
]
NOT_NUMBERS = ["abc", [1], {"a": 1}, None, True, math.nan, math.inf, -math.inf]


def _sites(node: Any, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every mapping with a `type` key below the top level, with its path."""
    found = []
    if isinstance(node, dict):
        if "type" in node and path:
            found.append((path, node))
        for key, value in node.items():
            found.extend(_sites(value, (*path, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_sites(value, (*path, i)))
    return found


def _mutations(node: dict) -> list[tuple[str, Any]]:
    """(key, new value) pairs each of which makes ``node`` invalid; ``key=None`` replaces the node."""
    kind = node["type"]
    out: list[tuple[str | None, Any]] = [("no_such_key", 1), ("type", "x" * 10_000), ("type", ["dense"])]
    if kind in ("float", "int"):
        out += [("low", node["high"] + 1), ("low", node["high"] + 0.5 if kind == "float" else "1")]
        out += [("high", v) for v in NOT_NUMBERS] + [("low", v) for v in NOT_NUMBERS]
        out += [("log", "yes"), ("default", node["high"] * 2 + 1)]
        if kind == "int" and node["high"] - node["low"] >= 2:
            out.append(("step", node["high"] - node["low"] + 1))
    elif kind == "categorical":
        out += [
            ("choices", []),
            ("choices", "abc"),
            ("choices", [1, 1]),
            ("choices", [[1]]),
            ("choices", None),
            ("default", "not-a-choice"),
        ]
    elif kind in ("stack", "repeat"):
        key = "layers" if kind == "stack" else "block"
        out += [
            (key, []),
            (key, "dense"),
            (key, [{"type": "dense"}]),
            (key, [{"type": "dense", "units": -1}]),
        ]
        if kind == "stack":
            out += [
                ("min_layers", 5),
                ("max_layers", 0),
                ("min_layers", -1),
                ("shared", ["nope"]),
                ("width_factor", -1),
            ]
        else:
            out += [("times", 0), ("times", {"type": "float", "low": 1, "high": 2}), ("times", "twice")]
    elif kind in TEMPLATES:
        nested: Any = 0
        for _ in range(200):
            nested = [nested]
        args = [k for k in node if k != "type"]
        out += [
            (arg, {"type": "int", "low": -5, "high": -1})
            for arg in args
            if arg in ("units", "filters", "kernel_size")
        ]
        out += [(arg, nested) for arg in args] + [(arg, {"type": "nope"}) for arg in args]
        out += [("activation", "relux")] if "activation" in node else []
    elif kind == "fixed":
        out += [("value", {"deep": [1, 2]}), ("value", math.nan)]
    elif kind == "boolean":
        out += [("default", "yes")]
    return out


@st.composite
def bad_documents(draw) -> tuple[dict, tuple]:
    document = copy.deepcopy(draw(st.sampled_from(BASES)))
    path, node = draw(st.sampled_from(_sites(document)))
    key, value = draw(st.sampled_from(_mutations(node)))
    node[key] = value
    return document, path


def _expect_rejected(document: Any, path: tuple) -> ConfigError:
    text = yaml.safe_dump(document, sort_keys=False)
    with pytest.raises(ConfigError) as info:
        Space.from_dict(parse_yaml(text))
    error = info.value
    expected = ".".join(str(p) for p in path[:1])
    assert error.field is not None and error.field.startswith(f"space.{expected}"), (error.field, str(error))
    assert len(str(error)) < 2_000, "an error message must stay readable even for huge inputs"
    return error


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(bad_documents())
def test_every_bad_space_document_is_rejected_naming_its_field(case):
    document, path = case
    _expect_rejected(document, path)


@pytest.mark.parametrize(
    "document, field",
    [
        ({"1abc": 1}, "space.1abc"),
        ({"a.b": 1}, "space.a.b"),
        ({"class": 1}, "space.class"),
        ({"x": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "space.x.low"),
        ({"x": [[[[[[1]]]]]]}, "space.x.value"),
        (
            {
                "x": {
                    "type": "stack",
                    "layers": [{"type": "conv2d", "filters": 4}, {"type": "conv2d", "filters": 4}],
                    "max_layers": 1,
                }
            },
            "space.x.layers",
        ),
    ],
)
def test_hand_picked_bad_documents(document, field):
    with pytest.raises(ConfigError) as info:
        Space.from_dict(document)
    assert info.value.field == field, str(info.value)


@pytest.mark.parametrize(
    "text, match",
    [
        ("x: !!python/object/apply:os.system ['touch /tmp/automl-space-pwned']", r"invalid YAML at line 1"),
        ("x: 1\nx: 2\n", r"^x: duplicate key 'x' at line 2"),
        ("[" * 10_000, r"invalid YAML|nests too deeply"),
    ],
)
def test_hostile_yaml_is_refused_and_never_executed(text, match, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_space(path)
    assert not (tmp_path / "automl-space-pwned").exists()
    import os

    assert not os.path.exists("/tmp/automl-space-pwned")
