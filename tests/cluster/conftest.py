"""Test hosts as network namespaces, and Ray clusters across them (see tests/_netns.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import _netns


@pytest.fixture(scope="session")
def namespaces() -> None:
    """Skips the test, with the reason, where network namespaces cannot be made (checked once)."""
    reason = _netns.unavailable()
    if reason is not None:
        pytest.skip(f"no test hosts: {reason}")
    _netns.sweep_stale()
    _netns.clean_up_on_sigterm()


@pytest.fixture
def network(namespaces: None) -> Iterator[_netns.Network]:
    with _netns.network() as net:
        yield net


def make_cluster(net: _netns.Network, workers: int, **system: str) -> _netns.RayCluster:
    """A head and ``workers`` worker hosts, one CPU each, every node alive."""
    cluster = _netns.RayCluster(net, system=dict(system))
    hosts = [net.add_host() for _ in range(workers + 1)]
    cluster.start_head(hosts[0])
    for host in hosts[1:]:
        cluster.join(host)
    cluster.wait_alive({h.address for h in hosts})
    return cluster
