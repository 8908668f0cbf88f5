"""What a user's installer and type checker see: version, licence, type hints."""

from __future__ import annotations

import importlib
import importlib.metadata
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

import automl

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_the_version_is_the_installed_distribution_s():
    assert automl.__version__ == importlib.metadata.version("keras-automl")


def test_the_licence_file_is_the_one_the_metadata_names():
    metadata = importlib.metadata.metadata("keras-automl")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()


def test_the_changelog_names_the_current_version():
    assert f"## [{automl.__version__}]" in (ROOT / "CHANGELOG.md").read_text()


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    # Built from a copy: setuptools writes build/ and *.egg-info/ beside the sources.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    for package in ("automl", "search_spaces", "trainers"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(source)],
        check=True,
    )
    (wheel,) = out.glob("keras_automl-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.mark.parametrize("package", ["automl", "search_spaces", "trainers"])
def test_the_wheel_ships_each_package_s_type_hints(wheel_names, package):
    # PEP 561: a type checker reads a package's hints only when py.typed is in it.
    assert f"{package}/py.typed" in wheel_names


def test_the_wheel_ships_the_licence_and_no_tests(wheel_names):
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in wheel_names)
    assert not any(name.startswith(("tests/", "benchmarks/", "examples/")) for name in wheel_names)
