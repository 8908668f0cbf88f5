"""Fixtures of the driver-side tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray


@pytest.fixture
def ray_stays_down() -> Iterator[None]:
    """Fails the test if it started Ray: bad input must be refused before Ray starts."""
    was_up = ray.is_initialized()
    yield
    if not was_up:
        assert not ray.is_initialized(), "validation must fail before Ray starts"
