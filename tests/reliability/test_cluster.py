"""A study on a two-node Ray cluster on one machine (`ray.cluster_utils.Cluster`)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ray]

# Run in its own process: a driver joins one cluster at a time, and the test
# session's shared local Ray is another one.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from ray.cluster_utils import Cluster
    import automl
    from search_spaces import mlp

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        result = automl.tune(
            mlp(max_layers=1), data="digits", num_trials=4, epochs=2, scheduler="fifo", seed=0,
            address=cluster.address, tracking_uri=sys.argv[1], storage_path=sys.argv[2], verbose=0,
        )
        print(json.dumps({"nodes": sorted(set(result.trials["node"])), "states": list(result.trials["state"])}))
    finally:
        import ray
        ray.shutdown()
        cluster.shutdown()
    """
)


def test_trials_run_on_both_nodes(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "runs")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["states"] == ["COMPLETE"] * 4
    assert len(summary["nodes"]) == 2  # one CPU per node, one CPU per trial: both nodes ran trials
