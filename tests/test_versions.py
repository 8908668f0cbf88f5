"""pyproject.toml bounds Ray, Keras, Optuna and MLflow to the range each compat module names, and the
installed versions are in it."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
COMPAT = {
    "ray": "automl.execution._ray_compat",
    "keras": "trainers._keras_compat",
    "optuna": "automl.execution._optuna_compat",
    "mlflow": "automl.tracking._mlflow_compat",
}


def _pyproject_bounds() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(line) for line in project["dependencies"]]
    return {r.name: r.specifier for r in requirements}


@pytest.mark.parametrize("distribution", sorted(COMPAT))
def test_pyproject_bounds_each_dependency_to_the_range_its_compat_module_names(distribution):
    tested = SpecifierSet(importlib.import_module(COMPAT[distribution]).TESTED)
    bounds = _pyproject_bounds()[distribution]
    assert bounds == tested
    assert any(spec.operator == "<" for spec in bounds), f"{distribution} needs an upper bound"


@pytest.mark.parametrize("distribution", sorted(COMPAT))
def test_the_installed_version_is_within_pyproject_s_bounds(distribution):
    installed = importlib.metadata.version(distribution)
    assert _pyproject_bounds()[distribution].contains(installed), installed
