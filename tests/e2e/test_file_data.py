"""File-backed data end to end: trials read the files in their workers (real Ray, MLflow, Keras)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from mlflow.tracking import MlflowClient

import automl
import trainers
from automl import TuningResult
from automl.cli import main
from search_spaces import Categorical, ConfigError, mlp
from tests.automl.planning.test_file_data import LOADERS, TEXT_SPACE
from tests.trainers.test_stream import write_images
from tests.trainers.test_tables import write_tables
from tests.trainers.test_texts import write_texts
from tests.trainers.test_tfrecords import FEATURES, write_shards

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
    _assert_dataset_inputs(result, name="pics", digest=data.lineage.digest, files=36)
    # A test folder of the same kind: a path read with the run's image_size, or a declared StreamingData.
    test = str(write_images(tmp_path / "test", per_class=4, seed=1))
    by_path = result.evaluate(test)
    assert set(by_path) == {"loss", "accuracy"} and by_path == result.evaluate(
        trainers.image_directory(test, image_size=[8, 8])
    )
    with pytest.raises(ConfigError, match=r"^x: the test set's samples have shape \(6, 6, 3\), but the model takes"):
        result.evaluate(trainers.image_directory(test, image_size=[6, 6]))
    retrained = result.retrain(epochs=1)  # the training then the validation files, read as in a trial
    assert retrained.input_shape == (None, 8, 8, 3)
    with pytest.raises(ConfigError, match=r"^x: the test set's classes \['cat', 'dog'\] are not the run's"):
        result.evaluate(str(write_images(tmp_path / "two", classes=("cat", "dog"))))


def _assert_dataset_inputs(result, *, name, digest, files):
    """The parent run and each trial's record the data as an MLflow dataset input (the UI's Dataset column)."""
    client = MlflowClient(result.tracking_uri)
    runs = [client.get_run(result.parent_run_id), *(client.get_run(i) for i in result.trials["mlflow_run_id"])]
    for run in runs:
        (logged,) = run.inputs.dataset_inputs
        assert (logged.dataset.name, logged.dataset.digest) == (name, digest)
        assert json.loads(logged.dataset.profile)["files"] == files
        assert [(t.key, t.value) for t in logged.tags] == [("mlflow.data.context", "training")]


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


def _resume_and_export(result, tmp_path, capsys):
    """`automl resume` reads the data again from the run's record alone; `automl export` writes a SavedModel."""
    assert main(["resume", str(result.run_dir), "--quiet"]) == 0
    assert list(TuningResult.load(result.run_dir).trials["state"]) == ["COMPLETE"] * 2
    assert main(["export", str(result.run_dir), "--format", "savedmodel", "--out", str(tmp_path / "served")]) == 0
    assert "Exported the best model" in capsys.readouterr().out
    return tf.saved_model.load(str(tmp_path / "served"))


def test_a_loader_function_in_an_experiment_file_runs_in_the_workers(ray_local, tmp_path, capsys):
    (tmp_path / "loaders.py").write_text(LOADERS)
    space = "{preset: mlp, batch_size: {type: categorical, choices: [8, 32]}}"
    result = _tune_file(tmp_path, "{function: loaders.py:make_data}", space, epochs=2)
    _resume_and_export(result, tmp_path, capsys)
    assert set(result.evaluate(trainers.from_loader(_test_loader, {"batch_size": 16}))) == {"loss", "accuracy"}


def _test_loader(config):
    x = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(config["batch_size"])
    return ds, ds


def test_tfrecord_shards_are_tuned_resumed_evaluated_and_exported(ray_local, tmp_path, capsys):
    write_shards(tmp_path / "shards", "train")
    write_shards(tmp_path / "shards", "val", shards=1, seed=1)
    data = json.dumps({"tfrecord": "shards/train-*.tfrecord", "features": FEATURES, "label": "digit",
                       "validation": "shards/val-*.tfrecord"})
    result = _tune_file(tmp_path, data, "{preset: mlp}", epochs=1)
    served = _resume_and_export(result, tmp_path, capsys)
    assert served.serve(tf.zeros((2, 6))).shape == (2, 3)
    test = write_shards(tmp_path / "test", "test", shards=2, per_shard=10, seed=2)
    scores = result.evaluate(test)  # read with the run's feature spec
    assert set(scores) == {"loss", "accuracy"} and 0.0 <= scores["accuracy"] <= 1.0


def test_a_streamed_csv_is_tuned_in_chunks_and_its_columns_logged(ray_local, tmp_path):
    write_tables(tmp_path / "tables")
    data = "{csv: tables/part-*.csv, target: label, stream: true}"
    result = _tune_file(tmp_path, data, "{preset: mlp}", epochs=1)
    assert [c.name for c in result.columns] == ["size", "weight", "colour"]
    assert result.classes == ("big", "small")
    logged = MlflowClient(result.tracking_uri).download_artifacts(result.parent_run_id, "data_columns.json")
    assert json.loads(Path(logged).read_text())["columns"][-1]["vocabulary"] == ["blue", "green", "red"]
    assert main(["resume", str(result.run_dir), "--quiet"]) == 0
    # Test files whose first rows hold other colours first: encoded with the run's vocabulary all the same.
    test = write_tables(tmp_path / "test", files=1, rows=40, seed=3)
    assert set(result.evaluate(test)) == {"loss", "accuracy"}


def test_a_text_folder_is_tuned_with_a_vectorizer_in_the_model(ray_local, tmp_path):
    write_texts(tmp_path / "reviews")
    # The sequence length is searched: each trial's vectorizer is adapted in its worker with its own.
    space = json.dumps({**TEXT_SPACE, "data_sequence_length": {"type": "categorical", "choices": [6, 12]}})
    result = _tune_file(
        tmp_path, "{text_directory: reviews, max_tokens: 50, sequence_length: 12}", space, epochs=1
    )
    model = keras.saving.load_model(result.best_model_path)
    assert model.predict(np.array(["good great", "bad sad"], dtype=object), verbose=0).shape == (2, 1)
    vectorizer = next(layer for layer in model.layers if isinstance(layer, keras.layers.TextVectorization))
    length = result.best_config["data_sequence_length"]
    assert vectorizer(np.array(["good great"], dtype=object)).shape == (1, length)
    assert main(["resume", str(result.run_dir), "--quiet"]) == 0
    assert set(result.evaluate(str(write_texts(tmp_path / "test", per_class=6, seed=2)))) == {"loss", "accuracy"}
