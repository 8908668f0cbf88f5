"""Metrics on request, ReduceLROnPlateau and compile options: logged under their names, usable as the monitor."""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import pytest

from search_spaces import ConfigError
from trainers import (
    OPTIONAL_METRICS,
    FitSettings,
    TrialFailedError,
    build_model,
    compile_model,
    from_arrays,
    load_sklearn,
    train,
)

CONFIG = {"layers": [{"type": "dense", "units": 8}]}


@pytest.fixture(scope="module")
def cancer():
    return load_sklearn("breast_cancer")


def test_binary_metrics_are_logged_and_one_can_be_the_monitor(cancer, tmp_path):
    settings = FitSettings(
        epochs=2, monitor="val_auc", mode="max", metrics=["auc", "pr_auc", "precision", "recall"]
    )
    outcome = train(CONFIG, cancer, settings=settings, checkpoint_dir=tmp_path)
    for name in OPTIONAL_METRICS["binary"]:
        assert len(outcome.history[f"val_{name}"]) == 2 and 0 <= outcome.history[name][-1] <= 1
    assert outcome.best_value == max(outcome.history["val_auc"])
    keras.saving.load_model(tmp_path / "best.keras")  # the metrics load with safe_mode on


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_top_3_accuracy_follows_the_targets_the_loss_takes(loss, tmp_path):
    digits = load_sklearn("digits")
    data = from_arrays(
        digits.x_train[:300], digits.y_train[:300], validation_data=(digits.x_val, digits.y_val)
    )
    settings = FitSettings(epochs=1, monitor="val_top_3_accuracy", mode="max", metrics=["top_3_accuracy"])
    outcome = train({**CONFIG, "loss": loss}, data, settings=settings, checkpoint_dir=tmp_path)
    # What top-3 accuracy is, computed from the model's own predictions: the metric
    # must match it whatever form the targets take (the sparse metric on one-hot
    # targets would not).
    scores = outcome.model.predict(data.x_val, verbose=0)
    in_top3 = (np.argsort(scores, axis=1)[:, -3:] == data.y_val[:, None]).any(axis=1)
    # Within two samples: predict and evaluate may round a near-tie at rank 3 apart.
    assert outcome.history["val_top_3_accuracy"][0] == pytest.approx(in_top3.mean(), abs=2.5 / len(in_top3))


def test_regression_metrics(tmp_path):
    data = load_sklearn("diabetes")
    model = build_model(CONFIG, data)
    compile_model(model, CONFIG, data, settings=FitSettings(metrics=["rmse", "mse", "mape"]))
    logs = model.fit(data.x_train, data.y_train, epochs=1, verbose=0).history
    assert math.isclose(logs["rmse"][0] ** 2, logs["mse"][0], rel_tol=1e-3)  # the same errors, two ways


def test_a_metric_of_another_task_names_the_task():
    with pytest.raises(
        ConfigError, match=r"^metrics\.0: 'rmse' is not a binary metric; accepted for binary: \['auc'"
    ):
        FitSettings(metrics=["rmse"], monitor="val_loss").check_monitor("binary")


def test_reduce_lr_on_plateau_lowers_the_rate_of_a_stalled_fit(cancer, tmp_path):
    # min_delta above any change: every epoch after the first counts as a plateau.
    settings = FitSettings(epochs=3, patience=10, min_delta=100.0, reduce_lr_patience=0, reduce_lr_factor=0.5)
    outcome = train({**CONFIG, "learning_rate": 0.01}, cancer, settings=settings, checkpoint_dir=tmp_path)
    assert float(outcome.model.optimizer.learning_rate) == pytest.approx(0.01 * 0.5**2)
    # The rate each epoch ran with; the cut at an epoch's end shows in the next.
    assert outcome.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.005])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reduce_lr_factor": 1.0}, r"^reduce_lr_factor: expected a number in \(0, 1\), but got 1\.0"),
        ({"reduce_lr_patience": True}, r"^reduce_lr_patience: expected an int >= 0, but got True"),
        ({"metrics": ["aucc"]}, r"^metrics\.0: unknown metric 'aucc' \(did you mean 'auc'\?\)"),
        ({"steps_per_execution": 0}, r"^steps_per_execution: expected an int >= 1 or 'auto', but got 0"),
        (
            {"steps_per_execution": "max"},
            r"^steps_per_execution: expected an int >= 1 or 'auto', but got 'max'",
        ),
        ({"jit_compile": 1}, r"^jit_compile: expected true, false or 'auto', but got 1"),
        ({"mixed_precision": "yes"}, r"^mixed_precision: expected true or false, but got 'yes'"),
    ],
)
def test_bad_settings_name_the_field(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FitSettings(**kwargs)


def test_reduce_lr_with_a_scheduled_rate_is_refused_before_fit(cancer, tmp_path):
    settings = FitSettings(epochs=1, reduce_lr_patience=1)
    with pytest.raises(ConfigError, match=r"^reduce_lr_patience: .*warmup_epochs=2\); use one or the other"):
        train({**CONFIG, "warmup_epochs": 2}, cancer, settings=settings, checkpoint_dir=tmp_path)


def test_steps_per_execution_and_jit_compile_reach_compile(cancer, tmp_path):
    settings = FitSettings(epochs=2, steps_per_execution=8, jit_compile=False)
    outcome = train(CONFIG, cancer, settings=settings, checkpoint_dir=tmp_path)
    assert outcome.model.steps_per_execution == 8 and outcome.model.jit_compile is False
    assert len(outcome.history["val_loss"]) == 2


class BatchLog(keras.callbacks.Callback):
    """Records the batch index of each on_train_batch_end, on the class: train deep-copies callbacks."""

    seen: list[int] = []

    def on_train_batch_end(self, batch, logs=None):
        BatchLog.seen.append(batch)


class EveryNthBatchLog(BatchLog):
    needs_every_batch = False


def test_auto_steps_per_execution_runs_an_epoch_per_call_with_the_same_results(cancer, tmp_path):
    assert len(cancer.x_train) == 455  # 15 batches of 32, 57 of 8
    seeded = FitSettings(epochs=3, seed=0)
    one = train(
        CONFIG,
        cancer,
        settings=dataclasses.replace(seeded, steps_per_execution=1),
        checkpoint_dir=tmp_path / "a",
    )
    auto = train(CONFIG, cancer, settings=seeded, checkpoint_dir=tmp_path / "b")
    assert (one.model.steps_per_execution, auto.model.steps_per_execution) == (1, 15)
    assert auto.history.keys() == one.history.keys()
    for name, values in one.history.items():
        assert auto.history[name] == pytest.approx(values, rel=1e-5), name
    assert keras.saving.load_model(tmp_path / "b" / "best.keras").steps_per_execution == 15
    small = train(
        {**CONFIG, "batch_size": 8}, cancer, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path / "c"
    )
    assert small.model.steps_per_execution == 32  # the cap


@pytest.mark.parametrize(
    ("callback", "steps", "seen"),
    [(BatchLog(), 1, [*range(15), *range(15)]), (EveryNthBatchLog(), 15, [14, 14])],
)
def test_a_callback_with_batch_hooks_sees_every_batch_unless_it_says_it_need_not(
    cancer, tmp_path, callback, steps, seen
):
    BatchLog.seen = []
    outcome = train(
        CONFIG, cancer, settings=FitSettings(epochs=2), checkpoint_dir=tmp_path, callbacks=[callback]
    )
    assert outcome.model.steps_per_execution == steps
    assert BatchLog.seen == seen


def test_mixed_precision_computes_in_float16_with_a_float32_head_and_loss_scaling(tmp_path):
    # Slow on CPUs (automl asks for GPUs), but the same Keras code path runs here.
    digits = load_sklearn("digits")
    config = {**CONFIG, "lr_schedule": "cosine"}  # the schedule sets the rate through the loss-scale wrapper
    settings = FitSettings(epochs=2, monitor="val_accuracy", mode="max", mixed_precision=True)
    outcome = train(config, digits, settings=settings, checkpoint_dir=tmp_path / "a")
    dense, head = outcome.model.get_layer(index=-2), outcome.model.get_layer("head")
    assert (dense.compute_dtype, dense.variable_dtype) == ("float16", "float32")
    assert head.compute_dtype == "float32" and outcome.model.outputs[0].dtype == "float32"
    assert isinstance(outcome.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert outcome.history["val_accuracy"][-1] > 0.2  # it learns (chance is 0.1; float32 gets ~0.3 here)
    assert keras.config.dtype_policy().name == "float32"  # a reused worker's next trial starts clean
    resumed = train(
        config,
        digits,
        settings=dataclasses.replace(settings, epochs=3),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
    )
    assert resumed.epochs_run == 3 and resumed.model.get_layer(index=-2).compute_dtype == "float16"
    # Outside the policy (export, evaluate, a user's session) it loads with its optimizer.
    loaded = keras.saving.load_model(tmp_path / "b" / "last.keras")
    assert isinstance(loaded.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loaded.get_layer(index=-2).compute_dtype == "float16"


def test_resume_keeps_the_plateau_count_and_the_reduced_rate(cancer, tmp_path):
    # Every epoch after the first is a plateau; patience 2 cuts the rate at the end of epoch 3.
    settings = {"patience": 10, "min_delta": 100.0, "reduce_lr_patience": 2, "reduce_lr_factor": 0.5}
    config = {**CONFIG, "learning_rate": 0.01}
    whole = train(config, cancer, settings=FitSettings(epochs=5, **settings), checkpoint_dir=tmp_path / "w")
    assert whole.history["learning_rate"] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005])
    train(config, cancer, settings=FitSettings(epochs=2, **settings), checkpoint_dir=tmp_path / "a")
    train(
        config,
        cancer,
        settings=FitSettings(epochs=4, **settings),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
    )
    resumed = train(
        config,
        cancer,
        settings=FitSettings(epochs=5, **settings),
        checkpoint_dir=tmp_path / "c",
        resume_from=tmp_path / "b",
    )
    # Interrupted twice, it runs with the rates of the uninterrupted fit: the count went on
    # across the first restart (a fresh callback would wait 2 more epochs) and the cut
    # rate came back with the optimizer across the second.
    assert resumed.history["learning_rate"] == pytest.approx(whole.history["learning_rate"])
    assert float(resumed.model.optimizer.learning_rate) == pytest.approx(0.01 * 0.5**2)


def test_a_new_learning_rate_on_resume_scales_the_reduced_rate(cancer, tmp_path):
    # Cut once by the plateau (0.01 -> 0.005), then resumed with a config rate twice as high.
    settings = {"patience": 10, "min_delta": 100.0, "reduce_lr_patience": 2, "reduce_lr_factor": 0.5}
    config = {**CONFIG, "learning_rate": 0.01}
    train(config, cancer, settings=FitSettings(epochs=4, **settings), checkpoint_dir=tmp_path / "a")
    resumed = train(
        {**config, "learning_rate": 0.02},
        cancer,
        settings=FitSettings(epochs=5, **settings),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
    )
    assert resumed.history["learning_rate"][-1] == pytest.approx(0.01)  # 0.005 * 0.02 / 0.01


def _scheduled(config):
    inputs = keras.Input(shape=(30,))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    decay = keras.optimizers.schedules.ExponentialDecay(
        config["learning_rate"], decay_steps=10, decay_rate=0.9
    )
    model.compile(keras.optimizers.Adam(decay), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def test_a_new_learning_rate_on_resume_is_refused_by_name_when_the_optimizer_follows_a_schedule(
    cancer, tmp_path
):
    config = {"learning_rate": 0.01}
    train(config, cancer, settings=FitSettings(epochs=1), checkpoint_dir=tmp_path / "a", build=_scheduled)
    same = train(
        config,
        cancer,
        settings=FitSettings(epochs=2),
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
        build=_scheduled,
    )
    assert len(same.history["loss"]) == 2  # the unchanged rate resumes as before
    with pytest.raises(TrialFailedError, match=r"learning_rate changed from 0\.01 to 0\.02.*`mutate`"):
        train(
            {"learning_rate": 0.02},
            cancer,
            settings=FitSettings(epochs=2),
            checkpoint_dir=tmp_path / "c",
            resume_from=tmp_path / "a",
            build=_scheduled,
        )
