"""A search space written as KerasTuner code: a ``build_model(hp)`` function or a ``HyperModel``.

Sampling runs the user's code with an ``hp`` bound to the Optuna trial (see
`search_spaces._hyperparameters`); the config is the flat dict of the values
it sampled, under KerasTuner's names. The model built while sampling is
dropped: the trial's worker builds it again from the config.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from search_spaces._errors import ConfigError
from search_spaces._hyperparameters import HyperParameters, fixed_hyperparameters, sampling_hyperparameters
from search_spaces._space import Space

if TYPE_CHECKING:
    import optuna

__all__ = ["FIT_KEYWORDS", "HyperModel", "HyperModelSpace", "as_hypermodel"]

# The keyword arguments a HyperModel.fit gets, after the training arrays (positional, as KerasTuner passes them).
FIT_KEYWORDS = ("validation_data", "epochs", "initial_epoch", "callbacks", "verbose")
# What the trainer calls to fit: (model, x, y, **fit keyword arguments) -> History or metrics.
FitFn = Callable[..., Any]


def _kerastuner_fit(obj: Any) -> Callable[..., Any] | None:
    """KerasTuner's own ``HyperModel.fit`` when ``obj`` is one of its HyperModels, else ``None``."""
    for cls in type(obj).__mro__:
        if cls.__name__ == "HyperModel" and cls.__module__.startswith("keras_tuner"):
            return cls.__dict__.get("fit")
    return None


class HyperModel:
    """The user's hypermodel, as automl calls it: ``build(hp)``, and ``fit(hp, model, ...)`` if overridden.

    Args:
        build: The ``build(hp) -> keras.Model`` function.
        fit: A ``HyperModel.fit(hp, model, *args, **kwargs)`` that overrides
            KerasTuner's (which only calls ``model.fit``). Defaults to `None`.
        name: How errors and records name it.
        ref: The ``'file.py:build_model'`` it was loaded from, which a
            resumed run loads again; `None` for a Python object. Defaults to `None`.
    """

    def __init__(
        self, build: Callable[[Any], Any], fit: Callable[..., Any] | None, name: str, ref: str | None = None
    ) -> None:
        self.build = build
        self.fit = fit
        self.name = name
        self.ref = ref


def as_hypermodel(obj: Any, *, field: str = "hypermodel") -> HyperModel:
    """A function of ``hp``, a ``keras_tuner.HyperModel`` (instance or subclass), or an object with ``build(hp)``.

    A subclass is instantiated with no arguments, as ``MyHyperModel()``.

    Raises:
        ConfigError: ``obj`` is none of these, or its class cannot be made without arguments.
    """
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:  # the user's __init__ needs arguments or raised
            raise ConfigError(
                f"cannot make {obj.__qualname__}() without arguments ({type(exc).__name__}: {exc}); "
                "pass an instance instead.",
                field=field,
            ) from exc
    build = getattr(obj, "build", None)
    if callable(build):
        name = type(obj).__qualname__
        fit = getattr(type(obj), "fit", None)
        if fit is None or fit is _kerastuner_fit(obj):
            return HyperModel(build, None, name)
        return HyperModel(build, obj.fit, name)
    if callable(obj):
        return HyperModel(obj, None, str(getattr(obj, "__qualname__", repr(obj))))
    raise ConfigError(
        f"expected a function build_model(hp), a keras_tuner.HyperModel (instance or subclass) or "
        f"'file.py:build_model', but got {obj!r}.",
        field=field,
    )


class HyperModelSpace(Space):
    """The search space a hypermodel declares as it runs: its config is the flat dict of ``hp.values``.

    Its keys are known only as configs are sampled (a loop may declare
    ``units_0`` ... ``units_2`` in one trial and only ``units_0`` in the next),
    so `flat_keys` is empty and each config has the keys of its own values.

    Args:
        hypermodel: What `as_hypermodel` returns.
        fit_rows: A few rows ``(x, y, x_val, y_val)`` of the data, for
            running an overridden ``HyperModel.fit`` while sampling (its
            ``model.fit`` does not run then), so that the hyperparameters it
            declares are sampled too. Defaults to `None`.
    """

    def __init__(self, hypermodel: HyperModel, *, fit_rows: tuple[Any, Any, Any, Any] | None = None) -> None:
        self._nodes = {}
        self.hypermodel = hypermodel
        self.fit_rows = fit_rows

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HyperModelSpace) and other.hypermodel is self.hypermodel

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HyperModelSpace({self.hypermodel.name})"

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Runs the hypermodel with an ``hp`` bound to ``trial``; returns ``hp.values``."""
        hp = sampling_hyperparameters(trial)
        self.declare(hp)
        return dict(hp.values)

    def declare(self, hp: HyperParameters) -> None:
        """Runs ``build(hp)``, and an overridden ``fit`` without training, so that ``hp`` holds their values."""
        model = self.hypermodel.build(hp)
        if self.hypermodel.fit is not None:
            self._declare_fit_hyperparameters(hp, model)

    def _declare_fit_hyperparameters(self, hp: HyperParameters, model: Any) -> None:
        """Runs the overridden ``fit`` with ``model.fit`` replaced by a no-op: its ``hp`` calls sample.

        What the user's code does with ``model.fit``'s result (a History in
        the trials) cannot run here: an error after the no-op is ignored.
        """
        fit = self.trial_fit(hp)
        if fit is None:
            return
        if self.fit_rows is None:
            raise ConfigError("an overridden HyperModel.fit needs data rows to be sampled.", field="hypermodel")
        x, y, x_val, y_val = self.fit_rows
        called = []

        def no_fit(*args: Any, **kwargs: Any) -> Any:
            called.append(True)

        # An instance attribute shadows the method on this throwaway model only.
        object.__setattr__(model, "fit", no_fit)
        try:
            fit(model, x, y, **dict(zip(FIT_KEYWORDS, ((x_val, y_val), 1, 0, [], 0), strict=True)))
        except Exception:
            if not called:
                raise

    def trial_fit(self, hp: HyperParameters) -> FitFn | None:
        """``fit(model, x, y, **kwargs)`` as KerasTuner calls it, ``hypermodel.fit(hp, model, x, y, **kwargs)``."""
        fit = self.hypermodel.fit
        if fit is None:
            return None

        def call(model: Any, *args: Any, **kwargs: Any) -> Any:
            return fit(hp, model, *args, **kwargs)

        return call

    def trial_parts(self, values: Mapping[str, Any]) -> tuple[Callable[[Any], Any], FitFn | None]:
        """The trial's ``build(config)`` and ``fit``, their ``hp`` holding ``values`` (the trial's config)."""
        hp = fixed_hyperparameters(values)

        def build(config: Any) -> Any:  # the trainer's config holds its settings only
            return self.hypermodel.build(hp)

        build.__qualname__ = self.hypermodel.name
        return build, self.trial_fit(hp)

    # The flat form is the config itself ---------------------------------------------

    def flat_keys(self) -> list[str]:
        return []

    def flatten(self, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(config)

    def unflatten(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        return dict(flat)

    def unflatten_stored(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """A table's row → the config: empty cells (a hyperparameter this trial did not declare) dropped."""
        out = {}
        for key, value in flat.items():
            value = value.item() if hasattr(value, "item") else value
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            out[key] = value
        return out

    def default_config(self, **choices: Any) -> dict[str, Any]:
        raise ConfigError("a hypermodel's space has no default config; its values come from sampling.", field="hypermodel")

    def variants(self) -> list[dict[str, Any]]:
        return []

    def check_input_shape(self, input_shape: Any) -> None:
        """The hypermodel's models are checked once built (see ``automl.planning._hypermodel``)."""

    def params_of(self, config: Mapping[str, Any]) -> dict[str, Any]:
        raise ConfigError(
            "a hypermodel's space cannot enqueue configs (points_to_evaluate, evaluated_points, warm_start).",
            field="hypermodel",
        )

    def to_dict(self) -> dict[str, Any]:
        ref = self.hypermodel.ref
        return {"hypermodel": self.hypermodel.name, **({"ref": ref} if ref is not None else {})}
