"""Samplers and schedulers by name, with their main settings, checked before Ray starts.

A choice is a name (``"tpe"``) or a mapping with the name and settings
(``{"name": "tpe", "multivariate": True}``), the same in Python and in YAML.
Only JSON-able main settings are accepted by name; anything more exotic can be
passed as a ready optuna sampler object.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial

from search_spaces import Categorical, ConfigError, Float, Int, Space
from search_spaces._checks import is_real
from search_spaces._conditions import when_to_dict
from search_spaces._foreign import foreign_hint
from search_spaces._grid import grid_configs
from search_spaces._suggest import unknown_name
from trainers import MUTABLE_ON_RESUME

__all__ = ["SAMPLERS", "SCHEDULERS", "SchedulerChoice", "make_sampler", "parse_scheduler"]


@dataclasses.dataclass(frozen=True)
class _Kind:
    settings: Mapping[str, tuple[type, ...]]  # setting → accepted types
    multi_objective: bool | None = False  # True: only several objectives; None: either
    needs: str | None = None  # a package the factory imports


_INT, _NUM, _BOOL = (int,), (int, float), (bool,)

SAMPLERS: dict[str, _Kind] = {
    "tpe": _Kind(
        {
            "n_startup_trials": _INT,
            "n_ei_candidates": _INT,
            "multivariate": _BOOL,
            "group": _BOOL,
            "consider_endpoints": _BOOL,
            "prior_weight": _NUM,
        },
        multi_objective=None,
    ),
    "random": _Kind({}, multi_objective=None),
    "cmaes": _Kind(
        {
            "n_startup_trials": _INT,
            "sigma0": _NUM,
            "popsize": _INT,
            "restart_strategy": (str,),
            "use_separable_cma": _BOOL,
            "with_margin": _BOOL,
        },
        needs="cmaes",
    ),
    "qmc": _Kind({"qmc_type": (str,), "scramble": _BOOL}, multi_objective=None),
    "gp": _Kind({"n_startup_trials": _INT, "deterministic_objective": _BOOL}, needs="torch"),
    "nsga2": _Kind(
        {"population_size": _INT, "mutation_prob": _NUM, "crossover_prob": _NUM, "swapping_prob": _NUM},
        multi_objective=True,
    ),
    "grid": _Kind({"shuffle": _BOOL}, multi_objective=None),
}

SCHEDULERS: dict[str, _Kind] = {
    "asha": _Kind({"grace_period": _INT, "reduction_factor": _NUM, "brackets": _INT}),
    "hyperband": _Kind({"reduction_factor": _NUM}),
    "median": _Kind({"grace_period": _INT, "min_samples_required": _INT}),
    "pbt": _Kind(
        {
            "perturbation_interval": _INT,
            "burn_in_period": _INT,
            "quantile_fraction": _NUM,
            "resample_probability": _NUM,
            "synch": _BOOL,
            "mutate": (list, tuple),
        }
    ),
    "fifo": _Kind({}),
}
_PBT_INTERVAL = 2  # epochs between PBT's exploit/explore steps, unless set


def _parse(choice: Any, field: str, kinds: Mapping[str, _Kind]) -> tuple[str, dict[str, Any]]:
    """Splits a choice into its name and settings, checking both."""
    if isinstance(choice, str):
        name, settings = choice, {}
    elif isinstance(choice, Mapping) and "name" in choice:
        name, settings = choice["name"], {k: v for k, v in choice.items() if k != "name"}
    else:  # another tool's object, e.g. Ray's ASHAScheduler(...), is named by its class
        raise ConfigError(
            f"expected a name or a mapping with a `name` key, but got {choice!r}; "
            f"accepted names: {list(kinds)}{foreign_hint(f'{field} name', type(choice).__name__)}.",
            field=field,
        )
    if name not in kinds:
        raise ConfigError(
            unknown_name(f"unknown {field} {name!r}", name, list(kinds), f"{field} name"), field=field
        )
    accepted = kinds[name].settings
    for key, value in settings.items():
        if key not in accepted:
            message = unknown_name(f"unknown setting {key!r} for {name}", key, sorted(accepted), field)
            elsewhere = [other for other, kind in kinds.items() if key in kind.settings]
            if elsewhere and not foreign_hint(field, key):
                message = f"{message[:-1]}; {key!r} is a setting of {elsewhere}."
            raise ConfigError(message, field=f"{field}.{key}")
        types = accepted[key]
        ok = isinstance(value, types) and (bool not in types) == (not isinstance(value, bool))
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            names = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"expected {names}, but got {value!r}.", field=f"{field}.{key}")
    return name, settings


def _sampler_factory(name: str) -> Callable[..., optuna.samplers.BaseSampler]:
    return {
        "tpe": optuna.samplers.TPESampler,
        "random": optuna.samplers.RandomSampler,
        "cmaes": optuna.samplers.CmaEsSampler,
        "qmc": optuna.samplers.QMCSampler,
        "gp": optuna.samplers.GPSampler,
        "nsga2": optuna.samplers.NSGAIISampler,
    }[name]


class GridSampler(optuna.samplers.BaseSampler):
    """Runs each distinct config of a space once: trial ``n`` takes grid point ``n``.

    Unlike optuna's GridSampler, the grid is made of whole configs (conditions
    and stack depths followed, no duplicates), and nothing calls
    ``study.stop()``, which Ray's ask-and-tell loop does not allow; the trial
    count ends the search.

    Args:
        points: The optuna params of each config, in the order to run them.
    """

    def __init__(self, points: Sequence[Mapping[str, Any]]) -> None:
        self._points = [dict(p) for p in points]

    def __len__(self) -> int:
        return len(self._points)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        point = self._points[trial.number % len(self._points)]
        return point[param_name]


def _grid(space: Space | None, num_trials: int | None, seed: int | None, shuffle: bool = True) -> GridSampler:
    if space is None or num_trials is None:
        raise ConfigError("a grid search needs the space and the trial count.", field="sampler")
    configs = grid_configs(space)
    if num_trials > len(configs):
        raise ConfigError(
            f"the grid has {len(configs)} distinct configs and each runs once, but got "
            f"num_trials={num_trials}; set num_trials <= {len(configs)}.",
            field="num_trials",
        )
    if shuffle:  # with fewer trials than configs, a shuffled grid covers the space evenly
        random.Random(seed).shuffle(configs)
    return GridSampler([space.params_of(c) for c in configs])


def make_sampler(
    sampler: str | Mapping[str, Any] | optuna.samplers.BaseSampler,
    *,
    seed: int | None,
    num_objectives: int = 1,
    space: Space | None = None,
    num_trials: int | None = None,
) -> optuna.samplers.BaseSampler:
    """An optuna sampler from its name and settings, or the given sampler object unchanged.

    Args:
        sampler: A name, a mapping with the name and settings, or a sampler.
        seed: Seed of the sampler.
        num_objectives: How many values each trial reports. Defaults to `1`.
        space: The space; a grid search enumerates it. Defaults to `None`.
        num_trials: The trial count; a grid checks it. Defaults to `None`.

    Raises:
        ConfigError: The name or a setting is unknown or invalid, the sampler
            does not fit the number of objectives or the space (a grid over
            a continuous range), or a package it needs is missing.
    """
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    name, settings = _parse(sampler, "sampler", SAMPLERS)
    if name == "grid":
        return _grid(space, num_trials, seed, **settings)
    kind = SAMPLERS[name]
    if kind.multi_objective is True and num_objectives == 1:
        raise ConfigError(
            f"{name} needs several objectives, but got one; use 'tpe' for a single objective.",
            field="sampler",
        )
    if kind.multi_objective is False and num_objectives > 1:
        raise ConfigError(
            f"{name} optimizes one objective, but got {num_objectives}; accepted for several: "
            f"{[n for n, k in SAMPLERS.items() if k.multi_objective is not False]}.",
            field="sampler",
        )
    if kind.needs and importlib.util.find_spec(kind.needs) is None:
        raise ConfigError(
            f"the {name} sampler needs the `{kind.needs}` package: pip install {kind.needs}.", field="sampler"
        )
    try:
        return _sampler_factory(name)(seed=seed, **settings)
    except ValueError as exc:  # optuna's own consistency checks, e.g. group without multivariate
        raise ConfigError(f"optuna rejected these settings: {exc}", field="sampler") from exc


@dataclasses.dataclass(frozen=True)
class _KeepInSpace:
    """PBT's explore step, finished: a perturbed value (old * 0.8 or 1.2) is put back into its range.

    Ray multiplies a numeric value without looking at its bounds, so a learning
    rate could drift out of the space, and an Int off its step.
    """

    params: Mapping[str, Float | Int]

    def __call__(self, config: dict[str, Any]) -> dict[str, Any]:
        for key, param in self.params.items():
            value = min(max(config[key], param.low), param.high)
            step = param.step
            if step is not None:
                value = param.low + round((value - param.low) / step) * step
            config[key] = int(value) if isinstance(param, Int) else float(value)
        return config


@dataclasses.dataclass(frozen=True)
class SchedulerChoice:
    """A validated scheduler choice; `build` makes the Ray Tune scheduler.

    ``mutations`` are PBT's: the space's parameters it changes as trials train.
    """

    name: str
    settings: Mapping[str, Any]
    mutations: Mapping[str, Float | Int | Categorical] = dataclasses.field(default_factory=dict)

    @property
    def pauses_trials(self) -> bool:
        """Whether trials go on from their newest checkpoint mid-run (a pause, or PBT's exploit).

        Such a checkpoint must be the trial's latest epoch: they checkpoint every epoch.
        """
        return self.name in ("hyperband", "pbt")

    def build(self, *, epochs: int) -> Any:
        """The Ray Tune scheduler, counting time in epochs.

        ASHA and HyperBand let a trial that reaches ``epochs`` end by itself, so
        only real pruning stops one (and is recorded as PRUNED).
        """
        from ray.tune import schedulers

        common: dict[str, Any] = {"time_attr": "epoch"}  # metric and mode come from tune.TuneConfig
        if self.name == "asha":
            return schedulers.ASHAScheduler(**common, max_t=epochs, stop_last_trials=False, **self.settings)
        if self.name == "hyperband":
            from automl.execution._hyperband import HyperBand

            return HyperBand(**common, max_t=epochs, stop_last_trials=False, **self.settings)
        if self.name == "median":
            return schedulers.MedianStoppingRule(**common, **self.settings)
        if self.name == "pbt":
            settings = {k: v for k, v in self.settings.items() if k != "mutate"}
            settings.setdefault("perturbation_interval", min(_PBT_INTERVAL, epochs))
            return schedulers.PopulationBasedTraining(
                **common,
                hyperparam_mutations={k: _ray_domain(p) for k, p in self.mutations.items()},
                custom_explore_fn=_KeepInSpace(
                    {k: p for k, p in self.mutations.items() if not isinstance(p, Categorical)}
                ),
                **settings,
            )
        return schedulers.FIFOScheduler()


def _ray_domain(param: Float | Int | Categorical) -> Any:
    """What PBT resamples a parameter from: a Ray Tune domain, or the list of choices."""
    from ray import tune

    if isinstance(param, Categorical):
        return list(param.choices)  # PBT moves to a neighbouring choice, or resamples
    if isinstance(param, Int):
        return (tune.lograndint if param.log else tune.randint)(param.low, param.high + 1)
    return (tune.loguniform if param.log else tune.uniform)(param.low, param.high)


def _pbt_mutations(space: Space, mutate: Sequence[Any] | None) -> dict[str, Float | Int | Categorical]:
    """The space's parameters PBT may change while a trial trains, checked against the trainer."""
    searched: dict[str, Float | Int | Categorical] = {}
    for key in MUTABLE_ON_RESUME:
        node = space[key] if key in space else None
        if isinstance(node, (Float, Int, Categorical)):
            searched[key] = node
    if mutate is None:
        if not searched:
            raise ConfigError(
                f"pbt changes {list(MUTABLE_ON_RESUME)} while trials train, but the space searches "
                "none of them; add one (e.g. learning_rate=Float(1e-4, 1e-2, log=True)) or pick "
                "another scheduler.",
                field="scheduler",
            )
        mutate = list(searched)
    if not mutate:
        raise ConfigError("expected at least one parameter to mutate, but got [].", field="scheduler.mutate")
    for i, key in enumerate(mutate):
        field = f"scheduler.mutate.{i}"
        if key not in MUTABLE_ON_RESUME:
            raise ConfigError(
                f"pbt continues a trial from another's checkpoint, where only {list(MUTABLE_ON_RESUME)} "
                f"can change (other settings and the layers are saved in it), but got {key!r}.",
                field=field,
            )
        if key not in searched:
            raise ConfigError(
                f"{key!r} is not searched by the space (it needs a Float, Int or Categorical entry); "
                f"searched and mutable: {list(searched)}.",
                field=field,
            )
        param = searched[key]
        if param.when is not None:
            raise ConfigError(
                f"{key!r} is sampled only when {when_to_dict(param.when)}; pbt mutates parameters "
                "every config has.",
                field=field,
            )
        if isinstance(param, Categorical) and not all(
            is_real(c, plain=True) for c in param.choices
        ):
            raise ConfigError(f"expected numeric choices, but got {list(param.choices)}.", field=field)
    return {key: searched[key] for key in mutate}


def parse_scheduler(
    scheduler: str | Mapping[str, Any], *, epochs: int, space: Space | None = None
) -> SchedulerChoice:
    """Checks a scheduler choice against the epoch budget (and, for PBT, the space).

    Raises:
        ConfigError: The name or a setting is unknown or out of range, or PBT
            would mutate a parameter the space does not search or a trial
            cannot change when it continues from a checkpoint.
    """
    name, settings = _parse(scheduler, "scheduler", SCHEDULERS)
    grace = settings.get("grace_period", 1)
    if not 1 <= grace <= epochs:
        raise ConfigError(
            f"`1 <= grace_period <= epochs` must hold, but got (grace_period={grace}, epochs={epochs}).",
            field="scheduler.grace_period",
        )
    if settings.get("reduction_factor", 2) <= 1:
        raise ConfigError(
            f"`reduction_factor` must be > 1, but got {settings['reduction_factor']!r}.",
            field="scheduler.reduction_factor",
        )
    for key in ("brackets", "min_samples_required"):
        if settings.get(key, 1) < 1:
            raise ConfigError(f"`{key}` must be >= 1, but got {settings[key]!r}.", field=f"scheduler.{key}")
    if name != "pbt":
        return SchedulerChoice(name, settings)
    if space is None:
        raise ConfigError("pbt needs the space to know what it may mutate.", field="scheduler")
    interval = settings.get("perturbation_interval", 1)
    if not 1 <= interval <= epochs:
        raise ConfigError(
            f"`1 <= perturbation_interval <= epochs` must hold, but got "
            f"(perturbation_interval={interval}, epochs={epochs}).",
            field="scheduler.perturbation_interval",
        )
    burn_in = settings.get("burn_in_period", 0)
    if not 0 <= burn_in < epochs:
        raise ConfigError(
            f"`0 <= burn_in_period < epochs` must hold, but got (burn_in_period={burn_in}, epochs={epochs}).",
            field="scheduler.burn_in_period",
        )
    if not 0 < settings.get("quantile_fraction", 0.25) <= 0.5:
        raise ConfigError(
            f"expected a number in (0, 0.5], but got {settings['quantile_fraction']!r}.",
            field="scheduler.quantile_fraction",
        )
    if not 0 <= settings.get("resample_probability", 0.25) <= 1:
        raise ConfigError(
            f"expected a number in [0, 1], but got {settings['resample_probability']!r}.",
            field="scheduler.resample_probability",
        )
    mutations = _pbt_mutations(space, settings.get("mutate"))
    return SchedulerChoice(name, {**settings, "mutate": list(mutations)}, mutations)
