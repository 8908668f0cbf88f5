"""Sizing TensorFlow to the resources a trial was given."""

from __future__ import annotations

import tensorflow as tf

__all__ = ["configure_threads"]


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
