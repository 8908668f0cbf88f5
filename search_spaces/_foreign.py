"""Names from KerasTuner, Ray Tune and Optuna, and what they are called here.

Users port scripts from those tools; a setting spelled their way (``n_trials``,
``scheduler.max_t``, ``sampling="log"``) or one of their search-space objects
(``tune.loguniform(1e-4, 1e-2)``) would otherwise be refused as merely
unknown. Every place that refuses an unknown name or value looks it up here
and appends the equivalent. The table lives in the lowest package because
the space refuses foreign values itself; `automl` reads the rest of it.
Nothing here imports Ray or Optuna: their objects are recognized only when
the user's code has imported the library already.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["BUILD_HINT", "FOREIGN_NAMES", "foreign_hint", "foreign_value_hint"]

_KT, _RAY, _OPTUNA = "KerasTuner", "Ray Tune", "Optuna"
_TRIALS = "the number of trials is 'num_trials'"
_CONCURRENT = "the cap on trials running at once is 'max_concurrent_trials'"
_RESOURCES = "a trial's share of a node is 'resources_per_trial', e.g. {'cpu': 2, 'gpu': 0.5}"
_SPACE = "the search space is 'space' (a search_spaces.Space, or its dict form in a file)"
_IN_SCHEDULER = "{name} is a scheduler setting: scheduler={{'name': 'asha', '{name}': ...}}"
_TOP_EPOCHS = "automl takes the trials' length from the top-level 'epochs'"

# Where a name is refused → name → (the tool that spells it so, our equivalent).
FOREIGN_NAMES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    # Keys of an experiment file and keyword arguments of `automl.tune`.
    "experiment": {
        "n_trials": (_OPTUNA, _TRIALS),
        "max_trials": (_KT, _TRIALS),
        "num_samples": (_RAY, _TRIALS),
        "timeout": (_OPTUNA, "the wall-time budget is 'time_budget_s' (seconds)"),
        "max_epochs": (_KT, "the most epochs per trial is 'epochs'"),
        "max_t": (_RAY, _TOP_EPOCHS),
        "stop": (
            _RAY,
            "a trial stops after 'epochs' (or early, by 'patience'); the run after 'time_budget_s'",
        ),
        "objective": (_KT, "the objective is 'metric' (e.g. 'val_accuracy') with 'mode' ('min' or 'max')"),
        "direction": (_OPTUNA, "the direction is 'mode': 'min' or 'max'"),
        "directions": (_OPTUNA, "several objectives are lists: metric=[...] with mode=[...]"),
        "search_alg": (
            _RAY,
            "the sampler is 'sampler' (e.g. 'tpe', or {'name': 'tpe', 'multivariate': True})",
        ),
        "pruner": (_OPTUNA, "trials are stopped early by 'scheduler' ('asha', 'median', 'hyperband')"),
        "max_concurrent": (_RAY, _CONCURRENT),
        "n_jobs": (_OPTUNA, _CONCURRENT),
        "resources": (_RAY, _RESOURCES),
        "num_cpus": (_RAY, _RESOURCES),
        "num_gpus": (_RAY, _RESOURCES),
        "param_space": (_RAY, _SPACE),
        "config": (_RAY, _SPACE),
        "hyperparameters": (_KT, _SPACE),
        "hypermodel": (_KT, "your model function is 'build' (build(config) -> keras.Model)"),
        "grace_period": (_RAY, _IN_SCHEDULER.format(name="grace_period")),
        "reduction_factor": (_RAY, _IN_SCHEDULER.format(name="reduction_factor")),
        "brackets": (_RAY, _IN_SCHEDULER.format(name="brackets")),
        "factor": (_KT, "Hyperband's factor is scheduler={'name': 'hyperband', 'reduction_factor': ...}"),
        "time_attr": (_RAY, "time is counted in epochs; there is nothing to set"),
        "local_dir": (_RAY, "run directories go under 'storage_path'"),
        "directory": (_KT, "run directories go under 'storage_path'"),
        "project_name": (_KT, "the run's directory (and MLflow parent run) is 'name'"),
        "study_name": (_OPTUNA, "trials are grouped in the MLflow experiment 'experiment_name'"),
        "storage": (_OPTUNA, "trials are recorded in MLflow at 'tracking_uri'"),
        "batch_size": (_KT, "the batch size is a space entry: batch_size=Int(...) or a fixed value"),
        "validation_data": (
            _KT,
            "validation data goes with the data: trainers.from_arrays(x, y, validation_data=...)",
        ),
    },
    # Settings of a `scheduler` mapping.
    "scheduler": {
        "max_t": (_RAY, _TOP_EPOCHS),
        "max_epochs": (_KT, _TOP_EPOCHS),
        "max_resource": (_OPTUNA, _TOP_EPOCHS),
        "min_resource": (_OPTUNA, "the epochs every trial gets is 'grace_period' (asha, median)"),
        "n_warmup_steps": (_OPTUNA, "the epochs every trial gets is 'grace_period' (asha, median)"),
        "n_startup_trials": (_OPTUNA, "the trials the median rule waits for is 'min_samples_required'"),
        "time_attr": (_RAY, "time is counted in epochs; there is nothing to set"),
        "metric": (_RAY, "the scheduler watches the top-level 'metric'"),
        "mode": (_RAY, "the scheduler follows the top-level 'mode'"),
        "factor": (_KT, "the fraction of trials kept is set by 'reduction_factor'"),
        "hyperparam_mutations": (
            _RAY,
            "pbt's 'mutate' lists space entries; their ranges come from the space",
        ),
    },
    # Settings of a `sampler` mapping.
    "sampler": {
        "seed": (_OPTUNA, "automl seeds the sampler (and every trial's fit) from the top-level 'seed'"),
        "metric": (_RAY, "the sampler optimizes the top-level 'metric'"),
        "mode": (_RAY, "the sampler follows the top-level 'mode'"),
        "space": (_RAY, "the sampler samples the top-level 'space'"),
        "points_to_evaluate": (_RAY, "configs to run first are the top-level 'points_to_evaluate'"),
        "evaluated_rewards": (_RAY, "known scores are the top-level 'evaluated_points' ([{config, value}])"),
        "sampler": (_RAY, "the sampler is chosen by 'name' ('tpe', 'random', ...)"),
        "search_space": (_OPTUNA, "name 'grid' enumerates the space itself"),
    },
    # Sampler names, or the class of a sampler object, by their class names.
    "sampler name": {
        "TPESampler": (_OPTUNA, "this sampler is 'tpe'"),
        "RandomSampler": (_OPTUNA, "this sampler is 'random'"),
        "CmaEsSampler": (_OPTUNA, "this sampler is 'cmaes'"),
        "GPSampler": (_OPTUNA, "this sampler is 'gp'"),
        "NSGAIISampler": (_OPTUNA, "this sampler is 'nsga2'"),
        "GridSampler": (_OPTUNA, "this sampler is 'grid'"),
        "RandomSearch": (_KT, "this sampler is 'random'"),
        "BayesianOptimization": (_KT, "this sampler is 'gp' (or 'tpe')"),
        "GridSearch": (_KT, "this sampler is 'grid'"),
        "OptunaSearch": (_RAY, "automl samples with Optuna already: name its sampler ('tpe', 'random', ...)"),
        "BasicVariantGenerator": (_RAY, "this sampler is 'random'"),
    },
    # Scheduler names, or the class of a scheduler or pruner object.
    "scheduler name": {
        "ASHAScheduler": (_RAY, "this scheduler is 'asha', its settings in a mapping: {'name': 'asha', ...}"),
        "AsyncHyperBandScheduler": (_RAY, "this scheduler is 'asha', its settings in a mapping"),
        "HyperBandScheduler": (_RAY, "this scheduler is 'hyperband', its settings in a mapping"),
        "MedianStoppingRule": (_RAY, "this scheduler is 'median', its settings in a mapping"),
        "PopulationBasedTraining": (_RAY, "this scheduler is 'pbt', its settings in a mapping"),
        "FIFOScheduler": (_RAY, "this scheduler is 'fifo'"),
        "Hyperband": (_KT, "this scheduler is 'hyperband'"),
        "MedianPruner": (_OPTUNA, "trials are pruned by the scheduler 'median'"),
        "SuccessiveHalvingPruner": (_OPTUNA, "trials are pruned by the scheduler 'asha'"),
        "HyperbandPruner": (_OPTUNA, "trials are pruned by the scheduler 'hyperband'"),
        "NopPruner": (_OPTUNA, "no pruning is the scheduler 'fifo'"),
    },
    # Keys of a parameter's dict form, keyword arguments of Float, Int and Categorical.
    "parameter": {
        "sampling": (_KT, "write log=True (log: true in YAML) for sampling='log'; 'linear' is the default"),
        "min_value": (_KT, "the lower bound is 'low' (inclusive)"),
        "max_value": (_KT, "the upper bound is 'high' (inclusive)"),
        "lower": (_RAY, "the lower bound is 'low' (inclusive)"),
        "upper": (_RAY, "the upper bound is 'high' (inclusive)"),
        "q": (_RAY, "the quantization is 'step'"),
        "values": (_KT, "a categorical's values are 'choices'"),
        "name": (_KT, "a parameter is named by its entry's key in the space"),
        "parent_name": (_KT, "a conditional parameter takes when={'parent': [values]}"),
        "parent_values": (_KT, "a conditional parameter takes when={'parent': [values]}"),
    },
    # Values of a parameter's `type` in a file.
    "parameter type": {
        "uniform": (_RAY, "a uniform float is type: float"),
        "loguniform": (_RAY, "a log-uniform float is type: float with log: true"),
        "quniform": (_RAY, "a quantized float is type: float with step"),
        "randint": (_RAY, "an int range is type: int (both bounds inclusive)"),
        "choice": (_KT, "a choice is type: categorical with choices: [...]"),
    },
    # Keys of `resources_per_trial`.
    "resources": {
        "CPU": (_RAY, "CPUs are 'cpu'"),
        "cpus": (_RAY, "CPUs are 'cpu'"),
        "num_cpus": (_RAY, "CPUs are 'cpu'"),
        "GPU": (_RAY, "GPUs are 'gpu'"),
        "gpus": (_RAY, "GPUs are 'gpu'"),
        "num_gpus": (_RAY, "GPUs are 'gpu'"),
        "TPU": (_RAY, "TPUs are 'tpu'"),
    },
}


def foreign_hint(context: str, name: object) -> str:
    """``"; <our equivalent> (<tool>'s <name>)"`` for a name another tool uses there, or ``""``."""
    entry = FOREIGN_NAMES[context].get(name) if isinstance(name, str) else None
    return f"; {entry[1]} ({entry[0]}'s {name})" if entry else ""


# What to write instead of a Python object in the space.
BUILD_HINT = "put Python objects in build(config); the space holds values that round-trip through YAML"


def foreign_value_hint(value: Any) -> tuple[str, str] | None:
    """What ``value`` is and what to write instead, if it belongs to another tool or to Python code.

    Ray Tune's search-space objects and Optuna's distributions are spelled out
    with the equivalent parameter and their own bounds
    (``tune.loguniform(1e-4, 1e-2)`` → ``Float(0.0001, 0.01, log=True)``); a
    Python object (a function, a loss, a class) is sent to ``build(config)``.
    ``None`` for anything else.
    """
    ray = sys.modules.get("ray.tune.search.sample")  # loaded whenever such an object exists
    if ray is not None and isinstance(value, ray.Domain):
        return _ray_hint(ray, value)
    distributions = sys.modules.get("optuna.distributions")
    if distributions is not None and isinstance(value, distributions.BaseDistribution):
        return _optuna_hint(distributions, value)
    if (
        isinstance(value, Mapping)
        and list(value) == ["grid_search"]
        and isinstance(value["grid_search"], list)
    ):
        choices = value["grid_search"]
        return (
            f"Ray Tune's grid_search {choices!r}",
            f"write Categorical({choices!r}) ({{type: categorical, choices: {choices!r}}} in a file), "
            "with sampler='grid' to run every config",
        )
    if callable(value) or type(value).__module__.split(".")[0] in ("keras", "tensorflow"):
        return repr(value), BUILD_HINT
    return None


def _number(x: float) -> str:
    return repr(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else repr(x)


def _ray_hint(ray: Any, domain: Any) -> tuple[str, str]:
    sampler = domain.get_sampler()
    q = sampler.q if isinstance(sampler, ray.Quantized) else None
    inner = sampler.get_sampler() if q is not None else sampler
    log = isinstance(inner, ray.LogUniform)
    prefix = "q" if q is not None else ""
    if isinstance(domain, ray.Categorical):
        return f"Ray Tune's tune.choice({domain.categories!r})", f"write Categorical({domain.categories!r})"
    if isinstance(domain, ray.Float) and isinstance(inner, ray.Normal):
        return (
            f"Ray Tune's tune.randn({inner.mean!r}, {inner.sd!r})",
            "a normal prior has no equivalent: write Float(low, high) over the range to search",
        )
    if isinstance(domain, ray.Float):
        low, high = _number(domain.lower), _number(domain.upper)
        theirs = f"tune.{prefix}{'log' if log else ''}uniform({low}, {high}{'' if q is None else f', {q!r}'})"
        return f"Ray Tune's {theirs}", f"write {_ours('Float', low, high, log, q)}"
    if isinstance(domain, ray.Integer):
        theirs = f"tune.{prefix}{'log' if log else ''}randint({domain.lower}, {domain.upper}"
        theirs += ")" if q is None else f", {q})"
        step = q or 1
        low = math.ceil(domain.lower / step) * step
        # randint's upper bound is exclusive, a quantized one inclusive (q=1 aside); ours are inclusive.
        high = domain.upper - 1 if step == 1 else math.floor(domain.upper / step) * step
        return (
            f"Ray Tune's {theirs}",
            f"write {_ours('Int', str(low), str(high), log, None if step == 1 else step)}",
        )
    return (
        f"Ray Tune's {type(domain).__name__} domain (tune.sample_from?)",
        "compute values derived from the config in build(config)",
    )


def _ours(kind: str, low: str, high: str, log: bool, step: Any) -> str:
    extra = ", log=True" if log else "" if step is None else f", step={step!r}"
    note = " (a log scale takes no step here)" if log and step is not None else ""
    return f"{kind}({low}, {high}{extra}){note}"


def _optuna_hint(distributions: Any, dist: Any) -> tuple[str, str]:
    theirs = f"Optuna's {dist!r}"
    if isinstance(dist, distributions.CategoricalDistribution):
        return theirs, f"write Categorical({list(dist.choices)!r})"
    if isinstance(dist, (distributions.FloatDistribution, distributions.IntDistribution)):
        kind = "Int" if isinstance(dist, distributions.IntDistribution) else "Float"
        step = None if kind == "Int" and dist.step == 1 else dist.step
        return theirs, "write " + _ours(kind, _number(dist.low), _number(dist.high), dist.log, step)
    return theirs, "write a Float, Int or Categorical"
