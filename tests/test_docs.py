"""The docs stay true: their examples run, their experiment files validate, every page is in the nav.

A ```yaml block in docs/ is an experiment file, validated as one, unless its info string
has a title (```yaml title="..."): a block titled ``space.yaml`` is a space file, one that
includes a file (``--8<-- "examples/NAME.yaml"``) is that experiment file, any other
titled block a fragment (it must still parse). `make docs` builds the site with
--strict; `test_the_site_builds_strict` does the same here, into tmp_path.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from automl import Experiment
from search_spaces import Space
from search_spaces._schema import LAYERS
from search_spaces._yaml import parse_yaml
from trainers import check_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^```(?P<lang>\w+)(?P<info>[^\n]*)\n(?P<body>.*?)^```", re.M | re.S)


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "_hooks" not in p.parts)


def _blocks(page: Path, lang: str) -> list[tuple[str, str]]:
    """(info string, body) of each fenced block of ``lang`` in ``page``."""
    return [(m["info"].strip(), m["body"]) for m in FENCE.finditer(page.read_text()) if m["lang"] == lang]


def _python(page: str, containing: str) -> str:
    """The one Python block of docs/``page`` that contains ``containing``."""
    (block,) = [body for _, body in _blocks(DOCS / page, "python") if containing in body]
    return textwrap.dedent(block)


def _run(block: str, namespace: dict | None = None) -> dict:
    namespace = {} if namespace is None else namespace
    exec(compile(block, "<docs example>", "exec"), namespace)
    return namespace


def test_every_python_block_compiles():
    # The examples that need Ray or a finished run are not run here; they must at least parse.
    blocks = [(page, body) for page in _pages() for _, body in _blocks(page, "python")]
    assert len(blocks) >= 10
    for page, body in blocks:
        compile(textwrap.dedent(body), str(page), "exec")


def test_the_search_space_example_runs_as_written(capsys):
    namespace = _run(_python("guides/search-spaces.md", "conv_layers=Repeat("))
    assert "'conv_layers': [{'type': 'conv2d'" in capsys.readouterr().out
    for config in namespace["space"].variants():  # the trainer takes every choice the example makes
        check_config(config, task="multiclass")


def test_the_preset_example_makes_a_space_the_trainer_takes():
    namespace = _run(_python("guides/search-spaces.md", "mlp(max_layers=2"))
    space = namespace["space"]
    assert space["layers"].max_layers == 2
    check_config(space.default_config(), task="multiclass")


def test_the_build_example_builds_every_choice_of_its_space():
    from automl.planning._build import check_build
    from trainers import load_sklearn

    namespace = _run(_python("guides/custom-models.md", "def build(config)"))
    check_build(namespace["build"], namespace["space"], load_sklearn("digits"))


def test_the_custom_metric_example_is_the_objective_it_says():
    from automl.planning._build import check_build
    from trainers import FitSettings, load_sklearn

    # The custom metric compiles the model of the build example.
    namespace = _run(_python("guides/custom-models.md", "def build(config)"))
    _run(_python("guides/custom-models.md", "def macro_error"), namespace)
    (reported, *_) = check_build(namespace["build_compiled"], namespace["space"], load_sklearn("digits"))
    assert {"macro_error", "val_macro_error"} <= set(reported)
    settings = FitSettings(monitor="val_macro_error", mode="min")
    settings.check_monitor("multiclass", reported=reported)


def test_the_arrays_example_runs_as_written():
    namespace = _run(_python("guides/data.md", "from_arrays(x, y"))
    assert namespace["data"].task == "multiclass"
    assert len(namespace["data"].x_train) + len(namespace["data"].x_val) == 500


def test_the_dataframe_example_runs_as_written(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # it reads examples/data/diabetes_mixed.csv
    _run(_python("guides/data.md", "from_frame(frame"))
    assert capsys.readouterr().out == "['sex', 'bmi_class'] ('high', 'low')\n"


def _yaml_blocks() -> list[tuple[str, str, str]]:
    return [
        (str(page.relative_to(DOCS)), info, body) for page in _pages() for info, body in _blocks(page, "yaml")
    ]


def test_the_docs_show_experiment_files_included_files_and_a_space_file():
    blocks = _yaml_blocks()
    assert sum(info == "" for _, info, _ in blocks) >= 1
    assert sum(body.startswith("--8<-- ") for _, _, body in blocks) >= 2
    assert any(info == 'title="space.yaml"' for _, info, _ in blocks)


@pytest.mark.parametrize(
    ("page", "info", "block"),
    _yaml_blocks(),
    ids=[f"{page}-{i}" for i, (page, _, _) in enumerate(_yaml_blocks())],
)
def test_each_yaml_block_is_what_it_says(page, info, block):
    title = re.fullmatch(r'title="([^"]*)"', info)
    assert info == "" or title, f"{page}: a yaml block's info string is empty or a title, not {info!r}"
    included = re.fullmatch(r'--8<-- "([^"]+)"\n', block)
    if included:  # the page shows the file itself
        Experiment.from_yaml(ROOT / included.group(1))
        return
    data = parse_yaml(block)  # safe loader, duplicate keys refused
    if not info:  # an experiment file; relative paths as from examples/
        Experiment.from_dict(data, base_dir=ROOT / "examples")
    elif title and title.group(1) == "space.yaml":
        Space.from_dict(data)


def _nav_pages(node: object) -> list[str]:
    if isinstance(node, str):
        return [node] if node.endswith(".md") else []
    if isinstance(node, dict):
        return [p for value in node.values() for p in _nav_pages(value)]
    if isinstance(node, list):
        return [p for item in node for p in _nav_pages(item)]
    return []


def test_every_page_is_in_the_nav_and_every_nav_entry_is_a_page():
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    assert len(nav) == len(set(nav)), "a page is twice in the nav"
    assert sorted(nav) == sorted(str(p.relative_to(DOCS)) for p in _pages())


@pytest.mark.parametrize("package", ["automl", "search_spaces", "trainers"])
def test_the_api_reference_documents_every_public_name(package):
    module = importlib.import_module(package)
    page = (DOCS / "reference" / "api" / f"{package}.md").read_text()
    documented = re.findall(rf"^::: {package}\.(\w+)$", page, re.M)
    assert sorted(documented) == sorted(module.__all__)


def _hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hook", DOCS / "_hooks" / "generated.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_hook_refuses_an_unknown_generated_part():
    with pytest.raises(ValueError, match="unknown generated part 'layer-typos'"):
        _hook().render("text\n<!-- generated: layer-typos -->\n", "page.md")


def test_links_out_of_docs_become_absolute_and_links_between_pages_stay():
    repo_links = _hook().repo_links
    text = "[a](../../benchmarks/README.md#table) [b](../concepts.md) [c](mlflow.md)"
    assert repo_links(text, "guides/performance.md", None) == (
        "[a](/benchmarks/README.md#table) [b](../concepts.md) [c](mlflow.md)"
    )
    assert repo_links("[a](../../LICENSE)", "guides/x.md", "https://github.com/o/r/").startswith(
        "[a](https://github.com/o/r/blob/HEAD/LICENSE)"
    )
    with pytest.raises(ValueError, match="leaves the repository"):
        repo_links("[a](../../../elsewhere.md)", "guides/x.md", None)


def test_the_site_builds_strict_with_the_generated_pages(tmp_path):
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's notice about its successor
    )
    assert build.returncode == 0, build.stderr
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "usage: automl submit" in cli and "--address ADDRESS" in cli
    schema = (site / "guides" / "search-spaces" / "index.html").read_text()
    for kind in LAYERS:  # the layer table is rendered from the vocabulary
        assert f"<code>{kind}</code>" in schema
    api = (site / "reference" / "api" / "automl" / "index.html").read_text()
    assert 'id="automl.tune"' in api
