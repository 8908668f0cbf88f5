"""A trial's resources in Ray's names, and the check that some node of a cluster can hold one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from search_spaces import ConfigError

__all__ = ["check_fits", "ray_resources"]

# resources_per_trial keys → Ray's resource names (a TPU is Ray's custom resource "TPU").
_RAY_NAMES = {"cpu": "CPU", "gpu": "GPU", "tpu": "TPU", "memory": "memory"}


def ray_resources(resources: Mapping[str, float]) -> dict[str, float]:
    return {_RAY_NAMES[k]: float(v) for k, v in resources.items()}


def check_fits(resources: Mapping[str, float], nodes: Iterable[Mapping[str, float]]) -> None:
    """Raises unless one of ``nodes`` (each a live node's total resources, in Ray's names) holds a trial.

    Ray would otherwise wait forever for a node that never comes (on a
    cluster without autoscaling).

    Raises:
        ConfigError: No node has every resource a trial asks for.
    """
    need = {k: v for k, v in ray_resources(resources).items() if v > 0}
    nodes = list(nodes)
    if any(all(node.get(k, 0) >= v for k, v in need.items()) for node in nodes):
        return
    shown = [{k: node.get(k, 0) for k in need} for node in nodes]
    raise ConfigError(
        f"a trial asks for {dict(resources)}, but no node of the Ray cluster has that much "
        f"(nodes: {shown}); lower resources_per_trial or add a larger node.",
        field="resources_per_trial",
    )
