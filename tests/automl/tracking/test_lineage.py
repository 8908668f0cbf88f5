"""File-backed data as an MLflow dataset input, through the writer's journal form, into a real store."""

from __future__ import annotations

import json

import numpy as np
from mlflow.tracking import MlflowClient

from automl.tracking._lineage import dataset_input
from automl.tracking._mlflow_process import entity, plain
from tests.trainers.test_stream import write_images
from tests.trainers.test_tables import write_tables
from trainers import from_arrays, image_directory, table


def test_an_image_folder_is_logged_with_its_source_digest_schema_and_size(tmp_path):
    data = image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    made = dataset_input(data)
    sent = entity(json.loads(json.dumps(plain([made]))))  # as the journal keeps it
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("e")).info.run_id
    client.log_inputs(run_id, datasets=sent)
    (logged,) = client.get_run(run_id).inputs.dataset_inputs
    assert (logged.dataset.name, logged.dataset.digest, logged.dataset.source_type) == (
        "pics",
        data.lineage.digest,
        "local",
    )
    assert json.loads(logged.dataset.source) == {"uri": str(tmp_path / "pics")}
    schema = json.loads(logged.dataset.schema)["mlflow_colspec"]
    assert [(s["name"], s["tensor-spec"]["shape"]) for s in schema] == [("x", [-1, 8, 8, 3]), ("target", [-1])]
    assert json.loads(logged.dataset.profile) == {
        "files": 36,
        "size_bytes": data.lineage.size_bytes,
        "train_rows": 29,
        "val_rows": 7,
        "num_classes": 3,
    }


def test_a_table_names_its_columns_and_arrays_have_no_input(tmp_path):
    data = table(write_tables(tmp_path / "tables"), target="label")
    schema = json.loads(dataset_input(data).dataset.schema)["mlflow_colspec"]
    assert [(s["name"], s["type"]) for s in schema] == [
        ("size", "double"),
        ("weight", "double"),
        ("colour", "string"),
        ("target", "long"),
    ]
    assert dataset_input(from_arrays(np.zeros((10, 2)), np.arange(10) % 2)) is None
