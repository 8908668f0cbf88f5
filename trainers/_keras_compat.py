"""Every private name of Keras that the trainer uses, checked against the installed Keras when this module loads.

Keras 3 creates a compiled model's optimizer slots and its metrics' and
loss's variables inside the first trace of the train step, unless a
distribution strategy is active, when it builds them ahead from one batch's
shapes (its private ``Trainer._symbolic_build``, called from
``_maybe_symbolic_build``). A `tf.function` whose first trace creates
variables traces again, so every trial traced its train step twice;
``fit`` has no option to build ahead, and ``model.build`` builds the layers
only. `check_private_names` runs at import, before any trial trains, and
raises `IncompatibleVersionError` naming the missing name, the installed
Keras and `TESTED`.
"""

from __future__ import annotations

from typing import Any

import keras

from search_spaces._requires import require, takes

__all__ = ["TESTED", "build_variables_ahead", "check_private_names"]

# The Keras versions the suite ran on; pyproject.toml's bound on keras is the same (tests/test_versions.py).
TESTED = ">=3.14,<3.16"


def build_variables_ahead(model: keras.Model, data_batch: tuple[Any, Any, Any]) -> None:
    """Creates ``model``'s layer, optimizer, metric and loss variables from ``data_batch``'s shapes.

    As Keras does under a distribution strategy; without running the model.
    Raises whatever Keras raises for a model it cannot build symbolically.
    """
    symbolic_build = getattr(model, "_symbolic_build", None)  # None: not a Keras Trainer
    if symbolic_build is not None:
        symbolic_build(data_batch=data_batch)


def check_private_names() -> None:
    """Raises `IncompatibleVersionError` unless the installed Keras has every private name used here."""
    require(
        "keras",
        TESTED,
        {"keras.Model._symbolic_build(data_batch)": lambda: takes(keras.Model._symbolic_build, "data_batch")},
    )


check_private_names()
