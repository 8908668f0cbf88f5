"""A run's Ray Tune `Tuner`: the trainable, the searcher (or PBT's population), the scheduler and the callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback
from ray.tune.search import BasicVariantGenerator

from automl._result import TRIAL_DIR_PREFIX
from automl.execution._resources import ray_resources
from automl.execution._searcher import STUDY_NAME, EndedTrials, FlatSample, Searcher, seeded_storage
from automl.execution._shipped_build import RegisteringBuild
from automl.execution._trainable import KeepNewestCheckpoints, run_trial
from automl.tracking._artifacts import ImportsForArtifacts
from automl.tracking._plots import PlotProcess
from automl.tracking._tracking import MlflowTracker
from search_spaces import Space
from search_spaces._hypermodel import HyperModelSpace

if TYPE_CHECKING:
    from automl.execution._runner import Run, RunBase

__all__ = ["new_tuner", "trainable", "trial_id"]

def _trial_dirname(trial: Any) -> str:
    # Ray's default name spells out the whole config and overflows paths.
    return f"{TRIAL_DIR_PREFIX}{trial.trial_id}"


def trial_id(trial_path: str) -> str:
    """The id of the trial whose directory is ``trial_path`` (named by `_trial_dirname`)."""
    return Path(trial_path).name.removeprefix(TRIAL_DIR_PREFIX)


def trainable(run: RunBase, run_dir: Path) -> Any:
    """`run_trial` with the run's space, data and settings (shipped through Ray's object store once)."""
    with_data = tune.with_parameters(
        run_trial,
        run_dir=run_dir,
        space=run.space,
        data=run.data,
        settings=run.settings,
        callbacks=run.callbacks,
        build=_shipped_build(run),
        memory_limit=run.resources.get("memory"),
        tensorboard=run.tensorboard,
    )
    return tune.with_resources(with_data, ray_resources(run.resources))


def _shipped_build(run: RunBase) -> RegisteringBuild | None:
    """The user's build (a hypermodel's too), registering in the workers the Keras objects its code registered."""
    if isinstance(run.space, HyperModelSpace):
        return RegisteringBuild(run.space.hypermodel.build)
    return RegisteringBuild(run.build) if run.build is not None else None


def new_tuner(
    run: Run, *, name: str, run_dir: Path, tracker: MlflowTracker, plots: PlotProcess | None = None
) -> tune.Tuner:
    """The `Tuner` of a new run named ``name``, its trials recorded by ``tracker``, its plots drawn by ``plots``."""
    pbt = run.scheduler.name == "pbt"
    population = _population(run) if pbt else []
    callbacks = [
        tracker,
        ImportsForArtifacts(run.num_trials, run.time_budget_s, plots),
        CSVLoggerCallback(),  # Ray's per-trial progress.csv and result.json,
        JsonLoggerCallback(),  # but not its TensorBoard files (see `RunEnd`)
        # PBT hands a trial another's checkpoint, perhaps several epochs old: keep them all.
        *([] if pbt else [KeepNewestCheckpoints()]),
    ]
    return tune.Tuner(
        trainable(run, run_dir),
        param_space=_param_space(run.space, population),
        tune_config=_tune_config(run, population),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(run.storage_path),
            callbacks=callbacks,
            failure_config=tune.FailureConfig(max_failures=run.max_failures),
            stop=EndedTrials(),
            verbose=0,
        ),
    )


def _population(run: Run) -> list[dict[str, Any]]:
    """PBT's starting configs, flat: the points to evaluate, then the sampler's picks.

    Ray's PBT takes no search algorithm (it evolves configs itself), so the
    sampler picks the whole population up front, with no scores to learn
    from: TPE's start-up trials are random, QMC spreads them out.
    """
    study = optuna.create_study(sampler=run.sampler)
    for params in run.points_to_evaluate:
        study.enqueue_trial(params)
    sample = FlatSample(run.space)
    return [sample(study.ask()) for _ in range(run.num_trials)]


def _param_space(space: Space, population: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Ray's param space: only PBT's (OptunaSearch samples define-by-run).

    Ray accepts a starting config only over keys of the param space, and
    warns about values outside it: each flat key gets the population's values.
    """
    if not population:
        return None
    values: dict[str, list[Any]] = {key: [] for key in space.flat_keys()}
    for config in population:
        for key, value in config.items():
            if value not in values[key]:
                values[key].append(value)
    return {key: tune.choice(choices) for key, choices in values.items()}


def _search_alg(run: Run, population: list[dict[str, Any]]) -> Any:
    if population:
        return BasicVariantGenerator(points_to_evaluate=population)
    storage = None
    if run.known_points:
        storage = seeded_storage(
            run.known_points,
            direction=run.settings.mode,
            sample=FlatSample(run.space),
            study_name=STUDY_NAME,
        )
    several = bool(run.extra_objectives)  # one objective as a string: OptunaSearch treats a list as several
    return Searcher(
        space=FlatSample(run.space),
        sampler=run.sampler,
        metric=[n for n, _ in run.objectives] if several else run.settings.monitor,
        mode=[m for _, m in run.objectives] if several else run.settings.mode,
        points_to_evaluate=run.points_to_evaluate or None,
        storage=storage,
        study_name=STUDY_NAME,
    )


def _tune_config(run: Run, population: list[dict[str, Any]]) -> tune.TuneConfig:
    return tune.TuneConfig(
        metric=run.settings.monitor,
        mode=run.settings.mode,
        search_alg=_search_alg(run, population),
        scheduler=run.scheduler.build(epochs=run.settings.epochs),
        num_samples=run.num_trials,
        max_concurrent_trials=run.max_concurrent_trials,
        time_budget_s=run.time_budget_s,
        reuse_actors=True,  # TF is imported once per worker, not once per trial
        trial_dirname_creator=_trial_dirname,
    )
