"""Tables larger than memory: checked on their first rows in the driver, read in chunks by `train`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from search_spaces import ConfigError
from trainers import FitSettings, check_config, table, train
from trainers._stream import open_stream

SETTINGS = FitSettings(epochs=3, monitor="val_accuracy", mode="max", seed=0)


def write_tables(root, *, files=3, rows=150, seed=0, kind="csv"):
    """Seeded tables: a numeric column and a colour decide the text target."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        size = rng.normal(size=rows)
        colour = rng.choice(["red", "green", "blue"], size=rows)
        label = np.where(size + (colour == "red") * 2 > 0.5, "big", "small")
        frame = pd.DataFrame(
            {"size": size, "colour": colour, "weight": rng.normal(size=rows), "label": label}
        )
        if kind == "csv":
            frame.to_csv(root / f"part-{f}.csv", index=False)
        else:
            frame.to_parquet(root / f"part-{f}.parquet", index=False)
    return str(root / f"part-*.{kind}")


def test_the_first_rows_fix_the_columns_vocabularies_and_classes(tmp_path):
    data = table(write_tables(tmp_path), target="label")
    assert (data.task, data.num_classes, data.input_shape) == ("binary", 2, (3,))
    assert [c.name for c in data.columns] == ["size", "weight", "colour"]
    assert data.columns[-1].vocabulary == ("blue", "green", "red") and data.classes == ("big", "small")
    assert data.spec() == {
        "csv": str(tmp_path / "part-*.csv"),
        "target": "label",
        "stream": True,
        "validation_split": 0.2,
        "seed": 0,
    }
    mean, variance = data.moments
    assert mean.shape == (3,) and np.all(variance > 0)


def test_every_row_is_read_once_and_the_same_rows_are_held_out_in_every_trial(tmp_path):
    data = table(write_tables(tmp_path), target="label")
    config = check_config({"batch_size": 64})
    first, second = open_stream(data, config, seed=0), open_stream(data, config, seed=1)
    train_rows = sum(len(y) for _, y in first.train.as_numpy_iterator())
    val_x = np.concatenate([x for x, _ in first.val.as_numpy_iterator()])
    assert train_rows + len(val_x) == 450 and 60 < len(val_x) < 120
    np.testing.assert_array_equal(val_x, np.concatenate([x for x, _ in second.val.as_numpy_iterator()]))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_train_reads_the_table_in_chunks_with_its_categories_one_hot(kind, tmp_path):
    data = table(write_tables(tmp_path, kind=kind), target="label", kind=kind)
    config = {"layers": [{"type": "dense", "units": 8}], "learning_rate": 0.01, "batch_size": 8}
    outcome = train(config, data, settings=SETTINGS, checkpoint_dir=tmp_path / "trial")
    assert outcome.epochs_run == 3 and max(outcome.history["val_accuracy"]) > 0.8


def test_bad_tables_are_refused_on_their_first_rows(tmp_path):
    glob = write_tables(tmp_path, files=1)
    with pytest.raises(
        ConfigError, match=r"^data\.target: no column 'lable' in .*part-0\.csv \(did you mean 'label'\?\)"
    ):
        table(glob, target="lable")
    with pytest.raises(ConfigError, match=r"^data\.csv: no file matches .*nothing\*\.csv"):
        table(str(tmp_path / "nothing*.csv"), target="label")
    with pytest.raises(ConfigError, match=r"^data\.categorical: no column 'shade'"):
        table(glob, target="label", categorical=["shade"])
    (tmp_path / "gaps.csv").write_text("size,label\n1.0,a\n,b\n2.0,a\n")
    with pytest.raises(ConfigError, match=r"numeric column 'size' has 1 missing values"):
        table(str(tmp_path / "gaps.csv"), target="label")
