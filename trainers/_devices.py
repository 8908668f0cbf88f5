"""Sizing TensorFlow to the resources a trial was given, and choosing its distribution strategy."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

__all__ = ["configure_threads", "distribution_strategy", "enable_memory_growth"]


def configure_threads(num_cpus: int) -> bool:
    """Sizes TF's intra- and inter-op thread pools to ``num_cpus``.

    TF fixes its pools when its runtime starts, so this only takes effect
    before the first op of the process. In a reused worker every trial asks
    for the same CPUs, so later calls with the same value are no-ops.

    Returns:
        Whether the pools now have ``num_cpus`` threads.
    """
    threads = max(1, int(num_cpus))
    threading = tf.config.threading
    if threading.get_intra_op_parallelism_threads() == threads:
        return True
    try:
        threading.set_intra_op_parallelism_threads(threads)
        threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started with other pool sizes
        return False
    return True


def enable_memory_growth() -> list[str]:
    """Lets each visible GPU's memory grow as needed instead of being taken whole at start.

    Without it the first trial on a GPU reserves nearly all of its memory, and
    other trials given a fraction of the same GPU (``{"gpu": 0.5}``) fail to
    allocate. Like the thread pools, this must happen before the runtime
    starts; a GPU the runtime already holds keeps its setting.

    Returns:
        The GPUs that grow as needed (none on a CPU-only machine).
    """
    growing = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialized: its setting stays
            if not tf.config.experimental.get_memory_growth(gpu):
                continue
        growing.append(gpu.name)
    return growing


def distribution_strategy(
    *, tpu: bool = False, devices: Sequence[str] | None = None
) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy for the devices a trial was given.

    A TPU (when the trial was given one): ``TPUStrategy``. Several devices
    (the GPUs Ray made visible, or ``devices``): ``MirroredStrategy``, one
    replica per device, the batch split between them. One GPU or only CPUs:
    TensorFlow's default strategy.

    Args:
        tpu: The trial was given a TPU (Ray's ``TPU`` resource). Defaults to `False`.
        devices: Devices to mirror across, e.g. ``["/gpu:0", "/gpu:1"]``.
            Defaults to `None` (the visible GPUs).
    """
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu="local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if devices is None:
        devices = [device.name for device in tf.config.list_logical_devices("GPU")]
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy(devices=list(devices))
    return tf.distribute.get_strategy()
