"""Private names of Ray, Keras, Optuna, MLflow and TensorFlow are used only in the compat modules.

Each dependency has one compat module (``automl/execution/_ray_compat.py``,
``automl/execution/_optuna_compat.py``, ``automl/tracking/_mlflow_compat.py``,
``trainers/_keras_compat.py``) that checks, naming the tested version range,
that the private names it uses are still there. Everywhere else the packages
use public APIs only, so an upgrade that breaks a private name breaks one
file, loudly. This test reads every other module of the packages and fails on:

- an import of a private module or name (``from ray._private...``,
  ``from optuna.samplers._tpe import ...``, ``from x import _name``) or of a
  module the library keeps internal (``keras.src``);
- a private attribute of a foreign module (``ray.tune.x._y``);
- a private attribute of any other object (``tuner._local_tuner``,
  ``getattr(tuner, "_local_tuner")``) unless the packages define that name
  themselves;
- inside a class that subclasses a foreign class, ``self._name`` or a method
  ``_name`` where the foreign bases define ``_name`` (read from the imported
  classes and their source).
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("automl", "search_spaces", "trainers")
FOREIGN = ("ray", "keras", "optuna", "mlflow", "tensorflow")
COMPAT = frozenset(
    {
        "automl/execution/_ray_compat.py",
        "automl/execution/_optuna_compat.py",
        "automl/tracking/_mlflow_compat.py",
        "trainers/_keras_compat.py",
    }
)
# Modules these libraries keep internal although no part of their name starts with "_".
INTERNAL_MODULES = (
    "keras.src",  # Keras 3's implementation; `keras.*` re-exports the public part
    "tensorflow.python",  # TensorFlow's implementation; `tf.*` is the public API
    "ray.tune.execution",  # Tune's controller and actor cache (not in Ray's API reference)
    "ray.tune.experimental",  # Tune's console reporter
    "ray.tune.tune",  # tune.run's module: only its globals are of use, to swap them
)
_PRIVATE = re.compile(r"^_[A-Za-z0-9]\w*$")  # "_x", not "__x__" and not "_"
_SELF_ATTRIBUTE = re.compile(r"\bself\.(_[A-Za-z0-9]\w*)")


def _private(name: str) -> bool:
    return bool(_PRIVATE.match(name)) and not (name.startswith("__") and name.endswith("__"))


def _foreign(dotted: str) -> bool:
    return dotted.split(".")[0] in FOREIGN


def _internal(dotted: str) -> bool:
    parts = dotted.split(".")
    return any(_private(p) for p in parts) or any(
        dotted == m or dotted.startswith(m + ".") for m in INTERNAL_MODULES
    )


def _sources(include_compat: bool = False) -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if include_compat or relative not in COMPAT:
                yield relative, ast.parse(path.read_text(), relative)


@functools.cache
def _own_names() -> frozenset[str]:
    """Private names the packages define themselves (functions, classes, attributes, variables, arguments)."""
    names: set[str] = set()
    for _, tree in _sources(include_compat=True):
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_self(node.value):
                names.add(node.attr)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.alias) and node.asname:
                names.add(node.asname)
    return frozenset(n for n in names if _private(n))


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted path it was imported as, for every import in the file."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _dotted(node: ast.expr, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` with ``a`` replaced by what it was imported as; None if it is not such a chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in aliases:
        return None
    return ".".join([aliases[node.id], *reversed(parts)])


def _load(dotted: str) -> object | None:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                value = getattr(value, part)
        except AttributeError:
            return None
        return value
    return None


@functools.cache
def _foreign_privates(klass: type) -> frozenset[str]:
    """Private names that the foreign classes among ``klass``'s bases define: members and ``self._x``."""
    names: set[str] = set()
    for base in klass.__mro__:
        if not _foreign(getattr(base, "__module__", "") or ""):
            continue
        names.update(n for n in vars(base) if _private(n))
        try:
            names.update(_SELF_ATTRIBUTE.findall(inspect.getsource(base)))
        except (OSError, TypeError):  # compiled classes: their members are listed above
            pass
    return frozenset(names)


def _is_self(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls")
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def _subclass_findings(tree: ast.Module, aliases: dict[str, str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        privates: set[str] = set()
        for base in node.bases:
            dotted = _dotted(base, aliases)
            klass = _load(dotted) if dotted else None
            if isinstance(klass, type):
                privates |= _foreign_privates(klass)
        if not privates:
            continue
        for inner in ast.walk(node):
            if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)) and inner.name in privates:
                yield inner.lineno, f"class {node.name} overrides {inner.name} of its foreign base"
            elif isinstance(inner, ast.Attribute) and _is_self(inner.value) and inner.attr in privates:
                yield inner.lineno, f"class {node.name} uses {inner.attr} of its foreign base"


def _names_looked_up(call: ast.Call, aliases: dict[str, str]) -> list[str]:
    """Attribute names given as strings: ``getattr(x, "_y")``, or any call given a foreign module too."""
    strings = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if isinstance(call.func, ast.Name) and call.func.id in ("getattr", "setattr", "hasattr", "delattr"):
        return strings[:1]
    modules = [_dotted(a, aliases) for a in call.args]
    return strings if any(m is not None and _foreign(m) for m in modules) else []


def _findings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    aliases = _aliases(tree)
    own = _own_names()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _foreign(alias.name) and _internal(alias.name):
                    yield node.lineno, f"imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and _foreign(node.module):
            for alias in node.names:
                if _internal(f"{node.module}.{alias.name}"):
                    yield node.lineno, f"imports {alias.name} from {node.module}"
        elif isinstance(node, ast.Attribute):
            dotted = _dotted(node, aliases)
            if dotted is not None and _foreign(dotted):
                if _internal(dotted) and not _internal(dotted.rsplit(".", 1)[0]):
                    yield node.lineno, f"uses {dotted}"
            elif _private(node.attr) and not _is_self(node.value) and node.attr not in own:
                yield node.lineno, f"uses .{node.attr}, defined outside the packages"
        elif isinstance(node, ast.Call):
            for name in _names_looked_up(node, aliases):
                if _private(name) and name not in own:
                    yield node.lineno, f"looks up {name!r}, defined outside the packages"
    yield from _subclass_findings(tree, aliases)


def _all_findings() -> list[str]:
    return [
        f"{path}:{line}: {what}" for path, tree in _sources() for line, what in sorted(set(_findings(tree)))
    ]


def test_private_names_of_dependencies_are_used_only_in_the_compat_modules():
    found = _all_findings()
    assert not found, "move these into the dependency's compat module:\n" + "\n".join(found)


def test_the_compat_modules_exist():
    for path in COMPAT:
        assert (ROOT / path).is_file(), path


@pytest.mark.parametrize(
    "code",
    [
        "from ray._private.authentication import authentication_token_setup",
        "import ray._private.services",
        "from optuna.samplers._tpe import _truncnorm",
        "from mlflow.store.db.utils import _initialize_tables",
        "from keras.src.trainers import trainer",
        "import keras\nkeras.src.backend",
        "import ray.tune.schedulers.hyperband as hb\nhb._Bracket",
        "from ray.tune.execution.tune_controller import TuneController",
        "def f(tuner):\n    return tuner._local_tuner",
        "def f(tuner):\n    return getattr(tuner, '_local_tuner', None)",
        "from ray.tune.search.optuna import OptunaSearch\n"
        "class S(OptunaSearch):\n    def _suggest_from_define_by_run_func(self, f, t):\n        pass",
        "from ray.tune.search.optuna import OptunaSearch\n"
        "class S(OptunaSearch):\n    def study(self):\n        return self._ot_study",
        "import keras\nclass C(keras.callbacks.EarlyStopping):\n    def f(self):\n        return self._is_improvement",
    ],
)
def test_each_kind_of_private_use_is_found(code):
    assert list(_findings(ast.parse(code))), code


@pytest.mark.parametrize(
    "code",
    [
        "from ray import tune\ntune.Tuner",
        "import keras\nclass C(keras.callbacks.Callback):\n    def __init__(self):\n        self._own_monitor = 1",
        "from optuna.samplers import TPESampler",
        "from automl.execution._workers import WorkerPolicy",
    ],
)
def test_public_uses_pass(code):
    assert not list(_findings(ast.parse(code))), code
