"""Callbacks given as 'file.py:function' references (how an experiment file names them), checked before Ray starts."""

from __future__ import annotations

import textwrap

import pytest

from automl import ConfigError, Experiment

pytestmark = pytest.mark.usefixtures("ray_stays_down")

CALLBACKS = """
import keras

def logs():
    return [keras.callbacks.CSVLogger("epochs.csv"), keras.callbacks.TerminateOnNaN()]

def one():
    return keras.callbacks.CSVLogger("one.csv")

def not_a_callback():
    return 42

def broken():
    raise RuntimeError("no such log folder")
"""


def _experiment_file(directory, callbacks: str):
    (directory / "callbacks.py").write_text(textwrap.dedent(CALLBACKS))
    path = directory / "exp.yaml"
    path.write_text(f"data: {{sklearn: digits}}\nspace: {{preset: mlp}}\nnum_trials: 2\ncallbacks: {callbacks}\n")
    return path


def test_a_factory_named_in_an_experiment_file_makes_the_trials_callbacks(tmp_path):
    experiment = Experiment.from_yaml(_experiment_file(tmp_path, "[callbacks.py:logs, callbacks.py:one]"))
    assert experiment.callbacks == [f"{tmp_path / 'callbacks.py'}:logs", f"{tmp_path / 'callbacks.py'}:one"]
    run = experiment._plan()
    assert [type(c).__name__ for c in run.callbacks] == ["CSVLogger", "TerminateOnNaN", "CSVLogger"]
    assert run.callback_refs == tuple(experiment.callbacks)  # resume makes them again


@pytest.mark.parametrize(
    ("callbacks", "match"),
    [
        ("callbacks.py:logs", r"^callbacks: expected a list of Keras callbacks or 'file\.py:function' references"),
        ("[callbacks.py]", r"^callbacks\.0: expected 'file\.py:function' or 'package\.module:function', but got"),
        ("[callbacks.py:lgos]", r"^callbacks\.0: .*callbacks\.py has no function 'lgos'; its callables: \["),
        ("[callbacks.py:not_a_callback]", r"^callbacks\.0: expected a keras\.callbacks\.Callback, but got int"),
        ("[callbacks.py:broken]", r"^callbacks\.0: .*callbacks\.py:broken\(\) raised RuntimeError: no such log"),
        ("[missing.py:logs]", r"^callbacks\.0: no file .*missing\.py"),
    ],
)
def test_a_bad_callbacks_reference_names_its_entry(tmp_path, callbacks, match):
    with pytest.raises(ConfigError, match=match):
        Experiment.from_yaml(_experiment_file(tmp_path, callbacks))
