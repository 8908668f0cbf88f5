"""Shared fixtures: one real local Ray instance for every test that needs it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests._servers import postgres  # noqa: F401 - the session's PostgreSQL server, a fixture for every test

# Quiet TensorFlow's C++ start-up banner; set before anything imports TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_CACHE = "AUTOML_CACHE_DIR"
_cache_key = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """automl's cache (the empty MLflow store it copies) lives in a directory of this session.

    The session's first new store builds it, as on a fresh machine, and the
    processes the tests start inherit it; the user's own cache is left alone.
    """
    if _CACHE not in os.environ:
        os.environ[_CACHE] = tempfile.mkdtemp(prefix="automl-test-cache-")
        config.stash[_cache_key] = os.environ[_CACHE]


def pytest_unconfigure(config: pytest.Config) -> None:
    made = config.stash.get(_cache_key, None)
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)
        os.environ.pop(_CACHE, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test on the shared Ray is a `ray` test, marked or not: `make test` runs those one at a time."""
    for item in items:
        if "ray_local" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.ray)


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
