"""The packages, tests, examples and benchmarks stay clean under ruff (incl. no `assert` in library code); the packages under mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["automl", "search_spaces", "trainers"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff():
    out = _run("ruff", "check", *PACKAGES, "tests", "examples", "benchmarks", "docs")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy():
    out = _run("mypy", *PACKAGES)
    assert out.returncode == 0, out.stdout + out.stderr
