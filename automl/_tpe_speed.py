"""TPE's Gaussian tail in compiled code, for automl's own sampling calls only.

Optuna's TPE scores each candidate under every kernel of its Parzen
estimators; for each kernel it needs ``log Φ(x)`` at the kernel's truncation
bounds (and, for integer and stepped parameters, at each candidate's cell).
Optuna computes it with a per-element Python function
(``optuna.samplers._tpe._truncnorm._log_ndtr``, through ``np.frompyfunc``),
which made up most of a TPE ask at 1,000 trials of history: 34 ms per trial
over a 1,000-trial ask-and-tell loop of ``mlp()``, against 14 ms with SciPy's
``scipy.special.log_ndtr`` (benchmarks/RESULTS.md, section 3, run 5).

SciPy's function is the one Optuna's replaces (Optuna's own port lets its TPE
run without SciPy). They agree to 1e-15 relative up to x = 1; above it
Optuna's is the less exact one (``log(1 - Φ(-x))`` keeps 8 digits up to
x = 6, then ``-Φ(-x)`` 9 or more). The sampled values can therefore differ
from a plain ``TPESampler``'s with the same seed in their last bits. TPE still
picks the same candidates: over a 1,000-trial run of ``mlp()`` every config
matched the plain sampler's to 1e-9 relative, and over 40 seeds of 80 trials
the best value so far did to 4.4e-16.

The switch is per thread: ``fast_log_ndtr()`` turns SciPy's function on for
the calling thread while automl's searcher samples. Any other caller of
Optuna in the process (the user's own studies, in this thread or another)
gets Optuna's function, bit for bit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.special

_state = threading.local()


class _Dispatch:
    """Stands in for Optuna's ``_log_ndtr``: SciPy's in a thread that asked for it, Optuna's elsewhere."""

    def __init__(self, original: Callable[[np.ndarray], np.ndarray]) -> None:
        self.original = original

    def __call__(self, a: Any) -> np.ndarray:
        if getattr(_state, "on", False):
            return np.asarray(scipy.special.log_ndtr(np.asarray(a, dtype=float)), dtype=float)
        return self.original(a)


def _install() -> bool:
    try:
        from optuna.samplers._tpe import _truncnorm
    except ImportError:  # an optuna without it: nothing to speed up
        return False
    original = getattr(_truncnorm, "_log_ndtr", None)
    if not callable(original):
        return False
    if not isinstance(original, _Dispatch):
        _truncnorm._log_ndtr = _Dispatch(original)
    return True


INSTALLED = _install()


@contextmanager
def fast_log_ndtr() -> Iterator[None]:
    """Optuna's TPE uses SciPy's ``log_ndtr`` in this thread within the block (nests)."""
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before
