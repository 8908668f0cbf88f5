"""Every example experiment file validates; the CSV one also runs with a tiny budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from automl import ConfigError, Experiment

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


def _written_data(path, tmp_path):
    """Overrides pointing a file-backed example at the files its script writes (here, into ``tmp_path``)."""
    import importlib.util

    if path.stem not in ("images_folder", "tfrecords", "text_folder"):
        return []
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path.with_suffix(".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if path.stem == "images_folder":
        return [f"data.image_directory={module.write_digit_images(tmp_path / 'png', per_class=4)}"]
    if path.stem == "text_folder":
        return [f"data.text_directory={module.write_reviews(tmp_path / 'reviews', per_class=4)}"]
    train, val = module.write_digit_shards(tmp_path / "shards")
    return [f"data.tfrecord={train}", f"data.validation={val}"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(path, tmp_path):
    experiment = Experiment.from_yaml(path, overrides=_written_data(path, tmp_path))
    assert experiment.num_trials >= 1


def test_csv_example_reads_the_committed_file():
    experiment = Experiment.from_yaml(Path(__file__).resolve().parents[3] / "examples" / "wine_csv.yaml")
    from automl.planning._experiment import _data

    data = _data(experiment.data)
    assert data.task == "multiclass" and data.num_classes == 3 and data.input_shape == (13,)


def test_committed_diabetes_csv_is_what_the_example_generates():
    import importlib.util

    import pandas as pd

    root = Path(__file__).resolve().parents[3] / "examples"
    spec = importlib.util.spec_from_file_location("diabetes_csv_example", root / "diabetes_csv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = pd.read_csv(root / "data" / "diabetes_mixed.csv")
    pd.testing.assert_frame_equal(committed, module.make_frame(), check_dtype=False)
    assert set(committed["bmi_class"]) == {"underweight", "normal", "overweight", "obese"}
    assert committed["progression"].value_counts().min() >= 200  # the median split: balanced


def test_mixed_csv_example_has_categorical_columns():
    experiment = Experiment.from_yaml(Path(__file__).resolve().parents[3] / "examples" / "diabetes_csv.yaml")
    from automl.planning._experiment import _data

    data = _data(experiment.data)
    assert [c.name for c in data.columns if c.categorical] == ["sex", "bmi_class"]
    assert data.task == "binary" and data.classes == ("high", "low") and data.input_shape == (10,)


def test_committed_sequences_are_what_the_example_generates():
    import importlib.util

    import numpy as np

    root = Path(__file__).resolve().parents[3] / "examples"
    spec = importlib.util.spec_from_file_location("sequence_rnn_example", root / "sequence_rnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x, y = module.make_sequences()
    with np.load(root / "data" / "sequences.npz", allow_pickle=False) as committed:
        np.testing.assert_array_equal(committed["x"], x)
        np.testing.assert_array_equal(committed["y"], y)
    assert np.bincount(y).min() > 300  # three balanced classes


def test_shape_reads_rows_as_images():
    from automl import DataSpec

    data = DataSpec(sklearn="digits", shape=[8, 8, 1]).load()
    assert data.input_shape == (8, 8, 1) and data.x_val.shape[1:] == (8, 8, 1)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            [8, 8, 2],
            r"^data.shape: \[8, 8, 2\] holds 128 values per sample, but the samples have shape \(64,\) \(64 values\)",
        ),
        ([8, 0], r"^data.shape.1: expected an int >= 1, but got 0"),
        ("8x8", r"^data.shape: expected a list of ints such as \[8, 8, 1\], but got '8x8'"),
    ],
)
def test_a_shape_that_does_not_fit_names_the_field(tmp_path, shape, message):
    path = tmp_path / "exp.yaml"
    import yaml

    path.write_text(
        yaml.safe_dump({"data": {"sklearn": "digits", "shape": shape}, "space": {"preset": "mlp"}})
    )
    with pytest.raises(ConfigError, match=message):
        Experiment.from_yaml(path)
