"""Ready-made spaces, usable in one line and overridable entry by entry.

Each preset is a function returning a `Space`; keyword arguments replace the
preset's entries by name or add new ones (``mlp(batch_size=64)``), so any
field can be overridden without rewriting the rest.
"""

from __future__ import annotations

from typing import Any

from search_spaces._layers import GRU, LSTM, Conv2D, Dense
from search_spaces._params import Categorical, Float, Int
from search_spaces._space import Space
from search_spaces._stack import LayerStack

__all__ = ["cnn", "mlp", "rnn"]


def _training(**entries: Any) -> dict[str, Any]:
    """What every preset searches besides the layers: Adam's learning rate and the batch size."""
    return {
        **entries,
        "learning_rate": Float(1e-4, 1e-2, log=True),
        "batch_size": Categorical([32, 64, 128]),
    }


def _dense_head(min_layers: int, max_layers: int) -> LayerStack:
    return LayerStack(
        Dense(units=Int(16, 256, log=True), dropout=Float(0.0, 0.5)),
        min_layers=min_layers,
        max_layers=max_layers,
    )


def mlp(*, min_layers: int = 1, max_layers: int = 3, **overrides: Any) -> Space:
    """A multilayer perceptron for tabular data.

    1–3 Dense layers with per-layer units (16–256, log scale) and dropout
    (0–0.5), the Adam learning rate (1e-4–1e-2, log scale) and the batch size.

    Args:
        min_layers: Fewest Dense layers. Defaults to `1`.
        max_layers: Most Dense layers. Defaults to `3`.
        **overrides: Entries that replace or extend the preset's, by name.

    Examples:
        >>> space = mlp(batch_size=64)
        >>> space.default_config()["batch_size"]
        64
    """
    return Space({**_training(layers=_dense_head(min_layers, max_layers)), **overrides})


def cnn(*, min_blocks: int = 1, max_blocks: int = 2, **overrides: Any) -> Space:
    """A convolutional network for images ``(height, width, channels)``.

    1–2 Conv2D blocks (16–64 filters on a log scale, kernel 3 or 5, each
    followed by 2×2 max pooling) under ``conv_layers``, then 0–1 Dense layers
    under ``layers``, the learning rate and the batch size. Two pooled blocks
    fit inputs of 4×4 and larger (8×8 digits: 8 → 4 → 2).

    Args:
        min_blocks: Fewest convolution blocks. Defaults to `1`.
        max_blocks: Most convolution blocks. Defaults to `2`.
        **overrides: Entries that replace or extend the preset's, by name.

    Examples:
        >>> space = cnn(max_blocks=3)
        >>> space.check_input_shape((8, 8, 1))
        >>> [layer["type"] for layer in space.default_config()["conv_layers"]]
        ['conv2d']
    """
    conv = LayerStack(
        Conv2D(filters=Int(16, 64, log=True), kernel_size=Categorical([3, 5])),
        min_layers=min_blocks,
        max_layers=max_blocks,
    )
    return Space({**_training(conv_layers=conv, layers=_dense_head(0, 1)), **overrides})


def rnn(*, min_layers: int = 1, max_layers: int = 2, **overrides: Any) -> Space:
    """A recurrent network for sequences ``(steps, features)``.

    1–2 recurrent layers, each an LSTM or a GRU (16–128 units, log scale),
    under ``recurrent_layers`` — the trainer returns sequences between them —
    then 0–1 Dense layers under ``layers``, the learning rate and the batch size.

    Args:
        min_layers: Fewest recurrent layers. Defaults to `1`.
        max_layers: Most recurrent layers. Defaults to `2`.
        **overrides: Entries that replace or extend the preset's, by name.

    Examples:
        >>> space = rnn(max_layers=3)
        >>> space.check_input_shape((20, 3))
        >>> space.default_config()["recurrent_layers"]
        [{'type': 'lstm', 'units': 45, 'dropout': 0.0, 'bidirectional': False}]
    """
    recurrent = LayerStack(
        [LSTM(units=Int(16, 128, log=True)), GRU(units=Int(16, 128, log=True))],
        min_layers=min_layers,
        max_layers=max_layers,
    )
    return Space({**_training(recurrent_layers=recurrent, layers=_dense_head(0, 1)), **overrides})
