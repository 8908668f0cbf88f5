"""Config checks and the learning-rate schedule: pure Python, no TensorFlow."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from search_spaces import ConfigError
from trainers import check_config
from trainers._schedule import EpochSchedule
from trainers._settings import body_layers, one_hot_targets

CONV = {"type": "conv1d", "filters": 8, "kernel_size": 3}


def test_importing_settings_and_schedule_does_not_import_tensorflow():
    code = "import sys, trainers._settings, trainers._schedule; print('tensorflow' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_defaults_fill_unset_and_none_keys():
    full = check_config({"layers": [{"type": "dense", "units": 8, "activation": None}], "momentum": None})
    assert full["layers"] == [{"type": "dense", "units": 8, "activation": "relu", "dropout": 0.0}]
    assert full["optimizer"] == "adam" and full["learning_rate"] == 1e-3 and full["batch_size"] == 32
    assert full["momentum"] is None and full["lr_schedule"] == "constant" and full["warmup_epochs"] == 0
    assert full["loss"] is None and full["label_smoothing"] == 0.0 and full["class_weight"] is None


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ({"type": "batch_normalization"}, {}),
        ({"type": "layer_normalization"}, {}),
        ({"type": "dropout", "rate": 0.2}, {"rate": 0.2}),
        (
            CONV,
            {
                "filters": 8,
                "kernel_size": 3,
                "activation": "relu",
                "padding": "same",
                "pool": "max",
                "pool_size": 2,
            },
        ),
        (
            {**CONV, "pool": "none", "pool_size": None},
            {**CONV, "activation": "relu", "padding": "same", "pool": "none", "pool_size": None},
        ),
        ({"type": "lstm", "units": 4}, {"units": 4, "dropout": 0.0, "bidirectional": False}),
        (
            {"type": "gru", "units": 4, "bidirectional": True},
            {"units": 4, "dropout": 0.0, "bidirectional": True},
        ),
        ({"type": "embedding", "output_dim": 4}, {"output_dim": 4, "input_dim": None}),
    ],
)
def test_each_layer_type_gets_its_defaults(layer, expected):
    (full,) = check_config({"layers": [layer]})["layers"]
    assert full == {"type": layer["type"], **{k: v for k, v in expected.items() if k != "type"}}


def test_the_body_concatenates_the_stacks_in_key_order():
    config = {
        "conv_layers": [CONV],
        "optimizer": "sgd",
        "recurrent_layers": [{"type": "lstm", "units": 4}],
        "layers": [{"type": "dense", "units": 8}],
    }
    body = body_layers(check_config(config))
    assert [(field, layer["type"]) for field, layer in body] == [
        ("config.conv_layers.0", "conv1d"),
        ("config.recurrent_layers.0", "lstm"),
        ("config.layers.0", "dense"),
    ]


def test_exponential_schedule_defaults_its_decay():
    assert check_config({"lr_schedule": "exponential"})["lr_decay"] == 0.9
    assert check_config({"lr_schedule": "exponential", "lr_decay": 0.5})["lr_decay"] == 0.5


def test_task_fills_the_default_loss():
    assert check_config({}, task="regression")["loss"] == "mse"
    assert check_config({}, task="binary")["loss"] == "binary_crossentropy"
    assert check_config({}, task="multiclass")["loss"] == "sparse_categorical_crossentropy"


@pytest.mark.parametrize(
    ("config", "task", "one_hot"),
    [
        ({}, "multiclass", False),
        ({"loss": "categorical_crossentropy"}, "multiclass", True),
        ({"loss": "categorical_focal_crossentropy"}, "multiclass", True),
        ({"label_smoothing": 0.1}, "multiclass", True),
        ({"label_smoothing": 0.1}, "binary", False),
    ],
)
def test_one_hot_targets(config, task, one_hot):
    assert one_hot_targets(check_config(config, task=task), task) is one_hot


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (
            {"learning_rte": 0.1},
            r"^config\.learning_rte: the trainer does not know this key \(did you mean 'learning_rate'\?\)",
        ),
        (
            {"layer": []},
            r"^config\.layer: the trainer does not know this key \(did you mean 'layers'\?\).* '<name>_layers'",
        ),
        (
            {"layers": {"type": "dense"}},
            r"^config\.layers: expected a list of layer dicts, but got \{'type': 'dense'\}",
        ),
        (
            {"conv_layers": ["conv1d"]},
            r"^config\.conv_layers\.0\.type: unknown layer type None; accepted: \[",
        ),
        (
            {"layers": [{"type": "lstn", "units": 4}]},
            r"^config\.layers\.0\.type: unknown layer type 'lstn' \(did you mean 'lstm'\?\)",
        ),
        (
            {"conv_layers": [{**CONV, "filter": 3}]},
            r"^config\.conv_layers\.0\.filter: a conv1d layer does not take this key \(did you mean 'filters'\?\); accepted: \['type', 'filters'",
        ),
        (
            {"layers": [{"type": "batch_normalization", "axis": 1}]},
            r"^config\.layers\.0\.axis: a batch_normalization layer does not take this key; accepted: \['type'\]",
        ),
        (
            {"layers": [{"type": "dense"}]},
            r"^config\.layers\.0\.units: a dense layer needs units \(an int >= 1\), but got None",
        ),
        (
            {"layers": [{"type": "dense", "units": 0}]},
            r"^config\.layers\.0\.units: expected an int >= 1, but got 0",
        ),
        (
            {"layers": [{"type": "dense", "units": 8, "activation": 3}]},
            r"^config\.layers\.0\.activation: expected a Keras activation name, but got 3",
        ),
        (
            {"layers": [{"type": "dropout", "rate": 1.0}]},
            r"^config\.layers\.0\.rate: expected a number in \[0, 1\), but got 1\.0",
        ),
        (
            {"layers": [{**CONV, "padding": "causal"}]},
            r"^config\.layers\.0\.padding: unknown padding 'causal'; accepted: \['same', 'valid'\]",
        ),
        (
            {"layers": [{**CONV, "pool": "min"}]},
            r"^config\.layers\.0\.pool: unknown pool 'min'; accepted: \['max', 'average', 'none'\]",
        ),
        (
            {"layers": [{**CONV, "pool_size": 0}]},
            r"^config\.layers\.0\.pool_size: expected an int >= 1, but got 0",
        ),
        (
            {"layers": [{**CONV, "kernel_size": 2.5}]},
            r"^config\.layers\.0\.kernel_size: expected an int >= 1, but got 2\.5",
        ),
        (
            {"layers": [{**CONV, "pool": "none", "pool_size": 3}]},
            r"^config\.layers\.0\.pool_size: pool_size only applies when pool is 'max' or 'average', but pool is 'none' \(pool_size=3\); make pool_size conditional on pool",
        ),
        (
            {"layers": [{"type": "lstm", "units": 4, "bidirectional": "yes"}]},
            r"^config\.layers\.0\.bidirectional: expected a bool, but got 'yes'",
        ),
        (
            {"layers": [{"type": "gru", "units": 4, "dropout": -0.1}]},
            r"^config\.layers\.0\.dropout: expected a number in \[0, 1\), but got -0\.1",
        ),
        (
            {"layers": [{"type": "embedding", "output_dim": 0}]},
            r"^config\.layers\.0\.output_dim: expected an int >= 1, but got 0",
        ),
        (
            {"layers": [{"type": "embedding", "output_dim": 4, "input_dim": True}]},
            r"^config\.layers\.0\.input_dim: expected an int >= 1, but got True",
        ),
        (
            {"layers": [{"type": "dense", "units": 8}, {"type": "embedding", "output_dim": 4}]},
            r"^config\.layers\.1: an embedding layer takes the raw features, so it must be the first layer of the model body, but it is layer 1",
        ),
        (
            {"conv_layers": [CONV], "layers": [{"type": "normalization"}]},
            r"^config\.layers\.0: a normalization layer takes the raw features, so it must be the first layer .* layer 1 \(0-based\) of \['conv1d', 'normalization'\]",
        ),
        ({"optimizer": "adamm"}, r"^config\.optimizer: unknown optimizer 'adamm' \(did you mean 'adam'\?\)"),
        ({"learning_rate": 0}, r"^config\.learning_rate: expected a finite number > 0, but got 0"),
        ({"learning_rate": math.nan}, r"^config\.learning_rate: expected a finite number > 0, but got nan"),
        (
            {"optimizer": "sgd", "momentum": 1.0},
            r"^config\.momentum: expected a number in \[0, 1\), but got 1\.0",
        ),
        ({"optimizer": "sgd", "nesterov": 1}, r"^config\.nesterov: expected a bool, but got 1"),
        ({"beta_1": 0.0}, r"^config\.beta_1: expected a number in \(0, 1\), but got 0\.0"),
        ({"beta_2": 1}, r"^config\.beta_2: expected a number in \(0, 1\), but got 1"),
        ({"weight_decay": -1e-4}, r"^config\.weight_decay: expected a finite number >= 0, but got -0\.0001"),
        ({"clipnorm": 0.0}, r"^config\.clipnorm: expected a finite number > 0, but got 0\.0"),
        (
            {"lr_schedule": "step"},
            r"^config\.lr_schedule: unknown lr_schedule 'step'; accepted: \['constant', 'cosine', 'exponential'\]",
        ),
        (
            {"lr_schedule": "exponential", "lr_decay": 0},
            r"^config\.lr_decay: expected a number in \(0, 1\], but got 0",
        ),
        ({"warmup_epochs": -1}, r"^config\.warmup_epochs: expected an int >= 0, but got -1"),
        ({"batch_size": 0}, r"^config\.batch_size: expected an int >= 1, but got 0"),
        ({"batch_size": True}, r"^config\.batch_size: expected an int >= 1, but got True"),
        ({"epochs": 0}, r"^config\.epochs: expected an int >= 1, but got 0"),
        (
            {"loss": "hinge"},
            r"^config\.loss: unknown loss 'hinge'; accepted: \['mse', 'mae', 'huber', 'log_cosh', 'binary_crossentropy'",
        ),
        ({"label_smoothing": 1.0}, r"^config\.label_smoothing: expected a number in \[0, 1\), but got 1\.0"),
        (
            {"class_weight": "auto"},
            r"^config\.class_weight: unknown class_weight 'auto'; accepted: \['balanced'\]",
        ),
    ],
)
def test_bad_configs_name_the_field_and_the_value(config, match):
    with pytest.raises(ConfigError, match=match):
        check_config(config)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (
            {"optimizer": "adam", "momentum": 0.9},
            r"^config\.momentum: only optimizer 'sgd' or 'rmsprop' takes momentum, but optimizer is 'adam' "
            r"\(momentum=0\.9\); make momentum conditional on optimizer in the search space, or leave it unset\.",
        ),
        (
            {"optimizer": "rmsprop", "nesterov": True},
            r"^config\.nesterov: only optimizer 'sgd' takes nesterov, but optimizer is 'rmsprop'",
        ),
        (
            {"optimizer": "sgd", "beta_1": 0.8},
            r"^config\.beta_1: only optimizer 'adam' or 'adamw' or 'nadam' takes beta_1, but optimizer is 'sgd'",
        ),
        (
            {"optimizer": "rmsprop", "beta_2": 0.99},
            r"^config\.beta_2: only optimizer 'adam' or 'adamw' or 'nadam' takes beta_2",
        ),
        (
            {"lr_schedule": "cosine", "lr_decay": 0.5},
            r"^config\.lr_decay: only lr_schedule 'exponential' takes lr_decay, but lr_schedule is 'cosine'",
        ),
        (
            {"lr_decay": 0.5},
            r"^config\.lr_decay: only lr_schedule 'exponential' takes lr_decay, but lr_schedule is 'constant'",
        ),
    ],
)
def test_a_setting_the_optimizer_or_schedule_does_not_take_is_rejected(config, match):
    with pytest.raises(ConfigError, match=match):
        check_config(config)


def test_optimizer_settings_pass_with_the_optimizers_that_take_them():
    check_config({"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "beta_1": None})
    check_config({"optimizer": "rmsprop", "momentum": 0.5})
    check_config({"optimizer": "nadam", "beta_1": 0.8, "beta_2": 0.99, "momentum": None})


@pytest.mark.parametrize(
    ("config", "task", "match"),
    [
        (
            {"loss": "mse"},
            "multiclass",
            r"^config\.loss: loss 'mse' does not fit a multiclass task; accepted for multiclass: "
            r"\['sparse_categorical_crossentropy', 'categorical_crossentropy', 'categorical_focal_crossentropy'\]",
        ),
        (
            {"loss": "categorical_crossentropy"},
            "binary",
            r"^config\.loss: loss 'categorical_crossentropy' does not fit a binary task",
        ),
        (
            {"loss": "binary_crossentropy"},
            "regression",
            r"^config\.loss: .* accepted for regression: \['mse', 'mae', 'huber', 'log_cosh'\]",
        ),
        (
            {"label_smoothing": 0.1},
            "regression",
            r"^config\.label_smoothing: label_smoothing is for classification, but the task is regression",
        ),
        (
            {"class_weight": "balanced"},
            "regression",
            r"^config\.class_weight: class_weight is for classification, but the task is regression",
        ),
    ],
)
def test_settings_that_do_not_fit_the_task(config, task, match):
    check_config(config)  # fine without the task
    with pytest.raises(ConfigError, match=match):
        check_config(config, task=task)


def _schedule(kind, *, warmup=0, decay=1.0, epochs=5):
    return EpochSchedule(base=0.01, kind=kind, warmup=warmup, decay=decay, epochs=epochs)


def test_warm_up_then_cosine_reaches_zero_at_the_cap():
    rates = [_schedule("cosine", warmup=2)(e) for e in range(6)]
    expected = [0.01 / 3, 0.02 / 3, 0.01, 0.01 * 0.75, 0.01 * 0.25, 0.0]
    assert rates == pytest.approx(expected)


def test_exponential_decays_per_epoch_after_warm_up():
    rates = [_schedule("exponential", warmup=1, decay=0.5)(e) for e in range(4)]
    assert rates == pytest.approx([0.005, 0.01, 0.005, 0.0025])


def test_constant_without_warm_up_needs_no_callback():
    assert _schedule("constant").is_constant
    assert not _schedule("constant", warmup=1).is_constant
    assert _schedule("constant", warmup=1)(3) == 0.01


def test_a_metric_of_another_task_is_named_as_such():
    from trainers import FitSettings

    with pytest.raises(
        ConfigError,
        match=r"^metrics\.0: 'rmse' is not a binary metric; accepted for binary: \['auc', 'pr_auc', "
        r"'precision', 'recall'\]; 'rmse' is a regression metric\.$",
    ):
        FitSettings(metrics=["rmse"]).check_metrics("binary")
