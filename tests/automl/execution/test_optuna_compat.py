"""The Optuna compat module fails loudly when its private name is gone, and patches Optuna only when asked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from optuna.samplers._tpe import _truncnorm

from automl.execution import _optuna_compat
from search_spaces._requires import IncompatibleVersionError
from tests._compat import missing_name


def test_the_installed_optuna_has_every_private_name_used():
    _optuna_compat.check_private_names()


def test_an_optuna_without_log_ndtr_fails_loudly(monkeypatch):
    monkeypatch.delattr(_truncnorm, "_log_ndtr")  # what an upgrade that drops it looks like
    expected = missing_name("optuna", _optuna_compat.TESTED, "optuna.samplers._tpe._truncnorm._log_ndtr(a)")
    with pytest.raises(IncompatibleVersionError, match=expected):
        _optuna_compat.check_private_names()


_SCRIPT = textwrap.dedent(
    """
    import automl
    import automl.planning._experiment
    import automl.execution._searcher
    from optuna.samplers._tpe import _truncnorm

    print(type(_truncnorm._log_ndtr).__name__, _truncnorm._log_ndtr.__module__)
    searcher = automl.execution._searcher.Searcher(
        space=lambda trial: {"x": trial.suggest_float("x", 0.0, 1.0)}, metric="score", mode="max"
    )
    searcher.suggest("t0")
    print(type(_truncnorm._log_ndtr).__name__)
    """
)


def test_importing_automl_leaves_optuna_s_function_alone_until_the_searcher_samples():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    after_import, after_sampling = out.stdout.splitlines()[-2:]
    assert after_import == "function optuna.samplers._tpe._truncnorm"
    assert after_sampling == "_Dispatch"
