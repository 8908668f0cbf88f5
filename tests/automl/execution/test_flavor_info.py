"""The best model's MLflow files, written in the driver from what its trial's worker wrote: as mlflow.keras writes them."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import mlflow
import numpy as np
import yaml

from automl.execution._flavor_info import FLAVOR_FILE, read_flavor_info
from automl.execution._model_size import FlavorInfo
from automl.tracking._artifacts import log_best_model
from automl.tracking._tracking import tracking_client

# MLmodel keys that differ between any two saves of one model.
_PER_SAVE = {"model_uuid", "utc_time_created", "model_size_bytes", "artifact_path", "run_id", "model_id"}


def _fitted(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = rng.integers(0, 3, size=40)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[FlavorInfo(checkpoint, x[:5])])
    model.save(tmp_path / "best.keras")
    return model, x[:5], checkpoint


def _logged(client, run_id, tmp_path, name):
    local = client.download_artifacts(run_id, "model", str(tmp_path / name))
    files = {}
    for path in sorted(p for p in (tmp_path / name).rglob("*") if p.is_file()):
        files[str(path.relative_to(local))] = path
    return local, files


def test_the_model_written_from_the_workers_info_is_the_one_mlflow_keras_writes(tmp_path):
    model, example, checkpoint = _fitted(tmp_path)
    info = read_flavor_info(checkpoint)
    assert info is not None and info["output_shape"] == [3] and info["output_dtype"] == "float32"
    assert info["keras_version"] == keras.__version__

    client = tracking_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("flavor")
    runs = {how: client.create_run(experiment).info.run_id for how in ("loaded", "from_info")}
    log_best_model(client, runs["loaded"], tmp_path / "best.keras", example, registered_name=None)
    version = log_best_model(
        client, runs["from_info"], tmp_path / "best.keras", example, registered_name="flavor", flavor=info
    )
    assert version == "1"

    _, loaded = _logged(client, runs["loaded"], tmp_path, "a")
    ours_dir, ours = _logged(client, runs["from_info"], tmp_path, "b")
    assert ours.keys() == loaded.keys()
    for name in ours.keys() - {"MLmodel", "data/model.keras"}:
        assert ours[name].read_text() == loaded[name].read_text(), name
    ours_mlmodel, loaded_mlmodel = (yaml.safe_load(f["MLmodel"].read_text()) for f in (ours, loaded))
    for key in _PER_SAVE:
        ours_mlmodel.pop(key, None), loaded_mlmodel.pop(key, None)
    assert ours_mlmodel == loaded_mlmodel
    assert ours_mlmodel["signature"]["outputs"] == loaded_mlmodel["signature"]["outputs"]

    assert client.get_model_version("flavor", version).run_id == runs["from_info"]
    registered = mlflow.pyfunc.load_model(ours_dir)
    np.testing.assert_allclose(registered.predict(example), model.predict(example, verbose=0), rtol=1e-5)
    assert registered.metadata.get_input_schema() is not None


def test_a_model_without_one_output_array_writes_no_info(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    model.compile("adam", ["mse", "mse"])
    x = np.zeros((8, 4), "float32")
    model.fit(x, [np.zeros((8, 2)), np.zeros((8, 3))], epochs=1, verbose=0, callbacks=[FlavorInfo(tmp_path, x[:5])])
    assert not (tmp_path / FLAVOR_FILE).exists()
    assert read_flavor_info(tmp_path) is None
    (tmp_path / FLAVOR_FILE).write_text(json.dumps({"keras_version": "3"}))  # incomplete: not used
    assert read_flavor_info(tmp_path) is None


def test_logging_a_model_from_its_info_imports_no_tensorflow(tmp_path):
    model, example, checkpoint = _fitted(tmp_path)
    np.save(tmp_path / "example.npy", example)
    script = f"""
import json, sys
from pathlib import Path
import numpy as np
from automl.execution._flavor_info import read_flavor_info
from automl.tracking._artifacts import log_best_model
from automl.tracking._tracking import tracking_client
tmp = Path({str(tmp_path)!r})
client = tracking_client(f"sqlite:///{{tmp / 'driver.db'}}")
run = client.create_run(client.create_experiment("e")).info.run_id
log_best_model(client, run, tmp / "best.keras", np.load(tmp / "example.npy"), registered_name="m",
               flavor=read_flavor_info(tmp / "checkpoint"))
print(json.dumps(sorted(m for m in ("tensorflow", "keras") if m in sys.modules)))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
