"""`EpochSummaries`: a fit's epoch scalars as TensorBoard event files, read back with TensorBoard's own reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from trainers import FitSettings, load_sklearn, train
from trainers._callbacks import EpochSummaries

CONFIG = {
    "layers": [{"type": "dense", "units": 16, "activation": "relu", "dropout": 0.0}],
    "learning_rate": 3e-3,
    "batch_size": 64,
}


def scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Tag → (step, value) per event, as TensorBoard reads ``directory``'s event files."""
    events = EventAccumulator(str(directory), size_guidance={TENSORS: 0})
    events.Reload()
    return {
        tag: [(event.step, float(make_ndarray(event.tensor_proto))) for event in events.Tensors(tag)]
        for tag in events.Tags()["tensors"]
    }


@pytest.fixture(scope="module")
def digits():
    return load_sklearn("digits")


def test_each_epoch_writes_its_metrics_and_learning_rate_with_the_epoch_as_step(digits, tmp_path):
    settings = FitSettings(epochs=3, patience=10)
    outcome = train(
        CONFIG,
        digits,
        settings=settings,
        checkpoint_dir=tmp_path / "ckpt",
        callbacks=[EpochSummaries(tmp_path / "tb")],
    )

    train_scalars = scalars(tmp_path / "tb" / "train")
    validation = scalars(tmp_path / "tb" / "validation")
    assert set(train_scalars) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    for tag, name in [("epoch_loss", "loss"), ("epoch_accuracy", "accuracy")]:
        assert [step for step, _ in train_scalars[tag]] == [1, 2, 3]
        assert [value for _, value in train_scalars[tag]] == pytest.approx(outcome.history[name])
        assert [value for _, value in validation[tag]] == pytest.approx(outcome.history[f"val_{name}"])
    assert [value for _, value in train_scalars["epoch_learning_rate"]] == pytest.approx([3e-3] * 3)


def test_a_resumed_fit_goes_on_counting_steps_from_its_checkpoint(digits, tmp_path):
    tb = tmp_path / "tb"
    first = FitSettings(epochs=2, patience=10)
    train(CONFIG, digits, settings=first, checkpoint_dir=tmp_path / "a", callbacks=[EpochSummaries(tb)])
    later = FitSettings(epochs=4, patience=10)
    outcome = train(
        CONFIG,
        digits,
        settings=later,
        checkpoint_dir=tmp_path / "b",
        resume_from=tmp_path / "a",
        callbacks=[EpochSummaries(tb)],
    )

    losses = scalars(tb / "train")["epoch_loss"]
    assert [step for step, _ in losses] == [1, 2, 3, 4]
    assert [value for _, value in losses] == pytest.approx(outcome.history["loss"])
