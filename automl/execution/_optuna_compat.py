"""Every private name of Optuna that automl uses, checked against the installed Optuna when this module loads.

TPE's Gaussian tail in compiled code, for automl's own sampling calls only.
Optuna's TPE scores each candidate under every kernel of its Parzen
estimators; for each kernel it needs ``log Φ(x)`` at the kernel's truncation
bounds (and, for integer and stepped parameters, at each candidate's cell).
Optuna computes it with a per-element Python function, its private
``optuna.samplers._tpe._truncnorm._log_ndtr`` (through ``np.frompyfunc``),
which dominates a TPE ask over a long history (benchmarks/LOG.md,
section 3). No public option of TPESampler chooses that function.

SciPy's ``scipy.special.log_ndtr`` is the function Optuna's replaces (Optuna's
own port lets its TPE run without SciPy). They agree to 1e-15 relative up to
x = 1; above it Optuna's is the less exact one. The sampled values can
therefore differ from a plain ``TPESampler``'s with the same seed in their
last bits; TPE still picks the same candidates (tests/automl/execution/test_tpe_speed.py).

The switch is per thread: ``fast_log_ndtr()`` turns SciPy's function on for
the calling thread while automl's searcher samples. Any other caller of
Optuna in the process (the user's own studies, in this thread or another)
gets Optuna's function, bit for bit. Optuna's module attribute is replaced
by a dispatcher the first time ``fast_log_ndtr()`` is entered, not when
automl is imported.

`check_private_names` runs at import and raises `IncompatibleVersionError`
naming the missing name, the installed Optuna and `TESTED`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.special
from optuna.samplers._tpe import _truncnorm

from search_spaces._requires import require

__all__ = ["LOG_NDTR_PATCHABLE", "TESTED", "check_private_names", "fast_log_ndtr"]

# The Optuna versions the suite ran on; pyproject.toml's bound on optuna is the same (tests/test_versions.py).
TESTED = ">=4.0,<5.2"

_state = threading.local()
_install_lock = threading.Lock()


class _Dispatch:
    """Stands in for Optuna's ``_log_ndtr``: SciPy's in a thread that asked for it, Optuna's elsewhere."""

    def __init__(self, original: Callable[[np.ndarray], np.ndarray]) -> None:
        self.original = original

    def __call__(self, a: Any) -> np.ndarray:
        if getattr(_state, "on", False):
            return np.asarray(scipy.special.log_ndtr(np.asarray(a, dtype=float)), dtype=float)
        return self.original(a)


def _install() -> None:
    """Puts `_Dispatch` in place of Optuna's ``_log_ndtr``, once per process."""
    with _install_lock:
        if not isinstance(_truncnorm._log_ndtr, _Dispatch):
            _truncnorm._log_ndtr = _Dispatch(_truncnorm._log_ndtr)


@contextmanager
def fast_log_ndtr() -> Iterator[None]:
    """Optuna's TPE uses SciPy's ``log_ndtr`` in this thread within the block (nests)."""
    _install()
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


def _patchable() -> bool:
    return callable(getattr(_truncnorm, "_log_ndtr", None))


def check_private_names() -> None:
    """Raises `IncompatibleVersionError` unless the installed Optuna has every private name used here."""
    require("optuna", TESTED, {"optuna.samplers._tpe._truncnorm._log_ndtr(a)": _patchable})


check_private_names()
LOG_NDTR_PATCHABLE = _patchable()  # whether `fast_log_ndtr` can put SciPy's function in
