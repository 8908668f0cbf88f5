"""Search spaces over Keras layer stacks and training settings.

Sampling is define-by-run through an ``optuna.Trial``; a sampled config is a
plain nested dict. This package never imports TensorFlow, Ray or MLflow.
"""

from search_spaces._errors import AutoMLError, ConfigError
from search_spaces._layers import Dense, Dropout, LayerTemplate
from search_spaces._params import Boolean, Categorical, Fixed, Float, Int, Parameter
from search_spaces._presets import mlp
from search_spaces._space import Space, load_space
from search_spaces._stack import LayerStack

__all__ = [
    "AutoMLError",
    "Boolean",
    "Categorical",
    "ConfigError",
    "Dense",
    "Dropout",
    "Fixed",
    "Float",
    "Int",
    "LayerStack",
    "LayerTemplate",
    "Parameter",
    "Space",
    "load_space",
    "mlp",
]
