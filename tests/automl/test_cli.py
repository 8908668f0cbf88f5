"""The `automl` command line: exit codes, one-line errors, help with examples."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from automl.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "digits_mlp.yaml"


@pytest.fixture
def experiment(tmp_path):
    path = tmp_path / "exp.yaml"
    shutil.copy(EXAMPLE, path)
    return path


def test_validate_a_good_file(experiment, capsys):
    assert main(["validate", str(experiment)]) == 0
    assert (
        "OK — 12 trials of up to 20 epochs, optimizing val_accuracy (max) on digits"
        in capsys.readouterr().out
    )


def test_set_overrides_are_typed(experiment, capsys):
    assert main(["validate", str(experiment), "--set", "num_trials=4", "--set", "sampler.name=random"]) == 2
    assert "'sampler' holds a value, not settings" in capsys.readouterr().err
    assert (
        main(["validate", str(experiment), "--set", "num_trials=4", "--set", "sampler={name: random}"]) == 0
    )
    assert "4 trials" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["--set", "num_trials=abc"], r"exp.yaml: num_trials: expected an int >= 1, but got 'abc'."),
        (
            None,
            ["--set", "epoch=3"],
            r"exp.yaml: epoch: unknown key 'epoch' for the experiment (did you mean 'epochs'?)",
        ),
        (
            None,
            ["--set", "n_trials=3"],
            r"exp.yaml: n_trials: unknown key 'n_trials' for the experiment; the number of trials is "
            r"'num_trials' (Optuna's n_trials).",
        ),
        (
            None,
            ["--set", "scheduler={name: asha, max_t: 10}"],
            r"exp.yaml: scheduler.max_t: unknown setting 'max_t' for asha; automl takes the trials' length "
            r"from the top-level 'epochs' (Ray Tune's max_t).",
        ),
        (
            "data: {sklearn: digits}\nspace: {preset: mlp}\nsampler: {name: tpe, seed: 3}\n",
            [],
            r"exp.yaml: sampler.seed: unknown setting 'seed' for tpe; automl seeds the sampler",
        ),
        (
            "data: {sklearn: digits}\nspace: {preset: mlp, learning_rate: {type: float, low: 0.0001, "
            "high: 0.01, sampling: log}}\n",
            [],
            r"exp.yaml: space.learning_rate.sampling: unknown key 'sampling' for the float parameter; write "
            r"log=True (log: true in YAML) for sampling='log'",
        ),
        (None, ["--set", "foo.bar=1"], r"exp.yaml: foo: --set foo.bar: there is no 'foo' in the experiment"),
        (None, ["--set", "novalue"], r"exp.yaml: --set: expected KEY=VALUE, but got 'novalue'."),
        ("a: [1, 2\n", [], r"exp.yaml: invalid YAML at line 2, column 1"),
        (
            "data: {sklearn: digits}\ndata: {sklearn: iris}\n",
            [],
            r"exp.yaml: data: duplicate key 'data' at line 2",
        ),
        (
            "x: !!python/object/apply:os.system ['true']\n",
            [],
            r"could not determine a constructor for the tag",
        ),
        ("- 1\n- 2\n", [], r"exp.yaml: expected a mapping of settings, but got list."),
        (
            "data: {sklearn: digits}\nspace: {preset: mpl}\n",
            [],
            r"exp.yaml: space.preset: unknown preset 'mpl' (did you mean 'mlp'?)",
        ),
        (
            "data: {sklearn: digits, csv: x.csv}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data: give exactly one data source",
        ),
        (
            "data: {sklearn: digits, categorical: [sex]}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data.categorical: `categorical` names columns of `csv` or `parquet` and goes only with them.",
        ),
        (
            "data: {csv: data.csv, target: y, categorical: sex}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data.categorical: expected a list of column names, but got 'sex'.",
        ),
        (
            "data: {csv: data.csv, target: y, categorical: [colour]}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data.categorical: no column 'colour' in the DataFrame (did you mean 'color'?)",
        ),
        (
            "data: {csv: data.csv, target: y, shape: [2, 1]}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data.shape: a CSV with categorical columns has one value per column",
        ),
        (
            "data: {sklearn: mnist}\nspace: {preset: mlp}\n",
            [],
            r"exp.yaml: data: unknown bundled data set 'mnist'",
        ),
        (
            "data: {sklearn: digits}\nspace: {preset: mlp}\nresources_per_trial: {cpu: two}\n",
            [],
            r"exp.yaml: resources_per_trial.cpu: expected a number >= 0, but got 'two'.",
        ),
        (
            "data: {sklearn: digits}\nspace: {preset: mlp, learning_rate: {type: float, low: 1, high: 0.1}}\n",
            [],
            r"exp.yaml: space.learning_rate.low: `low <= high` must hold, but got (low=1, high=0.1).",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(experiment, capsys, content, args, message):
    (experiment.parent / "data.csv").write_text("size,color,y\n1.5,red,0\n2.5,blue,1\n0.5,red,1\n")
    if content is not None:
        experiment.write_text(content)
    assert main(["validate", str(experiment), *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_version_prints_the_installed_distribution_s(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"automl {importlib.metadata.version('keras-automl')}\n"


def test_python_dash_m_automl_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "automl", "validate", "no-such-file.yaml"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_missing_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_debug_shows_the_traceback(experiment):
    with pytest.raises(ValueError, match="num_trials"):
        main(["--debug", "validate", str(experiment), "--set", "num_trials=0"])
    with pytest.raises(ValueError, match="num_trials"):
        main(["validate", "--debug", str(experiment), "--set", "num_trials=0"])


def test_best_on_a_directory_that_is_not_a_run(tmp_path, capsys):
    assert main(["best", str(tmp_path)]) == 2
    assert "holds no readable result.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", ["tune", "validate", "resume", "best", "export", "ui", "submit", "status", "logs"]
)
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Example:" in out and f"automl {command}" in out


def test_an_unreachable_cluster_is_named_within_seconds(experiment, capsys):
    import time

    start = time.monotonic()
    # Port 9 (discard) on loopback: nothing listens, so the connection is refused at once.
    assert main(["submit", str(experiment), "--address", "http://127.0.0.1:9"]) == 2
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err
    assert "address: cannot reach the Ray job server at http://127.0.0.1:9 within 5 s" in err


def test_submit_needs_an_http_address(experiment, capsys):
    assert main(["submit", str(experiment), "--address", "ray://127.0.0.1:10001"]) == 2
    assert "expected the Ray dashboard's HTTP address" in capsys.readouterr().err
