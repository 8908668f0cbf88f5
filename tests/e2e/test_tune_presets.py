"""The CNN preset, conditional training settings and repeated blocks, tuned end to end through Ray.

The RNN preset runs in tests/e2e/test_examples_run.py (examples/sequence_rnn).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

import automl
from search_spaces import (
    BatchNormalization,
    Categorical,
    Conv2D,
    Dense,
    Float,
    Int,
    LayerStack,
    Repeat,
    Space,
    cnn,
)
from trainers import from_arrays

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _tune(space, data, tmp_path, epochs=2, **kwargs):
    return automl.tune(
        space,
        data=data,
        metric="val_accuracy",
        mode="max",
        epochs=epochs,
        scheduler="fifo",
        seed=0,
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        storage_path=tmp_path / "runs",
        verbose=0,
        **kwargs,
    )


def test_cnn_on_digit_images_with_conditional_optimizer_settings(ray_local, tmp_path):
    bunch = load_digits()
    data = from_arrays(bunch.images[..., None], bunch.target, seed=0)
    space = cnn(
        conv_layers=Repeat([Conv2D(filters=Int(8, 16)), BatchNormalization()], times=Int(1, 2)),
        layers=LayerStack(
            Dense(units=Int(16, 64)), min_layers=0, max_layers=2, shared=["units"], width_factor=0.5
        ),
        optimizer=Categorical(["adam", "sgd"]),
        momentum=Float(0.5, 0.9, when={"optimizer": "sgd"}),
        lr_schedule=Categorical(["constant", "cosine"]),
        learning_rate=Float(1e-3, 1e-2, log=True),
    )
    result = _tune(space, data, tmp_path, num_trials=3)
    assert list(result.trials["state"]) == ["COMPLETE"] * 3
    for _, row in result.trials.iterrows():
        assert (row["params.momentum"] is None or np.isnan(row["params.momentum"])) == (
            row["params.optimizer"] == "adam"
        )
    model = keras.saving.load_model(result.best_model_path)
    assert model.input_shape == (None, 8, 8, 1)
    assert model.predict(data.x_val[:4], verbose=0).shape == (4, 10)


def test_a_space_that_cannot_build_on_the_data_fails_before_ray_starts(tmp_path):
    import ray

    bunch = load_digits()
    data = from_arrays(bunch.data, bunch.target, seed=0)  # flat rows, not images
    was_up = ray.is_initialized()
    with pytest.raises(
        automl.ConfigError, match=r"^space\.conv_layers\.0: the conv2d layer needs a 3-D input per sample"
    ):
        _tune(cnn(), data, tmp_path, num_trials=1)
    assert ray.is_initialized() == was_up


def test_grid_search_runs_each_config_once_through_ray(ray_local, tmp_path):
    space = Space(
        layers=LayerStack(Dense(units=Categorical([16, 32])), min_layers=1, max_layers=2),
        learning_rate=5e-3,
        batch_size=64,
    )
    data = from_arrays(load_digits().data, load_digits().target, seed=0)
    result = _tune(space, data, tmp_path, num_trials=6, sampler="grid", epochs=1)
    assert list(result.trials["state"]) == ["COMPLETE"] * 6
    columns = ["params.layers.depth", "params.layers.0.units", "params.layers.1.units"]
    seen = {tuple(str(v) for v in row) for row in result.trials[columns].itertuples(index=False)}
    assert len(seen) == 6
