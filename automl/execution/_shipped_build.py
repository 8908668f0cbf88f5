"""The user's ``build(config)`` as Ray ships it to the trial workers, with the Keras objects its code registered.

Unpickled in the workers: this module imports nothing heavy (Keras only inside its functions).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["FILE_MODULE_PREFIX", "RegisteringBuild"]

# The prefix of the module names `automl.planning._build` gives the user's files (pickled by value).
FILE_MODULE_PREFIX = "automl_user_build_"


class RegisteringBuild:
    """The user's ``build`` as it is shipped to the workers, with the Keras objects its code registered.

    Ray pickles the user's script (``__main__``) and a file named in
    ``build:`` by value, so the workers never import them and their
    ``@keras.saving.register_keras_serializable()`` decorators never run
    there: a worker would save checkpoints naming custom objects that no
    process can find, and could not load its own checkpoint on resume.
    Unpickling this object registers them in the worker, under the same names,
    before any model is built or loaded.

    Args:
        build: The user's ``build(config) -> keras.Model``.
    """

    def __init__(self, build: Callable[[dict[str, Any]], Any]) -> None:
        self.build = build
        self.objects = _registered_by_value()
        self.__qualname__ = str(getattr(build, "__qualname__", repr(build)))  # errors name the user's function

    def __call__(self, config: dict[str, Any]) -> Any:
        return self.build(config)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        _register(self.objects)


def _registered_by_value() -> dict[str, Any]:
    """The Keras custom objects registered in this process by code Ray ships by value.

    Objects of importable modules are left out: a worker imports their module,
    which registers them.
    """
    if "keras" not in sys.modules:  # nothing can have been registered
        return {}
    import keras

    return {
        name: obj
        for name, obj in keras.saving.get_custom_objects().items()
        if (module := getattr(obj, "__module__", None)) == "__main__"
        or str(module).startswith(FILE_MODULE_PREFIX)
    }


def _register(objects: dict[str, Any]) -> None:
    import keras

    for key, obj in objects.items():
        package, _, name = key.rpartition(">")
        if package:
            keras.saving.register_keras_serializable(package=package, name=name)(obj)
        else:  # put straight into the dictionary, as Keras 2 code did
            keras.saving.get_custom_objects()[key] = obj
