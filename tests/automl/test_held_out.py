"""A file-backed test set for `TuningResult.evaluate`: declared as the run's data, encoded as its rows were."""

from __future__ import annotations

import pandas as pd
import pytest

from automl._held_out import file_test_set
from search_spaces import ConfigError
from tests.trainers.test_tables import write_tables
from trainers import table


def test_a_path_needs_a_run_on_files(tmp_path):
    for spec in (None, {"sklearn": "digits"}, {"csv": "a.csv", "target": "y"}):  # the last read into memory
        with pytest.raises(ConfigError, match=r"^x: a path reads a test set as the run's data were declared"):
            file_test_set(str(tmp_path), spec=spec, columns=None, classes=None)


def test_a_tables_test_rows_are_encoded_with_the_runs_columns_and_classes(tmp_path):
    run = table(write_tables(tmp_path / "train"), target="label")
    (tmp_path / "test").mkdir()
    # The test file's first rows hold one colour and one class: alone, they would make other vocabularies.
    pd.DataFrame({"size": [3.0, 2.0], "colour": ["green", "green"], "weight": [0.1, 0.2], "label": ["big", "big"]}).to_csv(
        tmp_path / "test" / "part-0.csv", index=False
    )
    alone = table(str(tmp_path / "test" / "part-*.csv"), target="label")
    assert alone.columns != run.columns and alone.classes == ("big",)
    test = file_test_set(
        str(tmp_path / "test" / "part-*.csv"), spec=run.spec(), columns=run.columns, classes=run.classes
    )
    assert test.source.columns == run.columns and test.source.classes == ("big", "small")
    assert test.source.pattern == str(tmp_path / "test" / "part-*.csv")
