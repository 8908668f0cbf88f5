"""The MLflow compat module fails loudly, naming the tested range, when a private name it uses is gone."""

from __future__ import annotations

import pytest
from mlflow.store.db import utils

from automl.tracking import _mlflow_compat
from search_spaces._requires import IncompatibleVersionError
from tests._compat import missing_name


def test_the_installed_mlflow_has_every_private_name_used():
    _mlflow_compat.check_private_names()


@pytest.mark.parametrize(
    ("name", "missing"),
    [
        ("_get_latest_schema_revision", "mlflow.store.db.utils._get_latest_schema_revision()"),
        ("_initialize_tables", "mlflow.store.db.utils._initialize_tables(engine)"),
    ],
)
def test_an_mlflow_without_a_private_name_fails_loudly(monkeypatch, name, missing):
    monkeypatch.delattr(utils, name)  # what an upgrade that drops it looks like
    with pytest.raises(
        IncompatibleVersionError, match=missing_name("mlflow", _mlflow_compat.TESTED, missing)
    ):
        _mlflow_compat.check_private_names()
