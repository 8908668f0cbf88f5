"""Samplers and schedulers by name, checked before Ray starts."""

from __future__ import annotations

from typing import Any

import optuna

from search_spaces import ConfigError
from search_spaces._suggest import did_you_mean

__all__ = ["SAMPLERS", "SCHEDULERS", "make_sampler", "make_scheduler"]

SAMPLERS = ("tpe", "random")
SCHEDULERS = ("asha", "fifo")


def make_sampler(
    sampler: str | optuna.samplers.BaseSampler, *, seed: int | None
) -> optuna.samplers.BaseSampler:
    """An optuna sampler from its name, or the given sampler object unchanged.

    Raises:
        ConfigError: The name is not one of `SAMPLERS`.
    """
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    if sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(
        f"unknown sampler {sampler!r}{did_you_mean(str(sampler), SAMPLERS)}; "
        f"accepted: {list(SAMPLERS)} or an optuna.samplers.BaseSampler.",
        field="sampler",
    )


def check_scheduler(scheduler: str) -> None:
    if scheduler not in SCHEDULERS:
        raise ConfigError(
            f"unknown scheduler {scheduler!r}{did_you_mean(str(scheduler), SCHEDULERS)}; "
            f"accepted: {list(SCHEDULERS)}.",
            field="scheduler",
        )


def make_scheduler(scheduler: str, *, epochs: int) -> Any:
    """A Ray Tune scheduler that counts time in epochs.

    ASHA keeps Ray's defaults (grace period 1, reduction factor 4) and lets a
    trial that reaches ``epochs`` end by itself, so only real pruning stops one.
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    check_scheduler(scheduler)
    if scheduler == "fifo":
        return FIFOScheduler()
    return ASHAScheduler(time_attr="epoch", max_t=epochs, stop_last_trials=False)
