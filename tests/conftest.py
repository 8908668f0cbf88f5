"""Shared fixtures: one real local Ray instance for every test that needs it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Quiet TensorFlow's C++ start-up banner; set before anything imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A real local Ray with 2 CPUs, started once and shared (ray.init takes 5-9 s)."""
    import ray

    ray.init(
        address="local",  # a fresh instance, whatever other clusters this machine runs
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # No runtime_env, as automl starts Ray: workers inherit TF_CPP_MIN_LOG_LEVEL from here.
    )
    yield
    ray.shutdown()
