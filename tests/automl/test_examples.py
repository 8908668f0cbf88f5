"""Every example experiment file validates; the CSV one also runs with a tiny budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl import Experiment
from automl._cli import main

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path):
    experiment = Experiment.from_yaml(path)
    assert experiment.num_trials >= 1


def test_csv_example_reads_the_committed_file():
    experiment = Experiment.from_yaml(Path(__file__).resolve().parents[2] / "examples" / "wine_csv.yaml")
    from automl._experiment import _data

    data = _data(experiment.data)
    assert data.task == "multiclass" and data.num_classes == 3 and data.input_shape == (13,)


@pytest.mark.slow
@pytest.mark.ray
def test_csv_example_runs(ray_local, tmp_path, capsys):
    path = Path(__file__).resolve().parents[2] / "examples" / "wine_csv.yaml"
    args = ["tune", str(path), "--quiet", "--set", "num_trials=2", "--set", "epochs=3"]
    args += ["--set", f"tracking_uri=sqlite:///{tmp_path / 'mlflow.db'}", "--set", f"storage_path={tmp_path}"]
    assert main(args) == 0
    assert "Best val_accuracy" in capsys.readouterr().out
