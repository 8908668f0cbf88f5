"""Several studies at once on a team's MLflow server (PostgreSQL, basic auth), the server restarted mid-load.

Each study is its own driver process (`benchmarks._load_driver`, the driver
`benchmarks.tracking_load` measures with), all joining the test's Ray and
writing into one experiment, so their best models are registered as versions
of one model at about the same time. Two studies run many short trials
(no TensorFlow), one real Keras fits; the Keras study's trials wait at
their second epoch's end until the server is down, so writes are certainly made
during the outage. Afterwards the store must hold every trial once, every
epoch once, a version per study, and no run left RUNNING.
"""

from __future__ import annotations

import pytest

from benchmarks.tracking_load import (
    check_store,
    driver_specs,
    finish_drivers,
    restart_mid_load,
    start_drivers,
    stop_drivers,
)
from tests._servers import running_team_server

# Holds each trial at its second epoch's end until a flag file exists (its first epoch is
# reported: the load waits for every study's first epoch before it stops the server).
from tests.reliability.test_tracking_outage import GATE

pytestmark = [pytest.mark.slow, pytest.mark.ray]

SHORT, TRIALS, KERAS_TRIALS, EPOCHS = 2, 12, 2, 3


def test_studies_at_once_through_a_server_restart_lose_and_duplicate_nothing(postgres, ray_local, tmp_path):
    import ray
    from mlflow.tracking import MlflowClient

    with running_team_server(postgres, tmp_path / "team", name="team_load") as team:
        flag, gate = tmp_path / "server-down", tmp_path / "gate.py"
        gate.write_text(GATE.format(down=str(flag)))
        specs = driver_specs(
            short=SHORT,
            keras=1,
            trials=TRIALS,
            epochs=EPOCHS,
            keras_trials=KERAS_TRIALS,
            uri=team.url,
            address=ray.get_runtime_context().gcs_address,
            storage=tmp_path / "runs",
        )
        specs[-1]["callbacks"] = [f"{gate}:gate"]
        # The gated Keras trials hold their CPUs until the server is down, which waits for every
        # study's first epoch: together they take one of the test Ray's 2 CPUs, so the short studies
        # always have the other (with a whole CPU each, a Keras study that started first took both).
        specs[-1]["cpu"] = 1 / KERAS_TRIALS
        env = {"MLFLOW_TRACKING_USERNAME": team.user, "MLFLOW_TRACKING_PASSWORD": team.password}
        drivers = start_drivers(specs, env, tmp_path)
        try:
            restart = restart_mid_load(team, tmp_path / "runs", specs, drivers, down_flag=flag)
            reports = finish_drivers(drivers, specs, tmp_path, timeout=600)
        finally:
            stop_drivers(drivers)
        assert restart["write_kept_while_down"]
        admin = MlflowClient(f"http://admin:{team.admin_password}@127.0.0.1:{team.port}")
        assert check_store(admin, reports, specs) == []
        assert [r["states"] for r in reports] == [{"COMPLETE": s["trials"]} for s in specs]
        assert [r["dropped"] for r in reports] == [[]] * len(specs)  # no write refused
