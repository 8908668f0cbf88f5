"""Every private name of MLflow that automl uses, checked against the installed MLflow when this module loads.

automl/tracking/_store_template.py builds an empty sqlite tracking store once per
schema revision and copies it for each new store. MLflow has no public API
for the schema's revision or for creating the tables in a file without
opening a store in it, so both come from ``mlflow.store.db.utils``'s private
helpers. `check_private_names` runs at import (when a run first creates a
sqlite store, before any trial) and raises `IncompatibleVersionError` naming
the missing name, the installed MLflow and `TESTED`.
"""

from __future__ import annotations

from typing import Any

from mlflow.store.db import utils as mlflow_db_utils

from search_spaces._requires import require, takes

__all__ = ["TESTED", "check_private_names", "create_tables", "latest_schema_revision"]

# The MLflow versions the suite ran on; pyproject.toml's bound on mlflow is the same (tests/test_versions.py).
TESTED = ">=3.0,<3.18"


def latest_schema_revision() -> str:
    """The schema revision MLflow's migrations end at: what a store it builds now records."""
    return str(mlflow_db_utils._get_latest_schema_revision())


def create_tables(engine: Any) -> None:
    """What MLflow runs on an empty database: the tables, then every migration to the current revision."""
    mlflow_db_utils._initialize_tables(engine)


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
        },
    )


check_private_names()
