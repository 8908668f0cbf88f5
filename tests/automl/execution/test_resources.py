"""Resources per trial that no node can hold are refused once Ray is up, before any trial starts."""

from __future__ import annotations

import time

import pytest

import automl
from search_spaces import mlp

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.mark.parametrize(
    "resources, match",
    [
        (
            {"cpu": 3},
            r"^resources_per_trial: a trial asks for \{'cpu': 3\}, but no node of the Ray cluster has that much \(nodes: \[\{'CPU': 2\.0\}\]\)",
        ),
        (
            {"cpu": 1, "gpu": 0.5},
            r"^resources_per_trial: a trial asks for \{'cpu': 1, 'gpu': 0\.5\}, .*'GPU': 0",
        ),
        ({"cpu": 1, "tpu": 4}, r"^resources_per_trial: .*'TPU': 0"),
    ],
)
def test_resources_larger_than_any_node_fail_fast(ray_local, tmp_path, resources, match):
    start = time.monotonic()
    with pytest.raises(automl.ConfigError, match=match):
        automl.tune(
            mlp(),
            data="iris",
            num_trials=1,
            epochs=1,
            resources_per_trial=resources,
            tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
            storage_path=tmp_path / "runs",
            verbose=0,
        )
    assert time.monotonic() - start < 10, "must not wait for a node that never comes"
    assert not (tmp_path / "runs").exists(), "nothing of a run may start"
