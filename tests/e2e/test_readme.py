"""README.md stays true: its example runs as written and prints lines like its excerpt, its file validates, its links resolve."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from automl import Experiment
from search_spaces._yaml import parse_yaml

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# The progress lines the quickstart prints (8 trials of up to 10 epochs on digits, ASHA), numbers aside.
LINES = {
    "run": r"\[automl\] run \S+: 8 trials of up to 10 epochs, as many as fit at a time \(cpu=1 each\); "
    r"sampler TPESampler, scheduler asha",
    "directory": r"\[automl\] run directory \S+ \| MLflow experiment 'automl' at sqlite:///\S+/mlflow\.db",
    "trial": r"\[automl\] trial +\d+ (COMPLETE|PRUNED) +val_accuracy=0\.\d{4} \(\d+ epochs, [\d.]+s\) \| "
    r"\d/8 done \([^)]+\)(, \d running)?, best val_accuracy=0\.\d{4} \| elapsed \d+s(, ~\d+s left)?",
    # Shown when no trial ended for a while: not in the excerpt, allowed in a run.
    "status": r"\[automl\] \d/8 done.* \| elapsed \d+s(, ~\d+s left)?",
}
SHOWN = {"run", "directory", "trial"}
TABLE_HEADER = "number state epochs best_val_accuracy"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def _kinds(lines: list[str]) -> set[str]:
    """Which of LINES each ``[automl]`` line is; a line of ours that is none of them fails."""
    kinds = set()
    for line in lines:
        if line.startswith("[automl]") and "warning:" not in line:
            (kind,) = [k for k, pattern in LINES.items() if re.fullmatch(pattern, line)] or [line]
            kinds.add(kind)
    return kinds


def test_readme_yaml_example_validates(tmp_path):
    (block,) = _blocks("yaml")
    Experiment.from_dict(parse_yaml(block), base_dir=tmp_path)


def test_readme_output_excerpt_is_lines_the_quickstart_prints():
    (excerpt,) = _blocks("text")
    lines = excerpt.splitlines()
    assert _kinds(lines) == SHOWN
    assert TABLE_HEADER in {" ".join(line.split()) for line in lines}


def test_readme_links_point_at_files_that_exist():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into the docs"
    assert [t for t in local if not (ROOT / t).exists()] == []


@pytest.mark.slow
@pytest.mark.ray
def test_readme_python_example_runs_as_written_and_prints_what_its_excerpt_shows(
    ray_local, tmp_path, monkeypatch, capsys
):
    block = _blocks("python")[0]
    monkeypatch.chdir(tmp_path)  # its mlflow.db and automl_runs/ land here
    exec(compile(block, str(README), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert SHOWN <= _kinds(lines) <= set(LINES)
    assert len([line for line in lines if line.startswith("[automl] trial")]) == 8
    assert TABLE_HEADER in {" ".join(line.split()) for line in lines}
    assert (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
@pytest.mark.ray
def test_readme_files_example_runs_as_written_on_the_folder_the_images_example_writes(
    ray_local, tmp_path, monkeypatch, capsys
):
    from examples.images_folder import FOLDER, write_digit_images

    block = _blocks("python")[1]
    relative = FOLDER.relative_to(ROOT)
    assert f'"{relative}"' in block
    monkeypatch.chdir(tmp_path)
    write_digit_images(tmp_path / relative)
    exec(compile(block, str(README), "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert len([line for line in lines if line.startswith("[automl] trial")]) == 2
    scores = ast.literal_eval(lines[-1])
    assert set(scores) == {"loss", "accuracy"} and 0 <= scores["accuracy"] <= 1
