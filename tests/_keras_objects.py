"""Source of custom Keras objects that test files write into a user's module."""

from __future__ import annotations

# A custom layer registered as Keras asks, with its own argument in its config.
SCALE_LAYER = '''
@keras.saving.register_keras_serializable(package="tests")
class Scale(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}
'''
