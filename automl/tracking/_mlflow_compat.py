"""Every private name of MLflow that automl uses, checked against the installed MLflow when this module loads.

automl/tracking/_store_template.py builds an empty sqlite tracking store once per
schema revision and copies it for each new store. MLflow has no public API
for the schema's revision or for creating the tables in a file without
opening a store in it, so both come from ``mlflow.store.db.utils``'s private
helpers. `check_private_names` runs at import (when a run first creates a
sqlite store, before any trial) and raises `IncompatibleVersionError` naming
the missing name, the installed MLflow and `TESTED`.

`save_keras_model_files` writes the directory `mlflow.keras.save_model` writes,
from a saved ``.keras`` file rather than a loaded model: the driver logs the
run's best model without importing TensorFlow (seconds of import and of
teardown at exit, on CPUs the trials use). `mlflow.keras.save_model` imports
Keras at its top; the steps after the model's own save are its own, in its
order, through the private helpers it calls (`_save_example`, the
requirements and environment files).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml
from mlflow import pyfunc
from mlflow.models import Model, ModelSignature
from mlflow.models import utils as mlflow_model_utils
from mlflow.models.model import MLMODEL_FILE_NAME
from mlflow.store.db import utils as mlflow_db_utils
from mlflow.utils import environment as mlflow_environment
from mlflow.utils.file_utils import get_total_file_size

from search_spaces._requires import require, takes

__all__ = [
    "TESTED",
    "check_private_names",
    "create_tables",
    "latest_schema_revision",
    "save_keras_model_files",
]

# The MLflow versions the suite ran on; pyproject.toml's bound on mlflow is the same (tests/test_versions.py).
TESTED = ">=3.0,<3.18"


def latest_schema_revision() -> str:
    """The schema revision MLflow's migrations end at: what a store it builds now records."""
    return str(mlflow_db_utils._get_latest_schema_revision())


def create_tables(engine: Any) -> None:
    """What MLflow runs on an empty database: the tables, then every migration to the current revision."""
    mlflow_db_utils._initialize_tables(engine)


# mlflow.keras.save's layout: data/model.keras and data/keras_module.txt (its _MODEL_DATA_PATH,
# _MODEL_SAVE_PATH and _KERAS_MODULE_SPEC_PATH; importing that module imports Keras).
_KERAS_DATA = "data"
_KERAS_FILE = "model.keras"
_KERAS_MODULE_FILE = "keras_module.txt"


def save_keras_model_files(
    path: Path,
    keras_file: Path,
    *,
    keras_version: str,
    keras_backend: str,
    signature: ModelSignature,
    input_example: Any,
    pip_requirements: list[str],
) -> None:
    """Writes into the empty directory ``path`` what ``mlflow.keras.save_model(model, path, ...)`` writes.

    ``keras_file`` is the model as ``model.save`` wrote it; ``keras_version``
    and ``keras_backend`` are those of the process that saved it (the flavor
    records them).
    """
    mlflow_model = Model()
    mlflow_model.signature = signature
    mlflow_model_utils._save_example(mlflow_model, input_example, str(path))
    data = path / _KERAS_DATA
    data.mkdir()
    (data / _KERAS_MODULE_FILE).write_text("keras")
    shutil.copyfile(keras_file, data / _KERAS_FILE)
    mlflow_model.add_flavor(
        "keras",
        data=_KERAS_DATA,
        keras_version=keras_version,
        keras_backend=keras_backend,
        save_exported_model=False,
    )
    pyfunc.add_to_model(
        mlflow_model,
        loader_module="mlflow.keras",
        conda_env=mlflow_environment._CONDA_ENV_FILE_NAME,
        python_env=mlflow_environment._PYTHON_ENV_FILE_NAME,
    )
    if size := get_total_file_size(str(path)):
        mlflow_model.model_size_bytes = size
    mlflow_model.save(str(path / MLMODEL_FILE_NAME))
    conda_env, requirements, constraints = mlflow_environment._process_pip_requirements(None, pip_requirements)
    with open(path / mlflow_environment._CONDA_ENV_FILE_NAME, "w") as f:
        yaml.safe_dump(conda_env, stream=f, default_flow_style=False)
    if constraints:
        (path / mlflow_environment._CONSTRAINTS_FILE_NAME).write_text("\n".join(constraints))
    (path / mlflow_environment._REQUIREMENTS_FILE_NAME).write_text("\n".join(requirements))
    mlflow_environment._PythonEnv.current().to_yaml(os.path.join(path, mlflow_environment._PYTHON_ENV_FILE_NAME))


def check_private_names() -> None:
    """Raises `IncompatibleVersionError` unless the installed MLflow has every private name used here."""
    require(
        "mlflow",
        TESTED,
        {
            "mlflow.store.db.utils._get_latest_schema_revision()": lambda: takes(
                mlflow_db_utils._get_latest_schema_revision
            ),
            "mlflow.store.db.utils._initialize_tables(engine)": lambda: takes(
                mlflow_db_utils._initialize_tables, "engine"
            ),
            "mlflow.models.utils._save_example(mlflow_model, input_example, path)": lambda: takes(
                mlflow_model_utils._save_example, "mlflow_model", "input_example", "path"
            ),
            "mlflow.utils.environment._process_pip_requirements(default_pip_requirements, "
            "pip_requirements)": lambda: takes(
                mlflow_environment._process_pip_requirements, "default_pip_requirements", "pip_requirements"
            ),
            "mlflow.utils.environment._PythonEnv.current().to_yaml": lambda: callable(
                mlflow_environment._PythonEnv.current
            )
            and callable(mlflow_environment._PythonEnv.to_yaml),
            "mlflow.utils.environment's file names": lambda: all(
                isinstance(getattr(mlflow_environment, name, None), str)
                for name in (
                    "_CONDA_ENV_FILE_NAME",
                    "_PYTHON_ENV_FILE_NAME",
                    "_REQUIREMENTS_FILE_NAME",
                    "_CONSTRAINTS_FILE_NAME",
                )
            ),
        },
    )


check_private_names()
