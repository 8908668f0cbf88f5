"""File-backed data in experiments: checked before Ray starts, recorded for resume (no Ray here)."""

from __future__ import annotations

import pytest

from automl import Experiment
from automl.planning._experiment import DataSpec
from automl.planning._resume import run_data
from search_spaces import Categorical, ConfigError, mlp
from tests.trainers.test_stream import write_images
from tests.trainers.test_tables import write_tables
from tests.trainers.test_texts import write_texts
from tests.trainers.test_tfrecords import FEATURES, write_shards
from trainers import StreamingData

LOADERS = """
import numpy as np
import tensorflow as tf

def make_data(config):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(config["batch_size"])
    return ds, ds

def broken(config):
    return "a string"
"""


def _experiment(data, tmp_path):
    settings = {"space": {"preset": "mlp"}, "data": data, "num_trials": 2, "epochs": 1}
    return Experiment.from_dict({**settings, "storage_path": str(tmp_path / "runs")}, base_dir=tmp_path)


def test_an_image_folder_in_a_file_is_checked_and_recorded_by_its_spec(tmp_path):
    write_images(tmp_path / "pics")
    experiment = _experiment({"image_directory": "pics", "image_size": [8, 8]}, tmp_path)
    run = experiment._planned
    assert isinstance(run.data, StreamingData) and run.data.input_shape == (8, 8, 3)
    assert run.data_spec["image_directory"] == str(tmp_path / "pics")
    again = run_data({"data": run.data_spec, "space": mlp().to_dict()}, None, again="")
    assert again.source == run.data.source and again.classes == ("cat", "dog", "owl")


def test_a_loader_function_named_in_a_file_is_checked_once_and_recorded(tmp_path):
    (tmp_path / "loaders.py").write_text(LOADERS)
    run = _experiment({"function": "loaders.py:make_data"}, tmp_path)._planned
    assert (run.data.task, run.data.input_shape) == ("binary", (4,))
    assert run.data_spec == {"function": f"{tmp_path / 'loaders.py'}:make_data"}
    with pytest.raises(ConfigError, match=r"^data\.function: .*loaders\.py has no function 'make'"):
        _experiment({"function": "loaders.py:make"}, tmp_path)
    with pytest.raises(
        ConfigError, match=r"^data\.function: broken\(config\) must return .* but returned str"
    ):
        _experiment({"function": "loaders.py:broken"}, tmp_path)
    with pytest.raises(ConfigError, match=r"^data\.function: no file .*missing\.py"):
        _experiment({"function": "missing.py:make_data"}, tmp_path)


def test_tfrecord_shards_in_a_file_are_found_from_the_files_directory(tmp_path):
    write_shards(tmp_path / "shards", "train", shards=2)
    write_shards(tmp_path / "shards", "val", shards=1, seed=1)
    data = {"tfrecord": "shards/train-*.tfrecord", "features": FEATURES, "label": "digit"}
    run = _experiment({**data, "validation": "shards/val-*.tfrecord", "num_classes": 3}, tmp_path)._planned
    assert (run.data.task, run.data.num_classes, run.data.input_shape) == ("multiclass", 3, (6,))
    assert run.data_spec["tfrecord"] == str(tmp_path / "shards" / "train-*.tfrecord")
    again = run_data({"data": run.data_spec, "space": mlp().to_dict()}, None, again="")
    assert again.source == run.data.source
    with pytest.raises(ConfigError, match=r"^data\.validation: `tfrecord` needs `validation` too"):
        _experiment(data, tmp_path)


def test_a_python_loader_runs_through_tune_arguments_with_its_own_keys(tmp_path):
    namespace: dict = {}
    exec(LOADERS, namespace)
    space = mlp(data_noise=Categorical([0.0, 0.1]))
    run = Experiment(space=space, data=namespace["make_data"], num_trials=1, epochs=1)._planned
    assert run.data.task == "binary" and run.data_spec is None
    with pytest.raises(ConfigError, match=r"pass the same data again: again"):
        run_data({"data": None, "space": space.to_dict()}, None, again="again")
    with pytest.raises(ConfigError, match=r"data_noise"):  # the trainer's own data takes no such key
        Experiment(space=space, data="digits", num_trials=1, epochs=1)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"image_directory": "nowhere"}, r"^data\.image_directory: no directory .*nowhere"),
        (
            {"sklearn": "digits", "image_size": [8, 8]},
            r"^data\.image_size: `image_size` goes with `image_directory`",
        ),
        (
            {"image_directory": "pics", "validation_directory": "pics", "validation_split": 0.3},
            r"^data\.validation_split: give validation_split or validation_directory, not both",
        ),
        ({"image_directory": "pics", "shape": [64]}, r"^data\.shape: `shape` reshapes arrays"),
        (
            {"image_directory": "pics", "csv": "x.csv"},
            r"give exactly one data source of .*'image_directory', 'text_directory', 'tfrecord', 'function'",
        ),
        ({"function": "loaders.py:make_data", "num_classes": 1}, r"^data\.num_classes: expected an int >= 2"),
        ({"sklearn": "digits", "label": "y"}, r"^data\.label: `label` goes with `tfrecord`"),
        (
            {"sklearn": "digits", "num_classes": 3},
            r"^data\.num_classes: `num_classes` goes with `function`, `tfrecord` or a streamed table",
        ),
    ],
)
def test_bad_file_sources_are_refused_before_ray_starts(data, match, tmp_path):
    write_images(tmp_path / "pics")
    (tmp_path / "loaders.py").write_text(LOADERS)
    with pytest.raises(ConfigError, match=match):
        _experiment(data, tmp_path)


def test_balanced_class_weights_need_counts_a_loader_cannot_give(tmp_path):
    (tmp_path / "loaders.py").write_text(LOADERS)
    space = mlp().to_dict()
    space["class_weight"] = {"type": "categorical", "choices": [None, "balanced"]}
    settings = {"space": space, "data": {"function": "loaders.py:make_data"}, "num_trials": 1}
    with pytest.raises(ConfigError, match=r"^space\.class_weight: class_weight 'balanced' needs the count"):
        Experiment.from_dict(settings, base_dir=tmp_path)


def test_the_spec_names_the_new_sources():
    assert DataSpec(image_directory="a", color_mode="rgb").name == "a"


def test_validate_exits_2_naming_the_corrupt_image_and_ok_on_a_good_folder(tmp_path, capsys):
    from automl.cli import main

    pics = write_images(tmp_path / "pics")
    (tmp_path / "exp.yaml").write_text("data: {image_directory: pics}\nspace: {preset: cnn}\n")
    assert main(["validate", str(tmp_path / "exp.yaml")]) == 0
    assert "on pics" in capsys.readouterr().out
    (pics / "dog" / "0.png").write_bytes(b"GIF89a broken")
    assert main(["validate", str(tmp_path / "exp.yaml")]) == 2
    err = capsys.readouterr().err
    assert "data.image_directory: cannot decode the image " in err and "dog/0.png" in err
    assert len(err.strip().splitlines()) == 1


def test_a_streamed_csv_in_a_file_is_checked_on_its_first_rows(tmp_path):
    write_tables(tmp_path / "tables")
    data = {"csv": "tables/part-*.csv", "target": "label", "stream": True}
    run = _experiment(data, tmp_path)._planned
    assert isinstance(run.data, StreamingData) and run.data.classes == ("big", "small")
    assert run.data_spec["csv"] == str(tmp_path / "tables" / "part-*.csv") and run.data_spec["stream"] is True
    again = run_data({"data": run.data_spec, "space": mlp().to_dict()}, None, again="")
    assert again.source == run.data.source
    with pytest.raises(ConfigError, match=r"^data\.target: no column 'y' in "):
        _experiment({**data, "target": "y"}, tmp_path)
    with pytest.raises(ConfigError, match=r"^data\.stream: `stream` reads a `csv` \(or `parquet`\) table"):
        _experiment({"sklearn": "digits", "stream": True}, tmp_path)


TEXT_SPACE = {
    "embed_layers": {"type": "stack", "min_layers": 1, "layers": [{"type": "embedding", "output_dim": 8}]},
    "layers": {
        "type": "stack",
        "min_layers": 1,
        "layers": [{"type": "dense", "units": {"type": "int", "low": 4, "high": 8}}],
    },
}


def test_a_text_folder_needs_a_body_that_starts_with_an_embedding(tmp_path):
    write_texts(tmp_path / "reviews")
    data = {"text_directory": "reviews", "max_tokens": 50, "sequence_length": 12}
    settings = {"space": TEXT_SPACE, "data": data, "num_trials": 2, "epochs": 1}
    run = Experiment.from_dict(settings, base_dir=tmp_path)._planned
    assert run.data.tokens == (50, 12) and run.data_spec["text_directory"] == str(tmp_path / "reviews")
    with pytest.raises(ConfigError, match=r"texts reach the model as token ids .* but it starts with dense"):
        _experiment(data, tmp_path)  # the mlp preset starts with a dense layer
    with pytest.raises(ConfigError, match=r"^data\.max_tokens: `max_tokens` goes with `text_directory`"):
        _experiment({"sklearn": "digits", "max_tokens": 10}, tmp_path)


def test_a_text_folders_vocabulary_size_and_sequence_length_can_be_searched(tmp_path):
    write_texts(tmp_path / "reviews")
    data = {"text_directory": "reviews", "max_tokens": 50, "sequence_length": 12}
    space = {**TEXT_SPACE, "data_max_tokens": {"type": "categorical", "choices": [20, 50]}}
    settings = {"space": space, "data": data, "num_trials": 2, "epochs": 1}
    run = Experiment.from_dict(settings, base_dir=tmp_path)._planned
    assert "data_max_tokens" in run.space.flat_keys()
    bad = {**space, "data_sequence_length": {"type": "categorical", "choices": [8, 0]}}
    with pytest.raises(ConfigError, match=r"^data_sequence_length: expected an int >= 1, but got 0"):
        Experiment.from_dict({**settings, "space": bad}, base_dir=tmp_path)
