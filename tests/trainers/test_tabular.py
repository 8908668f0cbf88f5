"""DataFrames with numeric and categorical columns: encoded in the driver, one-hot in the model, raw rows at export."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from search_spaces import ConfigError
from trainers import (
    Column,
    FitSettings,
    build_model,
    compile_model,
    from_arrays,
    from_frame,
    raw_input_model,
    train,
)


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """The label depends on a text column and a numeric one; neither alone decides it."""
    rng = np.random.default_rng(seed)
    color = rng.choice(["red", "green", "blue"], size=n)
    size = rng.normal(size=n)
    label = np.where((color == "red") ^ (size > 0), "yes", "no")
    return pd.DataFrame({"color": color, "size": size, "flag": rng.random(n) > 0.5, "label": label})


@pytest.fixture(scope="module")
def data():
    return from_frame(_frame(), "label", validation_split=0.25, seed=1)


def test_numeric_columns_come_first_then_categorical_ones_with_sorted_vocabularies(data):
    assert [c.name for c in data.columns] == ["size", "color", "flag"]
    assert data.columns[1] == Column("color", ("blue", "green", "red"))
    assert data.columns[2].vocabulary == ("False", "True")  # bool columns are categorical
    assert data.categorical and data.input_shape == (3,)
    assert data.task == "binary" and data.classes == ("no", "yes")


def test_rows_are_encoded_as_vocabulary_indices_and_the_split_matches_from_arrays(data):
    frame = _frame()
    encoded = data.encode(frame)
    index = {"blue": 1, "green": 2, "red": 3}
    np.testing.assert_array_equal(encoded[:, 1], frame["color"].map(index).to_numpy())
    np.testing.assert_allclose(encoded[:, 0], frame["size"].to_numpy(), rtol=1e-6)
    # The same seeded shuffle as from_arrays, so the split is the same rows.
    plain = from_arrays(
        encoded, (frame["label"] == "yes").to_numpy().astype(int), validation_split=0.25, seed=1
    )
    np.testing.assert_array_equal(plain.x_val, data.x_val)
    np.testing.assert_array_equal(plain.y_train, data.y_train)


def test_vocabularies_come_from_the_training_rows_and_unseen_values_are_unknown():
    frame = pd.DataFrame({"city": ["a", "b"] * 10 + ["z"], "y": [0.5, 1.5] * 10 + [2.5]})
    data = from_frame(frame, "y", validation_frame=pd.DataFrame({"city": ["z", None, "a"], "y": [1.0] * 3}))
    assert data.task == "regression" and data.columns == (Column("city", ("a", "b", "z")),)
    unseen = from_frame(frame.iloc[:20], "y", validation_frame=frame.iloc[20:])
    assert unseen.columns[0].vocabulary == ("a", "b")
    assert unseen.x_val.tolist() == [[0.0]]  # "z" was never seen in training: index 0
    assert data.x_val[:, 0].tolist() == [3.0, 0.0, 1.0]  # a missing value is unknown too


def test_a_numeric_column_can_be_declared_categorical():
    frame = pd.DataFrame({"zip": [10115, 20095, 10115, 80331] * 5, "y": [0, 1] * 10})
    data = from_frame(frame, "y", categorical=["zip"])
    assert data.columns == (Column("zip", ("10115", "20095", "80331")),)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"target": "lable"},
            r"^target: no column 'lable' in the DataFrame \(did you mean 'label'\?\); columns: \['color'",
        ),
        (
            {"target": "label", "categorical": ["colour"]},
            r"^categorical: no column 'colour' .*did you mean 'color'",
        ),
        (
            {"target": "label", "task": "regression"},
            r"^data.target: a regression target must be numeric, but got dtype (object|str)",
        ),
    ],
)
def test_bad_columns_and_targets_name_the_field(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        from_frame(_frame(), **kwargs)


def test_missing_numbers_and_targets_are_refused_with_the_column():
    frame = _frame()
    frame.loc[7, "size"] = np.nan
    with pytest.raises(
        ConfigError, match=r"^data: numeric column 'size' has 1 missing values \(first in row \d+\)"
    ):
        from_frame(frame, "label")
    frame = _frame()
    frame.loc[3, "label"] = None
    with pytest.raises(ConfigError, match=r"^data.target: the target has 1 missing values"):
        from_frame(frame, "label")


def test_a_validation_class_the_training_rows_lack_is_refused():
    frame = _frame(40)
    other = frame.assign(label="maybe")
    with pytest.raises(ConfigError, match=r"^data.target: the validation target holds classes .*\['maybe'\]"):
        from_frame(frame, "label", validation_frame=other)


def test_encode_needs_data_from_a_dataframe():
    arrays = from_arrays(np.zeros((10, 2)), np.arange(10) % 2)
    with pytest.raises(ConfigError, match=r"^data: 'arrays' did not come from a DataFrame"):
        arrays.encode(_frame())


def test_the_model_one_hot_encodes_categories_and_learns_what_needs_both_columns(data, tmp_path):
    config = {"layers": [{"type": "dense", "units": 16}], "learning_rate": 0.02}
    outcome = train(
        config,
        data,
        settings=FitSettings(epochs=40, monitor="val_accuracy", mode="max", patience=40),
        checkpoint_dir=tmp_path,
    )
    # A linear model of the raw indices cannot do this XOR; one-hot blocks can.
    assert outcome.best_value >= 0.9
    model = keras.saving.load_model(tmp_path / "best.keras")  # safe_mode on
    encoding = next(layer for layer in model.layers if isinstance(layer, keras.layers.CategoryEncoding))
    assert encoding.num_tokens == (3 + 1) + (2 + 1)  # a block per column, each with its unknown slot


def test_an_embedding_first_is_refused_for_dataframe_columns(data):
    config = {"layers": [{"type": "embedding", "output_dim": 4}, {"type": "dense", "units": 4}]}
    with pytest.raises(
        ConfigError, match=r"^config.layers.0: an embedding takes token ids, but the data are a DataFrame"
    ):
        build_model(config, data)


def test_the_raw_row_model_takes_text_and_agrees_with_the_trained_one(data, tmp_path):
    config = {"layers": [{"type": "dense", "units": 8}]}
    model = build_model(config, data)
    compile_model(model, config, data)
    raw = raw_input_model(model, data.columns)
    rows = _frame(6, seed=5).drop(columns=["label"])
    rows.loc[0, "color"] = "purple"  # never seen: the unknown slot, not an error
    expected = model.predict(data.encode(rows), verbose=0)
    inputs = {name: rows[[name]].to_numpy() for name in rows}
    inputs["flag"] = inputs["flag"].astype(str)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(raw(inputs)), expected, rtol=1e-5)

    raw.save(tmp_path / "raw.keras")
    loaded = keras.saving.load_model(tmp_path / "raw.keras")  # safe_mode on: Keras layers only
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(inputs)), expected, rtol=1e-5)
    raw.export(str(tmp_path / "serving"), format="tf_saved_model", verbose=False)
    serving = tf.saved_model.load(str(tmp_path / "serving"))
    tensors = {
        k: tf.constant(v.astype("float32") if v.dtype.kind == "f" else v.astype(str))
        for k, v in inputs.items()
    }
    np.testing.assert_allclose(serving.serve(tensors).numpy(), expected, rtol=1e-5)


def test_a_result_loads_its_best_model_on_raw_rows_only_for_dataframe_data(data, tmp_path):
    from automl import TuningResult

    config = {"layers": [{"type": "dense", "units": 4}]}
    model = build_model(config, data)
    model.save(tmp_path / "best_model.keras")
    fields = {
        "best_config": config,
        "best_value": 0.5,
        "metric": "val_accuracy",
        "mode": "max",
        "trials": pd.DataFrame({"trial_id": ["t1"], "state": ["COMPLETE"]}),
        "best_model_path": tmp_path / "best_model.keras",
        "run_dir": tmp_path,
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "experiment_id": "1",
        "parent_run_id": "p",
    }
    TuningResult(**fields, columns=data.columns, classes=data.classes).save()
    loaded = TuningResult.load(tmp_path)  # columns and classes round-trip through result.json
    assert loaded.columns == data.columns and loaded.classes == ("no", "yes")
    assert sorted(i.name for i in loaded.load_best_model(raw_rows=True).inputs) == ["color", "flag", "size"]
    with pytest.raises(ConfigError, match=r"^raw_rows: the run's data were arrays, not a DataFrame"):
        TuningResult(**fields).load_best_model(raw_rows=True)


def test_a_result_evaluates_its_best_model_on_held_out_raw_rows_and_class_names(data, tmp_path):
    from automl import TuningResult

    config = {"layers": [{"type": "dense", "units": 8}], "loss": "categorical_crossentropy"}
    # A categorical loss on a binary text target would not fit; use three classes.
    frame = _frame(300, seed=2).assign(label=lambda f: np.where(f["size"] > 0.5, "big", f["label"]))
    three = from_frame(frame, "label", validation_split=0.25, seed=1)
    model = build_model(config, three)
    compile_model(model, config, three)
    model.fit(three.x_train, np.eye(3)[three.y_train], epochs=3, verbose=0)
    model.save(tmp_path / "best_model.keras")
    result = TuningResult(
        best_config=config,
        best_value=0.5,
        metric="val_accuracy",
        mode="max",
        trials=pd.DataFrame(),
        best_model_path=tmp_path / "best_model.keras",
        run_dir=tmp_path,
        tracking_uri="sqlite:///unused.db",
        experiment_id="1",
        parent_run_id="p",
        columns=three.columns,
        classes=three.classes,
    )
    held_out = _frame(60, seed=9).assign(label=lambda f: np.where(f["size"] > 0.5, "big", f["label"]))
    scores = result.evaluate(held_out.drop(columns=["label"]), held_out["label"])
    ids = np.array([three.classes.index(v) for v in held_out["label"]])
    expected = model.evaluate(three.encode(held_out), np.eye(3)[ids], verbose=0, return_dict=True)
    assert scores == pytest.approx({k: float(v) for k, v in expected.items()})
    with pytest.raises(ConfigError, match=r"^y: y holds classes the run never saw: \['huge'\]"):
        result.evaluate(held_out.drop(columns=["label"]), ["huge"] * 60)
    with pytest.raises(ConfigError, match=r"^y: x has 60 rows but y has 2 values"):
        result.evaluate(held_out.drop(columns=["label"]), ["big", "no"])
    arrays = dataclasses.replace(result, columns=None)
    with pytest.raises(ConfigError, match=r"^x: the run's data were arrays"):
        arrays.evaluate(held_out.drop(columns=["label"]), held_out["label"])
