"""A run tracked on a real `mlflow server` (sqlite backend) started by the test on 127.0.0.1."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

import automl
from search_spaces import mlp
from tests._servers import free_port, start_mlflow_server, stop_process_group

pytestmark = [pytest.mark.slow, pytest.mark.ray]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    process = start_mlflow_server(tmp_path_factory.mktemp("server"), port)
    yield f"http://127.0.0.1:{port}"
    stop_process_group(process)


def test_a_run_tracked_on_a_tracking_server(server, ray_local, tmp_path, capfd):
    result = automl.tune(
        mlp(max_layers=2),
        data="digits",
        num_trials=2,
        epochs=2,
        scheduler="fifo",
        seed=0,
        tracking_uri=server,
        experiment_name="served",
        storage_path=tmp_path,
        verbose=1,
    )
    client = MlflowClient(server)
    runs = client.search_runs([result.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    assert len(children) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        assert sorted(steps) == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"model", "plots", "space.yaml", "trials.csv"} <= artifacts  # uploaded through the server
    versions = client.search_model_versions("name = 'served'")
    assert [v.run_id for v in versions] == [result.parent_run_id]
    result.retrain(epochs=1)  # a run of its own, ended in this process
    (retrained,) = client.search_runs([result.experiment_id], "tags.automl.kind = 'retrain'")
    assert retrained.info.status == "FINISHED"
    # The run's own lines; none of MLflow's "View run" links (a trial's, the run's, the retrain's)
    # nor its log records (the model version's registration).
    out, err = capfd.readouterr()
    assert "[automl] trial" in out
    assert not [line for line in (out + err).splitlines() if "View " in line or "mlflow" in line], out + err
