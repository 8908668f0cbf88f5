"""File-backed data end to end: trials read the files in their workers (real Ray, MLflow, Keras)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

import automl
import trainers
from automl import TuningResult
from automl.cli import main
from search_spaces import Categorical, mlp
from tests.automl.planning.test_file_data import LOADERS, TEXT_SPACE
from tests.trainers.test_stream import write_images
from tests.trainers.test_tables import write_tables
from tests.trainers.test_texts import write_texts

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_an_image_folder_is_tuned_from_files_and_its_classes_logged(ray_local, tmp_path):
    data = trainers.image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    result = automl.tune(
        mlp(batch_size=Categorical([8, 16])),
        data=data,
        num_trials=2,
        epochs=1,
        seed=0,
        storage_path=tmp_path / "runs",
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        verbose=0,
    )
    assert list(result.trials["state"]) == ["COMPLETE"] * 2
    assert result.classes == ("cat", "dog", "owl")
    manifest = json.loads((result.run_dir / "run.json").read_text())
    assert manifest["data"] == data.spec()  # resume reads the folder again from this
    logged = MlflowClient(result.tracking_uri).download_artifacts(result.parent_run_id, "data_classes.json")
    assert json.loads(Path(logged).read_text()) == {"classes": ["cat", "dog", "owl"]}
    # Resume checks the folder again from the run's record: no data passed.
    resumed = automl.resume(result.run_dir, verbose=0)
    assert list(resumed.trials["state"]) == ["COMPLETE"] * 2 and resumed.classes == ("cat", "dog", "owl")


def _tune_file(tmp_path, data, space, epochs):
    """Runs an experiment file of two trials through `automl tune`; returns its result, all trials complete."""
    (tmp_path / "exp.yaml").write_text(
        # fifo: every trial runs its epochs (ASHA may stop one after its first, depending on their order)
        f"data: {data}\nspace: {space}\nnum_trials: 2\nepochs: {epochs}\nscheduler: fifo\nname: run\n"
        f"storage_path: {tmp_path}\ntracking_uri: sqlite:///{tmp_path / 'mlflow.db'}\n"
    )
    assert main(["tune", str(tmp_path / "exp.yaml"), "--quiet"]) == 0
    result = TuningResult.load(tmp_path / "run")
    assert list(result.trials["state"]) == ["COMPLETE"] * 2
    return result


def test_a_loader_function_in_an_experiment_file_runs_in_the_workers(ray_local, tmp_path):
    (tmp_path / "loaders.py").write_text(LOADERS)
    space = "{preset: mlp, batch_size: {type: categorical, choices: [8, 32]}}"
    _tune_file(tmp_path, "{function: loaders.py:make_data}", space, epochs=2)


def test_a_streamed_csv_is_tuned_in_chunks_and_its_columns_logged(ray_local, tmp_path):
    write_tables(tmp_path / "tables")
    data = "{csv: tables/part-*.csv, target: label, stream: true}"
    result = _tune_file(tmp_path, data, "{preset: mlp}", epochs=1)
    assert [c.name for c in result.columns] == ["size", "weight", "colour"]
    assert result.classes == ("big", "small")
    logged = MlflowClient(result.tracking_uri).download_artifacts(result.parent_run_id, "data_columns.json")
    assert json.loads(Path(logged).read_text())["columns"][-1]["vocabulary"] == ["blue", "green", "red"]


def test_a_text_folder_is_tuned_with_a_vectorizer_in_the_model(ray_local, tmp_path):
    write_texts(tmp_path / "reviews")
    space = json.dumps(TEXT_SPACE)  # YAML reads JSON
    result = _tune_file(
        tmp_path, "{text_directory: reviews, max_tokens: 50, sequence_length: 12}", space, epochs=1
    )
    model = keras.saving.load_model(result.best_model_path)
    assert model.predict(np.array(["good great", "bad sad"], dtype=object), verbose=0).shape == (2, 1)
