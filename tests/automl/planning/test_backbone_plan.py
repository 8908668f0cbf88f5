"""A backbone's bad input is a ConfigError from planning, before Ray starts."""

from __future__ import annotations

import numpy as np
import pytest
import ray

import automl
from search_spaces import Backbone, ConfigError, LayerStack, Space
from trainers import from_arrays


def _data(side):
    rng = np.random.default_rng(0)
    return from_arrays(rng.uniform(0, 255, size=(12, side, side, 3)), np.arange(12) % 2)


@pytest.mark.parametrize(
    ("side", "backbone", "message"),
    [
        (
            32,
            {"weights": "missing.weights.h5"},
            r"space\.layers\.layers\.0\.weights: the weights file '.*missing\.weights\.h5' does not exist",
        ),
        (
            32,
            {"fine_tune_at": 1000},
            r"space\.layers\.layers\.0\.fine_tune_at: fine_tune_at=1000 is beyond the backbone's depth",
        ),
        (24, {}, r"space\.layers\.0: the MobileNetV3Small backbone needs images of at least 32x32 pixels"),
    ],
)
def test_bad_backbone_input_is_refused_before_ray_starts(side, backbone, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    space = Space(layers=LayerStack(Backbone(name="MobileNetV3Small", **backbone)))
    with pytest.raises(ConfigError, match=message):
        automl.tune(space, data=_data(side), num_trials=1, epochs=1, storage_path=tmp_path)
    assert not ray.is_initialized()
