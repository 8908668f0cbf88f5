"""Spellings and objects of KerasTuner, Ray Tune and Optuna in a space: refused with our equivalent."""

from __future__ import annotations

import keras
import optuna
import pytest
from ray import tune

from search_spaces import Categorical, ConfigError, Dense, Float, Int, LayerStack, Space
from search_spaces._foreign import FOREIGN_NAMES, foreign_hint


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (
            tune.loguniform(1e-4, 1e-2),
            r"^lr\.value: expected a str, int, float, bool or None, but got Ray Tune's "
            r"tune\.loguniform\(0\.0001, 0\.01\); write Float\(0\.0001, 0\.01, log=True\)\.$",
        ),
        (tune.uniform(0.1, 0.5), r"tune\.uniform\(0\.1, 0\.5\); write Float\(0\.1, 0\.5\)\.$"),
        (tune.quniform(0, 1, 0.25), r"tune\.quniform\(0, 1, 0\.25\); write Float\(0, 1, step=0\.25\)\.$"),
        (
            tune.qloguniform(1e-4, 1e-1, 1e-4),
            r"write Float\(0\.0001, 0\.1, log=True\) \(a log scale takes no step here\)\.$",
        ),
        # randint's upper bound is exclusive; ours is inclusive.
        (tune.randint(16, 129), r"tune\.randint\(16, 129\); write Int\(16, 128\)\.$"),
        (tune.lograndint(8, 257), r"tune\.lograndint\(8, 257\); write Int\(8, 256, log=True\)\.$"),
        (tune.qrandint(8, 256, 8), r"tune\.qrandint\(8, 256, 8\); write Int\(8, 256, step=8\)\.$"),
        (
            tune.choice(["adam", "sgd"]),
            r"tune\.choice\(\['adam', 'sgd'\]\); write Categorical\(\['adam', 'sgd'\]\)\.$",
        ),
        (tune.randn(0, 1), r"tune\.randn\(0, 1\); a normal prior has no equivalent"),
        (tune.sample_from(lambda config: 1), r"Ray Tune's Function domain .* in build\(config\)\.$"),
        (
            {"grid_search": [16, 32]},
            r"Ray Tune's grid_search \[16, 32\]; write Categorical\(\[16, 32\]\) .*sampler='grid'",
        ),
        (
            optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
            r"but got Optuna's FloatDistribution\(.*\); write Float\(0\.0001, 0\.01, log=True\)\.$",
        ),
        (optuna.distributions.IntDistribution(2, 8, step=2), r"; write Int\(2, 8, step=2\)\.$"),
        (
            optuna.distributions.CategoricalDistribution(["relu", "tanh"]),
            r"; write Categorical\(\['relu', 'tanh'\]\)\.$",
        ),
    ],
)
def test_another_tools_search_space_object_is_refused_with_our_spelling(value, match):
    with pytest.raises(ConfigError, match=match):
        Space(lr=value)


def test_a_ray_object_as_a_layer_argument_names_the_argument():
    with pytest.raises(ConfigError, match=r"^units\.value: .*tune\.randint\(16, 129\); write Int\(16, 128\)"):
        Space(layers=LayerStack(Dense(units=tune.randint(16, 129))))


def _my_loss(y_true, y_pred):
    return y_true - y_pred


@pytest.mark.parametrize(
    "value", [_my_loss, keras.losses.Huber(), keras.losses.Huber, keras.optimizers.Adam(1e-3)]
)
def test_a_python_object_in_the_space_belongs_in_build(value):
    build = r"put Python objects in build\(config\); the space holds values that round-trip through YAML\.$"
    with pytest.raises(
        ConfigError, match=r"^loss\.value: expected a str, int, float, bool or None, but got .*; " + build
    ):
        Space(loss=value)
    with pytest.raises(
        ConfigError, match=r"^choices: choices must be str, int, float, bool or None, .*; " + build
    ):
        Categorical(["mse", value])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: Float(1e-4, 1e-2, sampling="log"),
            r"^sampling: unknown keyword argument 'sampling' for Float; write log=True \(log: true in YAML\) "
            r"for sampling='log'; 'linear' is the default \(KerasTuner's sampling\)\.$",
        ),
        (lambda: Int(8, 64, sampling="log"), r"^sampling: .* for Int; write log=True"),
        (lambda: Int(min_value=8, max_value=64), r"^min_value: .*the lower bound is 'low' \(inclusive\)"),
        (
            lambda: Categorical(values=["a", "b"]),
            r"^values: .*a categorical's values are 'choices' \(KerasTuner's",
        ),
        # A typo still gets the closest name.
        (
            lambda: Float(1, 2, hihg=3),
            r"^hihg: unknown keyword argument 'hihg' for Float \(did you mean 'high'\?\)",
        ),
    ],
)
def test_keyword_arguments_of_other_tools_get_ours(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (
            {"type": "float", "low": 1e-4, "high": 1e-2, "sampling": "log"},
            r"^space\.lr\.sampling: unknown key 'sampling' for the float parameter; write log=True "
            r"\(log: true in YAML\)",
        ),
        (
            {"type": "int", "low": 1, "high": 4, "q": 2},
            r"^space\.lr\.q: .*the quantization is 'step' \(Ray Tune's q\)",
        ),
        (
            {"type": "loguniform", "low": 1e-4, "high": 1e-2},
            r"^space\.lr\.type: unknown parameter type 'loguniform'; accepted: \[.*\]; a log-uniform float "
            r"is type: float with log: true \(Ray Tune's loguniform\)\.$",
        ),
        ({"type": "choice", "choices": [1, 2]}, r"^space\.lr\.type: .*type: categorical"),
        (
            {"grid_search": [1, 2]},
            r"^space\.lr\.value: .*grid_search \[1, 2\]; write Categorical\(\[1, 2\]\)",
        ),
    ],
)
def test_a_space_file_in_another_tools_spelling_gets_ours(entry, match):
    with pytest.raises(ConfigError, match=match):
        Space.from_dict({"lr": entry})


def test_the_table_gives_tool_and_equivalent():
    assert foreign_hint("scheduler", "max_t") == (
        "; automl takes the trials' length from the top-level 'epochs' (Ray Tune's max_t)"
    )
    assert foreign_hint("scheduler", "grace_period") == ""  # ours: not a foreign name
    assert foreign_hint("experiment", ["n_trials"]) == ""  # not a name at all
    for context, names in FOREIGN_NAMES.items():
        for name, (tool, equivalent) in names.items():
            assert tool in ("KerasTuner", "Ray Tune", "Optuna"), (context, name)
            assert equivalent and not equivalent.endswith("."), (context, name)
