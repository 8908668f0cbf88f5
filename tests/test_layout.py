"""The layering docs/internals/architecture.md describes, read from the imports of each module (nothing is imported).

Between the packages: `search_spaces` imports none of `trainers`, `automl`, Ray,
MLflow, Keras or TensorFlow; `trainers` imports none of `automl`, Ray or MLflow
(anywhere in a module). Inside `automl`, at module level: planning imports no
Ray, and tracking imports no Ray except its two Ray Tune callbacks; planning
imports no MLflow except `_retrain`, which logs the model it fits; execution and
tracking import no planning module (planning builds the run, never the reverse).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Modules whose module-level imports the rule below would refuse, and why they are allowed.
RAY_IN_TRACKING = {
    "automl/tracking/_tracking.py",  # MlflowTracker is a ray.tune.Callback
    "automl/tracking/_artifacts.py",  # ImportsForArtifacts is a ray.tune.Callback
}
MLFLOW_IN_PLANNING = {
    "automl/planning/_retrain.py",  # logs the retrained model to the run's MLflow experiment
}


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imported(statements: Iterator[ast.AST]) -> Iterator[str]:
    for node in statements:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _top_level(tree: ast.Module) -> Iterator[ast.AST]:
    """The statements run when the module loads: its body, and the bodies of its top-level try/if/with
    blocks, but not `if TYPE_CHECKING:` and not function bodies."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop(0)
        yield node
        if isinstance(node, ast.If) and not _type_checking(node.test):
            pending.extend([*node.body, *node.orelse])
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With):
            pending.extend(node.body)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, *, anywhere: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    statements = ast.walk(tree) if anywhere else _top_level(tree)
    return {name.split(".")[0] for name in _imported(statements)}


def _imports_package(path: Path, package: str) -> bool:
    """Whether the module imports ``package`` or a module of it when it loads (``from automl import planning`` too)."""
    for node in _top_level(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        if any(name == package or name.startswith(f"{package}.") for name in names):
            return True
    return False


def _importers(folder: str, roots: set[str], *, anywhere: bool = False) -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in _modules(folder)
        if _imports(path, anywhere=anywhere) & roots
    }


@pytest.mark.parametrize(
    ("package", "refused"),
    [
        ("search_spaces", {"trainers", "automl", "ray", "mlflow", "keras", "tensorflow"}),
        ("trainers", {"automl", "ray", "mlflow"}),
    ],
)
def test_the_packages_import_only_downwards(package, refused):
    assert _importers(package, refused, anywhere=True) == set()


def test_planning_imports_no_ray_at_module_level():
    assert _importers("automl/planning", {"ray"}) == set()


def test_tracking_imports_no_ray_at_module_level_but_in_its_tune_callbacks():
    assert _importers("automl/tracking", {"ray"}) == RAY_IN_TRACKING


def test_tracking_imports_neither_planning_nor_execution_anywhere():
    # The runner (execution) builds the tracker; shared names (RSS_KEY) live in tracking.
    imported = {
        name
        for path in _modules("automl/tracking")
        for name in _imported(ast.walk(ast.parse(path.read_text(), str(path))))
    }
    assert {name for name in imported if name.startswith(("automl.planning", "automl.execution"))} == set()


def test_planning_imports_no_mlflow_at_module_level_but_to_log_a_retrained_model():
    assert _importers("automl/planning", {"mlflow"}) == MLFLOW_IN_PLANNING


@pytest.mark.parametrize("folder", ["automl/execution", "automl/tracking"])
def test_execution_and_tracking_import_no_planning_at_module_level(folder):
    # The plan's parts the runner is handed are named under `if TYPE_CHECKING:` only.
    importers = {
        p.relative_to(ROOT).as_posix() for p in _modules(folder) if _imports_package(p, "automl.planning")
    }
    assert importers == set()


@pytest.mark.parametrize(
    ("code", "imports"),
    [
        ("from automl.planning._choices import SchedulerChoice", True),
        ("import automl.planning._build", True),
        ("from automl import planning", True),
        ("from automl import planning_notes", False),
        ("from automl.planningx import y", False),
        ("def f():\n    from automl.planning import _x", False),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from automl.planning import _x", False),
    ],
)
def test_a_package_import_is_found_in_any_spelling(tmp_path, code, imports):
    path = tmp_path / "m.py"
    path.write_text(code)
    assert _imports_package(path, "automl.planning") is imports


def test_each_subpackage_is_a_package_that_says_what_it_may_import():
    for name in ("planning", "execution", "tracking"):
        docstring = ast.get_docstring(ast.parse((ROOT / "automl" / name / "__init__.py").read_text()))
        assert docstring and "import" in docstring, name


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import ray", {"ray"}),
        ("from mlflow.tracking import MlflowClient", {"mlflow"}),
        ("try:\n    import ray.tune\nexcept ImportError:\n    pass", {"ray"}),
        ("def f():\n    import ray", set()),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mlflow", {"typing"}),
        ("from . import _x", set()),
    ],
)
def test_module_level_imports_are_read_as_python_runs_them(tmp_path, code, expected):
    path = tmp_path / "m.py"
    path.write_text(code)
    assert _imports(path, anywhere=False) == expected


def test_the_cli_and_the_api_import_no_tensorflow():
    """The driver imports TensorFlow only when it must (a build to check, a model to log): its
    native start-up lines would reach the terminal ahead of the quiet stderr, and it costs seconds.
    """
    code = "import sys, automl, automl.cli; print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_s_help_imports_no_ray_mlflow_or_optuna():
    """`automl --help` and a usage error answer at once: each command imports what it uses."""
    code = (
        "import contextlib, io, sys\n"
        "from automl import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    cli.main(['--help'])\n"
        "heavy = {'ray', 'mlflow', 'optuna', 'pandas', 'sklearn', 'tensorflow'}\n"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
