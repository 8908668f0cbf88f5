"""Search spaces over Keras layer stacks and training settings.

Sampling is define-by-run through an ``optuna.Trial``; a sampled config is a
plain nested dict. This package never imports TensorFlow, Ray or MLflow.
"""

from search_spaces._errors import AutoMLError, ConfigError
from search_spaces._hyperparameters import HyperParameters
from search_spaces._layers import (
    GRU,
    LSTM,
    Backbone,
    BatchNormalization,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    LayerNormalization,
    LayerTemplate,
    Normalization,
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
    Rescaling,
    Resizing,
)
from search_spaces._params import Boolean, Categorical, Fixed, Float, Int, Parameter
from search_spaces._presets import cnn, mlp, rnn
from search_spaces._space import Space, load_space
from search_spaces._stack import LayerStack, Repeat

__all__ = [
    "GRU",
    "LSTM",
    "AutoMLError",
    "Backbone",
    "BatchNormalization",
    "Boolean",
    "Categorical",
    "ConfigError",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Fixed",
    "Float",
    "HyperParameters",
    "Int",
    "LayerNormalization",
    "LayerStack",
    "LayerTemplate",
    "Normalization",
    "Parameter",
    "RandomContrast",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Repeat",
    "Rescaling",
    "Resizing",
    "Space",
    "cnn",
    "load_space",
    "mlp",
    "rnn",
]
