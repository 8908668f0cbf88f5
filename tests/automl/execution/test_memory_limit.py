"""`MemoryLimit` (``resources_per_trial["memory"]``) on real Keras fits in this process."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from automl.execution._memory_limit import MemoryLimit
from automl.execution._workers import worker_rss_mib
from trainers import TrialFailedError


class _Seen(keras.callbacks.Callback):
    """Records the batches and epochs the fit ran; at ``allocate_at`` it takes ``mib`` MiB and keeps it."""

    def __init__(self, allocate_at: tuple[int, int] | None = None, mib: int = 0) -> None:
        super().__init__()
        self.batches: list[tuple[int, int]] = []
        self.epochs: list[int] = []
        self._epoch = 0
        self._allocate_at = allocate_at
        self._mib = mib
        self.held: np.ndarray | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self._epoch, batch))
        if (self._epoch, batch) == self._allocate_at:
            self.held = np.ones(self._mib * 2**20, dtype=np.uint8)  # written, so resident

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(640, 8)).astype("float32"), rng.integers(0, 2, 640)
    net = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)]
    )
    net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(x, y, batch_size=32, epochs=1, verbose=0)  # traced: later fits add no memory of their own
    return net, x, y


def test_a_worker_already_over_the_limit_fails_before_the_first_batch(model):
    net, x, y = model
    seen = _Seen()
    limit = (worker_rss_mib() - 50) * 2**20
    with pytest.raises(
        TrialFailedError, match=r"MiB before its first batch, over its memory limit of \d+ MiB"
    ):
        net.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[seen, MemoryLimit(limit)])
    assert seen.batches == []


def test_growth_past_the_limit_stops_the_fit_at_the_next_check_and_fails_the_trial_with_the_figures(model):
    net, x, y = model
    limit_mib = worker_rss_mib() + 300
    seen = _Seen(allocate_at=(1, 3), mib=600)  # in the second epoch, between two checks
    with pytest.raises(TrialFailedError) as failed:
        net.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[seen, MemoryLimit(limit_mib * 2**20)])
    message = str(failed.value)
    assert f"in epoch 2, over its memory limit of {limit_mib:.0f} MiB (resources_per_trial.memory)" in message
    used = float(message.split("worker used ")[1].split(" MiB")[0])
    assert used > limit_mib
    # Caught at the check after batch 10 (checks at 0, 10, ...), where Keras stops the epoch.
    assert seen.epochs == [0, 1] and seen.batches[-1] == (1, 10)


def test_a_worker_under_the_limit_trains_to_the_end(model):
    net, x, y = model
    seen = _Seen()
    net.fit(
        x,
        y,
        batch_size=32,
        epochs=2,
        verbose=0,
        callbacks=[seen, MemoryLimit((worker_rss_mib() + 500) * 2**20)],
    )
    assert seen.epochs == [0, 1] and len(seen.batches) == 40
