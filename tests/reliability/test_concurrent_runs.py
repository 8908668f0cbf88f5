"""Two runs at once in one directory share its default stores (sqlite MLflow, automl_runs/).

Both drivers start together against a fresh directory, so they race to create
the MLflow schema, the experiment and their runs. Neither may see "database is
locked" (or any other error), and each run's records must be complete.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from mlflow.tracking import MlflowClient

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TRIALS, EPOCHS = 2, 2

DRIVER = textwrap.dedent(
    """
    import sys

    import automl
    from search_spaces import Dense, LayerStack, Space

    space = Space(layers=LayerStack(Dense(units=8), max_layers=1), learning_rate=1e-2, batch_size=256)
    result = automl.tune(space, data="digits", num_trials={trials}, epochs={epochs}, scheduler="fifo",
                         address=sys.argv[1], name=sys.argv[2], verbose=0)
    print("parent", result.parent_run_id)
    """
).format(trials=TRIALS, epochs=EPOCHS)


def test_two_runs_at_once_share_the_default_stores(ray_local, tmp_path):
    import ray

    address = ray.get_runtime_context().gcs_address  # both drivers join the test's Ray
    (tmp_path / "driver.py").write_text(DRIVER)
    drivers = [
        subprocess.Popen(
            [sys.executable, "driver.py", address, name],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("first", "second")
    ]
    outputs = [driver.communicate(timeout=600) for driver in drivers]
    for driver, (out, err) in zip(drivers, outputs, strict=True):
        assert driver.returncode == 0, err[-3000:]
        assert "database is locked" not in out + err
    parents = {
        line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("parent ")
    }
    assert len(parents) == 2

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (experiment,) = client.search_experiments(filter_string="name = 'automl'")
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs if "mlflow.parentRunId" not in r.data.tags} == parents
    for parent in parents:
        assert client.get_run(parent).info.status == "FINISHED"
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
        assert len(children) == TRIALS
        for child in children:
            assert child.info.status == "FINISHED"
            steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
            assert sorted(steps) == list(range(1, EPOCHS + 1))
    assert sorted(p.name for p in (tmp_path / "automl_runs").iterdir()) == ["first", "second"]
