"""`TuningResult.top` and the checks of `retrain`, on results built from a table and a space (no Ray)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from automl._result import TrialState, TrialSummary, TuningResult
from automl.execution._runner import MANIFEST_FORMAT
from search_spaces import Boolean, Categorical, ConfigError, Dense, Float, Int, LayerStack, Space

SPACE = Space(
    layers=LayerStack(Dense(units=Int(16, 256, log=True)), min_layers=1, max_layers=2),
    optimizer=Categorical(["adam", "sgd"]),
    momentum=Float(0.0, 0.9, when={"optimizer": "sgd"}),
    nesterov=Boolean(when={"optimizer": "sgd"}),
    batch_size=Categorical([32, 64]),
)


def _config(units: list[int], optimizer: str = "adam") -> dict:
    config = SPACE.default_config(optimizer=optimizer)
    config["layers"] = [dict(config["layers"][0], units=u) for u in units]
    if optimizer == "sgd":
        config["nesterov"] = True
    return config


# number: (state, best val_accuracy, best epoch, config)
TRIALS = {
    0: ("COMPLETE", 0.90, 4, _config([64])),
    1: ("PRUNED", 0.95, 2, _config([256, 32], "sgd")),
    2: ("FAILED", 0.99, 1, _config([16])),  # scored well, then failed: never handed over
    3: ("COMPLETE", math.nan, 0, _config([128])),  # no finite score
    4: ("COMPLETE", 0.93, 3, _config([200, 100], "sgd")),
}


def _trials() -> pd.DataFrame:
    rows = []
    for number, (state, score, best_epoch, config) in TRIALS.items():
        flat = SPACE.flatten(config)
        rows.append(
            {
                "trial_id": f"abc_{number:05d}",
                "number": number,
                "state": state,
                "epochs": best_epoch + 3,
                "val_accuracy": score,
                "best_val_accuracy": score,
                "best_epoch": best_epoch,
                "error": "boom" if state == "FAILED" else None,
                "mlflow_run_id": f"run{number}",
                **{f"params.{k}": v for k, v in flat.items()},
            }
        )
    return pd.DataFrame(rows)


def _result(tmp_path: Path, **changes) -> TuningResult:
    fields = {
        "best_config": TRIALS[1][3],
        "best_value": 0.95,
        "metric": "val_accuracy",
        "mode": "max",
        "trials": _trials(),
        "best_model_path": tmp_path / "best_model.keras",
        "run_dir": tmp_path,
        "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "experiment_id": "1",
        "parent_run_id": "parent",
        "space": SPACE,
        **changes,
    }
    return TuningResult(**fields)


def _typed(config: dict) -> str:
    """The config as JSON, where 256 and 256.0, true and 1, null and NaN differ."""
    return json.dumps(config)


def test_top_ranks_scored_trials_that_did_not_fail_best_first_with_their_configs_typed(tmp_path):
    top = _result(tmp_path).top(10)
    assert [t.number for t in top] == [1, 4, 0]
    assert [_typed(t.config) for t in top] == [_typed(TRIALS[n][3]) for n in (1, 4, 0)]
    first = top[0]
    assert first == TrialSummary(
        number=1,
        trial_id="abc_00001",
        config=TRIALS[1][3],
        score=0.95,
        best_epoch=2,
        epochs=5,
        state=TrialState.PRUNED,
        mlflow_run_id="run1",
        model_path=None,
    )
    assert top[2].config["momentum"] is None and top[2].config["nesterov"] is None  # NaN in the table
    assert [t.number for t in _result(tmp_path).top(2)] == [1, 4]
    assert [t.number for t in _result(tmp_path).top()] == [1, 4, 0]


def test_top_follows_the_mode(tmp_path):
    trials = _trials().rename(columns={"best_val_accuracy": "best_val_loss"})
    result = _result(tmp_path, metric="val_loss", mode="min", trials=trials)
    assert [t.number for t in result.top(3)] == [0, 4, 1]


def test_with_several_objectives_the_pareto_front_comes_first_in_its_order(tmp_path):
    trials = _trials()
    front = trials.set_index("number").loc[[0, 4]].reset_index()  # as `pareto_front` orders it
    result = _result(tmp_path, objectives=(("val_accuracy", "max"), ("params", "min")), pareto_front=front)
    assert [t.number for t in result.top(3)] == [0, 4, 1]


@pytest.mark.parametrize("k", [0, -2, 2.5, True, "3", None])
def test_k_must_be_an_int_of_at_least_one(tmp_path, k):
    with pytest.raises(ConfigError, match=rf"^k: expected an int >= 1 .*, but got {re.escape(repr(k))}\.$"):
        _result(tmp_path).top(k)


def test_the_model_path_is_the_best_model_of_the_newest_kept_checkpoint(tmp_path):
    for name in ("checkpoint_000002", "checkpoint_000010"):
        (tmp_path / "trial_abc_00004" / name).mkdir(parents=True)
        (tmp_path / "trial_abc_00004" / name / "best.keras").write_bytes(b"")
    (tmp_path / "trial_abc_00001" / "checkpoint_000003").mkdir(parents=True)  # emptied: nothing kept
    by_number = {t.number: t.model_path for t in _result(tmp_path).top(3)}
    assert by_number == {
        1: None,
        4: tmp_path / "trial_abc_00004" / "checkpoint_000010" / "best.keras",
        0: None,
    }


def test_a_loaded_result_keeps_its_space_and_ranks_the_same(tmp_path):
    result = _result(tmp_path)
    result.save()
    assert "best_epoch" in pd.read_csv(tmp_path / "trials.csv")
    loaded = TuningResult.load(tmp_path)
    assert loaded.space == SPACE
    assert [_typed(t.config) for t in loaded.top(3)] == [_typed(t.config) for t in result.top(3)]
    assert loaded.top(3) == result.top(3)


def test_a_result_built_without_a_space_says_how_to_give_it_one(tmp_path):
    result = dataclasses.replace(_result(tmp_path), space=None)
    with pytest.raises(
        ConfigError, match=r"^space: this result knows no search space; rebuild it with dataclasses\.replace"
    ):
        result.top(1)


def _manifest(tmp_path: Path, **changes) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "space": SPACE.to_dict(),
        "settings": {"epochs": 5, "monitor": "val_accuracy", "mode": "max"},
        "data": {"sklearn": "digits"},
        "build": None,
        "build_is_ref": False,
        **changes,
    }
    (tmp_path / "run.json").write_text(json.dumps(manifest))
    tmp_path.chmod(0o700)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rank": 0}, r"^rank: expected an int >= 1 \(1 the best trial\), but got 0\.$"),
        ({"rank": 4}, r"^rank: the run has 3 trial\(s\) with a score, so a rank in 1\.\.3, but got 4\.$"),
        ({"epochs": 0}, r"^epochs: expected 'best' or an int >= 1, but got 0\.$"),
        ({"epochs": "all"}, r"^epochs: expected 'best' or an int >= 1, but got 'all'\.$"),
    ],
)
def test_retrain_refuses_a_rank_or_epochs_the_run_does_not_have(tmp_path, kwargs, message):
    _manifest(tmp_path)
    with pytest.raises(ConfigError, match=message):
        _result(tmp_path).retrain(**kwargs)


def test_retrain_of_a_run_on_arrays_needs_the_data_again(tmp_path):
    _manifest(tmp_path, data=None)
    with pytest.raises(
        ConfigError, match=r"^data: this run trained on arrays .*: result\.retrain\(data=\.\.\.\)\.$"
    ):
        _result(tmp_path).retrain()


def test_retrain_of_a_run_with_a_python_build_function_needs_it_again(tmp_path):
    _manifest(tmp_path, build="mine.build")
    with pytest.raises(
        ConfigError, match=r"^build: this run built its models with mine\.build; pass it again"
    ):
        _result(tmp_path).retrain()


def test_retrain_with_the_best_epoch_needs_a_result_that_recorded_it(tmp_path):
    _manifest(tmp_path)
    trials = _trials()
    trials.loc[trials["number"] == 1, "best_epoch"] = 0  # the tracker's value while no epoch is finite
    result = _result(tmp_path, trials=trials)
    with pytest.raises(ConfigError, match=r"^epochs: trial 1 has no best epoch on record .*epochs=N\.$"):
        result.retrain()
