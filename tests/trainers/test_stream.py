"""File-backed data: checked in the driver on the first files, read as tf.data by `train` (no Ray here)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from search_spaces import ConfigError
from trainers import FitSettings, StreamingData, check_config, from_loader, image_directory, train
from trainers._stream import open_stream

SETTINGS = FitSettings(epochs=2, monitor="val_accuracy", mode="max")
CONFIG = {"layers": [{"type": "dense", "units": 8}], "batch_size": 16}


def write_images(root, *, classes=("cat", "dog", "owl"), per_class=12, size=8, channels=3, seed=0):
    """Class folders of small seeded PNGs whose mean brightness tells the class apart."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, size=(size, size, channels)) + 80 * k
            tf.io.write_file(str(root / name / f"{i}.png"), tf.io.encode_png(pixels.astype(np.uint8)))
    return root


def test_a_folder_is_checked_on_its_first_files_and_declares_the_task(tmp_path):
    data = image_directory(str(write_images(tmp_path / "pics")), image_size=[6, 6])
    assert (data.task, data.num_classes, data.input_shape) == ("multiclass", 3, (6, 6, 3))
    assert data.classes == ("cat", "dog", "owl") and data.class_counts == (12, 12, 12)
    assert (data.train_rows, data.val_rows) == (29, 7)
    assert data.example.shape == (3, 6, 6, 3)  # the first image of each class, resized
    assert data.spec() == {
        "image_directory": str(tmp_path / "pics"),
        "image_size": [6, 6],
        "color_mode": "rgb",
        "validation_split": 0.2,
        "seed": 0,
    }
    two = image_directory(str(write_images(tmp_path / "two", classes=("a", "b"), channels=1)))
    assert (two.task, two.input_shape, two.spec()["color_mode"]) == ("binary", (8, 8, 1), "grayscale")


def test_a_relative_folder_is_recorded_absolute_for_trials_in_other_directories(tmp_path, monkeypatch):
    write_images(tmp_path / "pics")
    monkeypatch.chdir(tmp_path)
    data = image_directory("pics", validation_directory="./pics")
    assert data.spec()["image_directory"] == data.spec()["validation_directory"] == str(tmp_path / "pics")
    monkeypatch.chdir("/")  # as a Ray worker: its own working directory
    opened = open_stream(data, check_config({**CONFIG, "batch_size": 8}), seed=0)
    assert sum(int(x.shape[0]) for x, _ in opened.train) == 36


def test_train_reads_the_folder_in_its_own_pipelines(tmp_path):
    data = image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    settings = FitSettings(epochs=5, monitor="val_accuracy", mode="max", patience=5, seed=0)
    config = {**CONFIG, "batch_size": 8, "learning_rate": 0.01}
    outcome = train(config, data, settings=settings, checkpoint_dir=tmp_path / "trial")
    assert outcome.epochs_run == 5
    assert outcome.model.input_shape == (None, 8, 8, 3)
    assert max(outcome.history["val_accuracy"]) > 0.5  # brightness separates the classes; chance: 1/3


def test_one_hot_targets_and_balanced_weights_work_from_files(tmp_path):
    data = image_directory(str(write_images(tmp_path / "pics", per_class=8)), validation_split=0.25)
    config = {**CONFIG, "label_smoothing": 0.1, "class_weight": "balanced"}
    outcome = train(config, data, settings=SETTINGS, checkpoint_dir=tmp_path / "trial")
    assert outcome.epochs_run == 2


def test_the_pipelines_are_batched_with_the_trials_batch_size_and_hold_every_file(tmp_path):
    data = image_directory(str(write_images(tmp_path / "pics")), validation_split=0.25)
    opened = open_stream(data, check_config({**CONFIG, "batch_size": 5}), seed=1)
    sizes = [len(y) for _, y in opened.train.as_numpy_iterator()]
    assert sizes == [5] * 5 + [2] and opened.train_batches == 6
    val = [
        (x.tobytes(), int(label))
        for xs, ys in opened.val.as_numpy_iterator()
        for x, label in zip(xs, ys, strict=True)
    ]
    train = {x.tobytes() for xs, _ in opened.train.as_numpy_iterator() for x in xs}
    assert len(val) == 9 and not train & {x for x, _ in val}  # every file once, none on both sides
    assert len({label for _, label in val}) > 1  # a seeded draw, not the last class's files
    assert opened.mean.shape == (3,) and np.all(opened.variance > 0)


def test_a_validation_directory_replaces_the_split(tmp_path):
    train_dir = write_images(tmp_path / "train")
    val_dir = write_images(tmp_path / "val", per_class=2, seed=1)
    data = image_directory(str(train_dir), validation_directory=str(val_dir))
    assert (data.train_rows, data.val_rows) == (36, 6)
    assert data.spec()["validation_directory"] == str(val_dir) and "validation_split" not in data.spec()
    write_images(tmp_path / "other", classes=("cat", "dog"))
    with pytest.raises(ConfigError, match=r"^data\.validation_directory: the class folders of .*other"):
        image_directory(str(train_dir), validation_directory=str(tmp_path / "other"))


def test_bad_folders_are_named_before_any_trial(tmp_path):
    with pytest.raises(ConfigError, match=r"^data\.image_directory: no directory .*missing"):
        image_directory(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"^data\.image_directory: .*empty holds no class folders"):
        image_directory(str(tmp_path / "empty"))
    pics = write_images(tmp_path / "pics")
    (pics / "eel").mkdir()
    (pics / "eel" / "notes.txt").write_text("not an image")
    with pytest.raises(
        ConfigError, match=r"^data\.image_directory: the class folder .*eel holds no image files"
    ):
        image_directory(str(pics))
    single = write_images(tmp_path / "single", classes=("cat",))
    with pytest.raises(
        ConfigError, match=r"holds one class folder \(\['cat'\]\); a classifier needs at least 2"
    ):
        image_directory(str(single))


def test_a_corrupt_image_is_named_with_its_path(tmp_path):
    pics = write_images(tmp_path / "pics")
    (pics / "cat" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ConfigError, match=r"^data\.image_directory: cannot decode the image .*cat/0\.png"):
        image_directory(str(pics))


def test_mixed_channel_counts_need_a_color_mode(tmp_path):
    pics = write_images(tmp_path / "pics", classes=("a", "b"))
    write_images(tmp_path / "pics", classes=("c",), channels=1)
    with pytest.raises(
        ConfigError,
        match=r"^data\.color_mode: the images have different channel counts \(1 in .*c/0\.png, 3 in",
    ):
        image_directory(str(pics))
    assert image_directory(str(pics), color_mode="grayscale").input_shape == (8, 8, 1)
    with pytest.raises(ConfigError, match=r"^data\.color_mode: unknown color_mode 'cmyk'"):
        image_directory(str(pics), color_mode="cmyk")
    with pytest.raises(ConfigError, match=r"^data\.image_size: expected \[height, width\], but got \[8\]"):
        image_directory(str(pics), image_size=[8], color_mode="rgb")


def _rows(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)


def make_data(config):
    """A loader as users write one: batches with the trial's batch_size."""
    train_ds = tf.data.Dataset.from_tensor_slices(_rows()).batch(config["batch_size"])
    val_ds = tf.data.Dataset.from_tensor_slices(_rows(40, seed=1)).batch(config["batch_size"])
    return train_ds, val_ds


def test_a_loader_is_called_with_the_config_and_its_batches_declare_the_task(tmp_path):
    data = from_loader(make_data, check_config(CONFIG, custom_model=True))
    assert isinstance(data, StreamingData)
    assert (data.task, data.num_classes, data.input_shape) == ("multiclass", 3, (5,))
    assert data.spec() is None  # a Python function: resume takes it again
    assert from_loader(make_data, CONFIG, ref="/x/loaders.py:make_data").spec() == {
        "function": "/x/loaders.py:make_data"
    }
    seen = []

    def recording(config):
        seen.append(config["batch_size"])
        return make_data(config)

    outcome = train(
        {**CONFIG, "batch_size": 24},
        from_loader(recording, CONFIG),
        settings=SETTINGS,
        checkpoint_dir=tmp_path,
    )
    assert seen == [16, 24] and outcome.epochs_run == 2


def test_a_loader_that_fails_says_what_it_did(tmp_path):
    def raises(config):
        raise OSError("no such bucket")

    with pytest.raises(ConfigError, match=r"^data: .*raises\(config\) raised OSError: no such bucket"):
        from_loader(raises, CONFIG)
    with pytest.raises(
        ConfigError,
        match=r"must return \(train_ds, val_ds\), two tf\.data\.Datasets, but returned a tuple of 3 \(_BatchDataset, _BatchDataset, int\)",
    ):
        from_loader(lambda config: (*make_data(config), 1), CONFIG)
    with pytest.raises(ConfigError, match=r"but returned ndarray"):
        from_loader(lambda config: _rows()[0], CONFIG)
    single = tf.data.Dataset.from_tensor_slices(_rows())
    with pytest.raises(ConfigError, match=r"returned a train_ds of single samples .*batch it with"):
        from_loader(lambda config: (single, single.batch(4)), CONFIG)
    with pytest.raises(
        ConfigError, match=r"^data: expected a function config -> \(train_ds, val_ds\), but got 3"
    ):
        from_loader(3, CONFIG)


def test_a_loaders_own_keys_reach_it_and_the_trainer_leaves_them(tmp_path):
    seen = []

    def scaled(config):
        seen.append(config["data_scale"])
        train_ds, val_ds = make_data(config)
        return train_ds.map(lambda x, y: (x * config["data_scale"], y)), val_ds

    data = from_loader(scaled, {**CONFIG, "data_scale": 1.0})
    outcome = train({**CONFIG, "data_scale": 3.0}, data, settings=SETTINGS, checkpoint_dir=tmp_path)
    assert seen == [1.0, 3.0] and outcome.epochs_run == 2
    folder = image_directory(str(write_images(tmp_path / "pics")))
    with pytest.raises(ConfigError, match=r"data_scale"):  # only a loader has keys of its own
        train({**CONFIG, "data_scale": 3.0}, folder, settings=SETTINGS, checkpoint_dir=tmp_path)


def test_rows_too_large_for_memory_are_cached_in_a_file_that_later_trials_read(tmp_path, monkeypatch):
    import trainers._stream as stream

    monkeypatch.setattr(stream, "CACHE_BYTES", 1024)  # these 36 8×8 RGB images: 27 KiB decoded
    data = image_directory(str(write_images(tmp_path / "pics")), image_size=[8, 8])
    cache = tmp_path / "cache"
    cache.mkdir()
    train(CONFIG, data, settings=SETTINGS, checkpoint_dir=tmp_path / "t1", cache_dir=cache)
    written = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert sorted(name.split("-")[0] + name[name.index("."):] for name in written) == [
        "train.data-00000-of-00001",
        "train.index",
        "val.data-00000-of-00001",
        "val.index",
    ]
    outcome = train(CONFIG, data, settings=SETTINGS, checkpoint_dir=tmp_path / "t2", cache_dir=cache)
    assert outcome.epochs_run == 2
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir()} == written  # read, not written again
    other = image_directory(str(tmp_path / "pics"), image_size=[6, 6])  # other rows: other files
    train(CONFIG, other, settings=SETTINGS, checkpoint_dir=tmp_path / "t3", cache_dir=cache)
    assert len(list(cache.iterdir())) == 8
