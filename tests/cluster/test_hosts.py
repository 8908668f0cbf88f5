"""`automl submit` from outside a Ray cluster of two hosts (network namespaces), token auth on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests import _netns
from tests.cluster.conftest import make_cluster

AUTOML = [sys.executable, "-m", "automl.cli"]


def test_a_network_is_removed_with_its_processes(network):
    host = network.add_host()
    other = network.add_host()
    sleeper = subprocess.Popen(host.command(["sleep", "600"]))
    reply = other.run([sys.executable, "-c", f"import socket; socket.create_connection(('{host.address}', 9), 2)"])
    assert "Connection refused" in reply.stderr  # the other host reaches it (nothing listens on 9)
    assert host.pids() == [sleeper.pid]
    network.close()
    assert sleeper.wait(timeout=10) == -9
    names = subprocess.run([_netns.IP, "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run([_netns.IP, "-o", "link", "show"], capture_output=True, text=True).stdout
    assert network.tag not in names and network.tag not in links


@pytest.fixture(scope="module")
def cluster(namespaces: None) -> Iterator[_netns.RayCluster]:
    """A head and a worker host, one CPU each; stopped, hosts removed, after the module."""
    with _netns.network() as net:
        cluster = make_cluster(net, workers=1)
        try:
            yield cluster
        finally:
            cluster.close()


def _experiment(tmp_path: Path, **settings: object) -> Path:
    experiment = {
        "experiment_name": "hosts",
        "data": {"sklearn": "digits", "validation_split": 0.2},
        "space": {"preset": "mlp"},
        "num_trials": 2,
        "epochs": 1,
        "scheduler": "fifo",
        "seed": 0,
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "storage_path": str(tmp_path / "runs"),
        **settings,
    }
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(experiment))
    return path


def _submit(cluster: _netns.RayCluster, experiment: Path, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`automl submit --follow` from the root namespace, with ``env`` (and a home without a token)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return subprocess.run(
        [*AUTOML, "submit", str(experiment), "--address", cluster.dashboard, "--follow"],
        env={**clean, "HOME": str(home), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _jobs(cluster: _netns.RayCluster) -> list[object]:
    request = urllib.request.Request(
        f"{cluster.dashboard}/api/jobs/", headers={"Authorization": f"Bearer {cluster.token_file.read_text()}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return list(json.load(response))


@pytest.mark.ray
@pytest.mark.slow
def test_a_study_submitted_from_outside_runs_on_every_node(cluster, tmp_path):
    out = _submit(cluster, _experiment(tmp_path), tmp_path, RAY_AUTH_TOKEN_PATH=str(cluster.token_file))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "SUCCEEDED" in out.stdout.splitlines()[-1]

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("hosts")
    trials = client.search_runs([experiment.experiment_id], "tags.automl.trial_id != ''")
    assert sorted(r.info.status for r in trials) == ["FINISHED"] * 2
    # One CPU per node and per trial: the two trials ran at once, one on each host.
    assert {r.data.tags["automl.node_ip"] for r in trials} == {h.address for h in cluster.net.hosts}


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.parametrize(
    ("token", "status"),
    [(None, "missing token (401)"), ("0" * 64, "wrong token (403)")],
    ids=["no-token", "wrong-token"],
)
def test_a_client_without_the_clusters_token_is_refused(cluster, tmp_path, token, status):
    before = len(_jobs(cluster))
    env = {} if token is None else {"RAY_AUTH_TOKEN": token}
    out = _submit(cluster, _experiment(tmp_path), tmp_path, **env)
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"error: address: the Ray cluster at {cluster.dashboard} refused this client's token")
    assert status in line
    assert len(_jobs(cluster)) == before  # nothing reached the cluster


@pytest.mark.ray
@pytest.mark.slow
def test_a_trial_no_node_can_hold_is_refused_before_submitting(cluster, tmp_path):
    before = len(_jobs(cluster))
    experiment = _experiment(tmp_path, resources_per_trial={"cpu": 2})
    out = _submit(cluster, experiment, tmp_path, RAY_AUTH_TOKEN_PATH=str(cluster.token_file))
    assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(
        "error: resources_per_trial: a trial asks for {'cpu': 2}, but no node of the Ray cluster has that much"
    )
    assert len(_jobs(cluster)) == before  # nothing reached the cluster
