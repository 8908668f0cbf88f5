"""Ready-made spaces, usable in one line and overridable entry by entry."""

from __future__ import annotations

from typing import Any

from search_spaces._layers import Dense
from search_spaces._params import Categorical, Float, Int
from search_spaces._space import Space
from search_spaces._stack import LayerStack

__all__ = ["mlp"]


def mlp(*, min_layers: int = 1, max_layers: int = 3, **overrides: Any) -> Space:
    """A multilayer perceptron for tabular data.

    1–3 Dense layers with per-layer units (16–256, log scale) and dropout
    (0–0.5), the Adam learning rate (1e-4–1e-2, log scale) and the batch size.

    Args:
        min_layers: Fewest Dense layers. Defaults to `1`.
        max_layers: Most Dense layers. Defaults to `3`.
        **overrides: Entries that replace or extend the preset's, by name.

    Example:
        >>> space = mlp(batch_size=64)
        >>> space.default_config()["batch_size"]
        64
    """
    entries: dict[str, Any] = {
        "layers": LayerStack(
            Dense(units=Int(16, 256, log=True), dropout=Float(0.0, 0.5)),
            min_layers=min_layers,
            max_layers=max_layers,
        ),
        "learning_rate": Float(1e-4, 1e-2, log=True),
        "batch_size": Categorical([32, 64, 128]),
    }
    entries.update(overrides)
    return Space(entries)
