"""TensorBoard settings, checked before Ray starts; the per-trial names and log directories; `automl tensorboard`'s refusals."""

from __future__ import annotations

import json
import sys

import keras
import pytest

from automl import ConfigError, Experiment
from automl._result import MANIFEST_FILE
from automl._tensorboard import logdir_spec, tensorboard_command
from automl._trial_names import TENSORBOARD_DIR, read_trial_name, trial_names, write_trial_name
from automl.cli import EXIT_BAD_INPUT, main
from automl.execution._tensorboard import trial_tensorboard
from search_spaces import mlp
from trainers._callbacks import EpochSummaries

pytestmark = pytest.mark.usefixtures("ray_stays_down")


def _experiment(**settings):
    return Experiment(space=mlp(), data="digits", num_trials=2, epochs=1, **settings)


def test_the_switches_reach_the_run_and_its_manifest_keys():
    run = _experiment(tensorboard=True, log_tensorboard_to_mlflow=True)._plan()
    assert (run.tensorboard, run.log_tensorboard_to_mlflow) == (True, True)
    assert not _experiment()._plan().tensorboard


def test_an_experiment_file_spells_it_tensorboard_true(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data: {sklearn: digits}\nspace: {preset: mlp}\nnum_trials: 2\ntensorboard: true\n")
    assert Experiment.from_yaml(path).tensorboard is True


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"tensorboard": "yes"}, r"^tensorboard: expected true or false, but got 'yes'\."),
        (
            {"log_tensorboard_to_mlflow": 1},
            r"^log_tensorboard_to_mlflow: expected true or false, but got 1\.",
        ),
        (
            {"log_tensorboard_to_mlflow": True},
            r"^log_tensorboard_to_mlflow: attaching the trials' TensorBoard event files to MLflow needs "
            r"tensorboard=True .* but got tensorboard=False",
        ),
    ],
)
def test_bad_switches_are_refused(settings, match):
    with pytest.raises(ConfigError, match=match):
        _experiment(**settings)


def test_tensorboard_without_its_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if it were not installed: import fails
    with pytest.raises(
        ConfigError, match=r"^tensorboard: .*install it with pip install 'keras-automl\[tensorboard\]'"
    ):
        _experiment(tensorboard=True)
    _experiment()  # off, it is not needed


def test_trial_names_are_read_back_in_name_order(tmp_path):
    for number, trial_id in [(2, "b"), (1, "a"), (10, "c")]:
        write_trial_name(tmp_path / f"trial_{trial_id}", number)
    (tmp_path / "trial_unnamed").mkdir()
    assert read_trial_name(tmp_path / "trial_a") == "trial-001"
    assert read_trial_name(tmp_path / "trial_unnamed") is None
    assert trial_names(tmp_path) == {
        "trial-001": tmp_path / "trial_a",
        "trial-002": tmp_path / "trial_b",
        "trial-010": tmp_path / "trial_c",
    }


def test_a_user_tensorboard_with_an_absolute_log_dir_writes_under_it_named_as_the_trial(tmp_path):
    trial_dir = tmp_path / "run" / "trial_abc"
    write_trial_name(trial_dir, 7)
    shared = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    relative = keras.callbacks.TensorBoard(log_dir="tb")
    other = keras.callbacks.CSVLogger("epochs.csv")

    made = trial_tensorboard([shared, relative, other], trial_dir, tensorboard=False)

    assert made[0].log_dir == str(tmp_path / "logs" / "trial-007")
    assert shared.log_dir == str(tmp_path / "logs")  # the user's own object is left as it was
    assert made[1].log_dir == "tb"  # relative: already in the trial's own directory
    assert made[2] is other
    assert len(made) == 3


def test_without_a_name_from_the_driver_the_trial_is_named_as_its_directory(tmp_path):
    trial_dir = tmp_path / "trial_abc"
    trial_dir.mkdir()
    made = trial_tensorboard(
        [keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))], trial_dir, tensorboard=True
    )
    assert made[0].log_dir == str(tmp_path / "logs" / "trial_abc")
    assert isinstance(made[1], EpochSummaries)
    assert made[1].log_dir == trial_dir / TENSORBOARD_DIR


def _run_dir(tmp_path, *, tensorboard: bool):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / MANIFEST_FILE).write_text(json.dumps({"tensorboard": tensorboard}))
    return run_dir


def test_the_logdir_spec_names_each_started_trial_as_in_mlflow(tmp_path):
    run_dir = _run_dir(tmp_path, tensorboard=True)
    write_trial_name(run_dir / "trial_x", 2)
    write_trial_name(run_dir / "trial_y", 1)
    assert logdir_spec(run_dir) == (
        f"trial-001:{run_dir / 'trial_y' / 'tensorboard'},trial-002:{run_dir / 'trial_x' / 'tensorboard'}"
    )
    command = tensorboard_command(run_dir, host="127.0.0.1", port=6123)
    assert command[1:3] == ["-m", "tensorboard.main"]
    assert command[-4:] == ["--host", "127.0.0.1", "--port", "6123"]


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        ("no manifest", r"holds no readable run\.json: it is not a run directory"),
        ("off", r"wrote no TensorBoard event files: tune with tensorboard=True"),
        ("no trial", r"no trial of .* has started yet"),
        ("comma", r"path holds a comma"),
    ],
)
def test_automl_tensorboard_refuses_what_it_cannot_serve(tmp_path, capsys, setup, match):
    if setup == "no manifest":
        run_dir = tmp_path
    else:
        run_dir = _run_dir(tmp_path, tensorboard=setup != "off")
    if setup == "comma":
        comma = tmp_path / "a,b"
        comma.mkdir()
        run_dir = _run_dir(comma, tensorboard=True)
        write_trial_name(run_dir / "trial_x", 1)
    assert main(["tensorboard", str(run_dir)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith("error: run_dir: ")
    with pytest.raises(ConfigError, match=match):
        logdir_spec(run_dir)


def test_a_resumed_run_keeps_the_switches_its_manifest_records(tmp_path):
    import types

    from automl.planning._resume import _resumed_run

    run = _experiment(tensorboard=True, log_tensorboard_to_mlflow=True)._plan()
    record = types.SimpleNamespace(
        tracking_uri="sqlite:///x.db", public_uri="sqlite:///x.db", experiment_id="1", parent_run_id="p"
    )
    manifest = json.loads(json.dumps(run.manifest(name="tb", record=record)))  # as run.json holds it
    resumed = _resumed_run(tmp_path, manifest, data="digits", callbacks=(), build=None)
    assert (resumed.tensorboard, resumed.log_tensorboard_to_mlflow) == (True, True)
