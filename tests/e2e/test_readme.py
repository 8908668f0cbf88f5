"""README.md stays true: its Python example runs as written, its YAML example validates."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from automl import Experiment
from search_spaces._yaml import parse_yaml
from trainers import check_config

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def test_readme_yaml_example_validates(tmp_path):
    (block,) = _blocks("yaml")
    Experiment.from_dict(parse_yaml(block), base_dir=tmp_path)


def test_readme_search_space_example_runs_as_written(capsys):
    spaces = _blocks("python")[1]
    namespace: dict = {}
    exec(compile(spaces, str(README), "exec"), namespace)
    assert "'conv_layers': [{'type': 'conv2d'" in capsys.readouterr().out
    for config in namespace["space"].variants():  # the trainer takes every choice the example makes
        check_config(config, task="multiclass")


def test_readme_build_example_builds_every_choice_of_its_space():
    block = _blocks("python")[2]
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    from automl.planning._build import check_build
    from trainers import load_sklearn

    check_build(namespace["build"], namespace["space"], load_sklearn("digits"))


def test_readme_custom_metric_example_is_the_objective_it_says():
    namespace: dict = {}
    for block in _blocks("python")[2:4]:  # the custom metric compiles the model of the build example
        exec(compile(textwrap.dedent(block), str(README), "exec"), namespace)
    from automl.planning._build import check_build
    from trainers import FitSettings, load_sklearn

    (reported, *_) = check_build(namespace["build_compiled"], namespace["space"], load_sklearn("digits"))
    assert {"macro_error", "val_macro_error"} <= set(reported)
    settings = FitSettings(monitor="val_macro_error", mode="min")
    settings.check_monitor("multiclass", reported=reported)


def test_readme_dataframe_example_runs_as_written(monkeypatch, capsys):
    block = _blocks("python")[4]
    monkeypatch.chdir(README.parent)
    exec(compile(block, str(README), "exec"), {})
    assert capsys.readouterr().out == "['sex', 'bmi_class'] ('high', 'low')\n"


@pytest.mark.slow
@pytest.mark.ray
def test_readme_python_example_runs_as_written(ray_local, tmp_path, monkeypatch, capsys):
    block = _blocks("python")[0]
    monkeypatch.chdir(tmp_path)  # its mlflow.db and automl_runs/ land here
    exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "best_val_accuracy" in out
    assert (tmp_path / "mlflow.db").exists()
