from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest
import yaml

from search_spaces import (
    Categorical,
    ConfigError,
    Dense,
    Dropout,
    Float,
    Int,
    LayerStack,
    Space,
    load_space,
    mlp,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _space() -> Space:
    return Space(
        layers=LayerStack(
            [Dense(units=Int(8, 64)), Dropout(rate=Float(0.0, 0.5))], min_layers=1, max_layers=3
        ),
        learning_rate=Float(1e-4, 1e-2, log=True),
        batch_size=Categorical([32, 64]),
        optimizer="adam",
    )


def _configs(space: Space, n: int, seed: int = 0) -> list[dict]:
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    configs = []
    for _ in range(n):
        trial = study.ask()
        configs.append(space.sample(trial))
        study.tell(trial, 0.5)
    return configs


def test_sampled_configs_are_plain_json_data_that_round_trips():
    space = _space()
    for config in _configs(space, 20):
        assert json.loads(json.dumps(config)) == config
        assert yaml.safe_load(yaml.safe_dump(config)) == config


def test_layer_stack_depth_and_per_position_names():
    space = _space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    depths = set()
    for _ in range(30):
        trial = study.ask()
        config = space.sample(trial)
        depth = len(config["layers"])
        depths.add(depth)
        assert trial.params["layers.depth"] == depth
        for i, layer in enumerate(config["layers"]):
            assert trial.params[f"layers.{i}.type"] == layer["type"]
        # Layer i exists only when the depth exceeds i.
        assert not any(k.startswith(f"layers.{depth}.") for k in trial.params)
    assert depths == {1, 2, 3}


def test_flat_form_has_the_same_keys_for_every_config_and_inverts():
    space = _space()
    for config in _configs(space, 20):
        flat = space.flatten(config)
        assert list(flat) == space.flat_keys()
        assert space.unflatten(flat) == config


def test_same_seed_same_configs():
    assert _configs(mlp(), 8, seed=7) == _configs(mlp(), 8, seed=7)
    assert _configs(mlp(), 8, seed=7) != _configs(mlp(), 8, seed=8)


def test_default_config_uses_each_default():
    space = Space(
        layers=LayerStack(Dense(units=Int(8, 64, default=16)), min_layers=2, max_layers=3),
        learning_rate=Float(1e-4, 1e-2, log=True, default=3e-3),
    )
    assert space.default_config() == {
        "layers": [{"type": "dense", "units": 16, "activation": "relu", "dropout": 0.0}] * 2,
        "learning_rate": 3e-3,
    }


def test_space_round_trips_through_dict_yaml_and_json():
    space = _space()
    assert Space.from_dict(space.to_dict()) == space
    assert Space.from_dict(yaml.safe_load(space.to_yaml())) == space
    assert Space.from_dict(json.loads(space.to_json())) == space
    assert Space.from_dict(mlp().to_dict()) == mlp()


def test_load_space_from_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(mlp().to_yaml())
    assert load_space(path) == mlp()


def test_preset_overrides_field_by_field():
    space = mlp(max_layers=2, batch_size=64, optimizer=Categorical(["adam", "sgd"]))
    assert space["batch_size"].value == 64
    assert space["layers"].max_layers == 2
    assert "optimizer" in space


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (
            {
                "layers": {
                    "type": "stack",
                    "layers": [{"type": "dense", "units": {"type": "int", "low": 9, "high": 2}}],
                }
            },
            r"^space\.layers\.layers\.0\.units\.low: `low <= high` must hold, but got \(low=9, high=2\)",
        ),
        (
            {"layers": {"type": "stack", "layers": [{"type": "dence", "units": 8}]}},
            r"^space\.layers\.layers\.0\.type: unknown layer type 'dence' \(did you mean 'dense'\?\)",
        ),
        (
            {"layers": {"type": "stack", "layers": [{"type": "dense", "unitz": 8}]}},
            r"^space\.layers\.layers\.0\.unitz: unknown key 'unitz' for the dense layer \(did you mean 'units'\?\)",
        ),
        (
            {
                "layers": {
                    "type": "stack",
                    "min_layers": 3,
                    "max_layers": 1,
                    "layers": [{"type": "dense", "units": 8}],
                }
            },
            r"^space\.layers\.min_layers: `min_layers <= max_layers` must hold",
        ),
        (
            {"layers": {"type": "stack", "layers": []}},
            r"^space\.layers\.layers: expected a non-empty list",
        ),
        (
            {"lr": {"type": "float", "low": 0.0, "high": 1.0, "log": True}},
            r"^space\.lr\.low: a log scale needs `low > 0`",
        ),
        ({"bad.name": 1}, r"^space\.bad\.name: entry names must be Python identifiers"),
        ([1, 2], r"^space: expected a mapping of entries"),
        ({}, r"^space: a space needs at least one entry"),
    ],
)
def test_bad_space_documents_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        Space.from_dict(data)


def test_empty_space_is_rejected():
    with pytest.raises(ConfigError, match=r"a space needs at least one entry"):
        Space()


def test_duplicate_layer_types_in_a_stack_are_rejected():
    with pytest.raises(ConfigError, match=r"each layer type may appear once, but got \['dense', 'dense'\]"):
        LayerStack([Dense(units=8), Dense(units=16)])


def test_yaml_python_tags_are_refused_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "space.yaml"
    path.write_text(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match=r"invalid YAML"):
        load_space(path)
    assert not marker.exists()


def test_missing_space_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.yaml"):
        load_space(tmp_path / "nope.yaml")


def test_importing_search_spaces_does_not_import_tensorflow():
    code = "import sys, search_spaces; search_spaces.mlp(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_params_of_a_sampled_config_are_the_trial_params():
    space = _space()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    for _ in range(20):
        trial = study.ask()
        config = space.sample(trial)
        assert space.params_of(config) == trial.params


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda c: {**c, "learning_rate": 1.0}, r"out of the space: .*'learning_rate'"),
        (lambda c: {**c, "optimizer": "sgd"}, r"^optimizer: the config differs from what the space allows"),
        (lambda c: {**c, "momentum": 0.9}, r"^momentum: the config must have exactly the space's entries"),
        (
            lambda c: {k: v for k, v in c.items() if k != "batch_size"},
            r"^batch_size: .* missing \['batch_size'\]",
        ),
    ],
)
def test_params_of_rejects_configs_the_space_cannot_sample(change, match):
    space = _space()
    with pytest.raises(ConfigError, match=match):
        space.params_of(change(space.default_config()))
