"""Every distinct config of a space, for a grid search.

The space is sampled again and again through a trial that answers each
``suggest_*`` call from a list of choice indices, depth first: when a call is
new, it takes the first value and the other values are queued as branches to
visit. Conditions and stack depths are thus followed as sampling follows them,
so a grid holds each distinct config once (optuna's GridSampler takes the
product of every parameter name, inactive ones included, and repeats configs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from search_spaces._errors import ConfigError

if TYPE_CHECKING:
    from search_spaces._space import Space

__all__ = ["grid_configs"]


class _Branching:
    """A stand-in for ``optuna.Trial`` that replays a path of choices and records new branch points."""

    def __init__(self, path: Sequence[int]) -> None:
        self._path = path
        self.widths: list[int] = []  # options at each call, in call order
        self.params: dict[str, Any] = {}

    def _choose(self, name: str, values: Sequence[Any]) -> Any:
        k = len(self.widths)
        self.widths.append(len(values))
        value = values[self._path[k] if k < len(self._path) else 0]
        self.params[name] = value
        return value

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None
    ) -> float:
        if step is None:
            raise ConfigError(
                f"a grid needs finitely many values, but {name!r} is a continuous range "
                f"[{low}, {high}]{' (log)' if log else ''}; give it a `step` or make it a Categorical.",
                field=f"space.{name}",
            )
        count = round((high - low) / step) + 1
        return float(self._choose(name, [round(low + k * step, 12) for k in range(count)]))

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> int:
        return int(self._choose(name, range(low, high + 1, step)))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._choose(name, list(choices))


def grid_configs(space: Space, *, limit: int = 100_000, strict: bool = True) -> list[dict[str, Any]]:
    """Every distinct config of ``space``, in depth-first order.

    Args:
        space: The space.
        limit: Most configs to enumerate. Defaults to `100_000`.
        strict: Raise when the space has more than ``limit`` configs; else
            return the first ``limit``. Defaults to `True`.

    Raises:
        ConfigError: A float range without a step (infinitely many values),
            or more than ``limit`` configs when ``strict``.
    """
    configs = []
    pending: list[list[int]] = [[]]
    while pending:
        path = pending.pop()
        trial = _Branching(path)
        configs.append(space.sample(trial))  # type: ignore[arg-type]  # duck-typed trial
        if len(configs) > limit:
            if strict:
                raise ConfigError(
                    f"a grid search needs at most {limit:,} distinct configs, but this space has more; "
                    "use fewer values, or a sampler such as 'tpe' or 'random'.",
                    field="space",
                )
            return configs[:limit]
        # Every other value of each call made after the replayed path is a branch to visit.
        for k in range(len(trial.widths) - 1, len(path) - 1, -1):
            for alternative in range(trial.widths[k] - 1, 0, -1):
                pending.append([*_taken(path, trial.widths, k), alternative])
    return configs


def _taken(path: Sequence[int], widths: Sequence[int], k: int) -> list[int]:
    """The choice indices of the first ``k`` calls (0 past the replayed path)."""
    return [path[i] if i < len(path) else 0 for i in range(k)]
