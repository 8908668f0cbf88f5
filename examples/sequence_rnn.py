"""An LSTM/GRU stack on seeded synthetic sequences: which of three frequencies is in a noisy signal?

Each sample is 24 time steps of one feature: a sine wave of one of three
frequencies (the class), with a random phase and amplitude, plus Gaussian
noise. The `rnn()` preset searches 1–2 recurrent layers (each an LSTM or a GRU,
and its units) under `recurrent_layers` and 0–1 Dense layers under `layers`;
the trainer sets `return_sequences` so every stack is valid. The same run as
YAML is examples/sequence_rnn.yaml, on examples/data/sequences.npz, which this
script writes (`--write-data`) from the same seed.

    python examples/sequence_rnn.py --trials 8 --epochs 15
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import automl
from search_spaces import rnn
from trainers import from_arrays

FREQUENCIES = (1.0, 2.0, 3.5)  # cycles per sequence, one per class
DATA_FILE = Path(__file__).resolve().parent / "data" / "sequences.npz"


def make_sequences(n: int = 1200, length: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``x`` of shape (n, length, 1) and class ids ``y`` in 0..2, the same for the same seed."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(FREQUENCIES), size=n)
    t = np.linspace(0.0, 1.0, length, endpoint=False)
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1))
    amplitude = rng.uniform(0.5, 1.5, size=(n, 1))
    frequency = np.asarray(FREQUENCIES)[y][:, None]
    signal = amplitude * np.sin(2 * np.pi * frequency * t + phase)
    x = signal + rng.normal(0.0, 0.4, size=(n, length))
    return x[..., None].astype(np.float32), y.astype(np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="number of trials (default 8)")
    parser.add_argument("--epochs", type=int, default=15, help="most epochs per trial (default 15)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    parser.add_argument(
        "--write-data", action="store_true", help=f"write {DATA_FILE.name} for the YAML form and stop"
    )
    args = parser.parse_args()

    x, y = make_sequences()
    if args.write_data:
        np.savez_compressed(DATA_FILE, x=x, y=y)
        print(f"wrote {DATA_FILE}: x {x.shape}, y {y.shape}")
        return
    result = automl.tune(
        rnn(max_layers=2),
        data=from_arrays(x, y, validation_split=0.25, name="sequences"),
        metric="val_accuracy",
        mode="max",
        num_trials=args.trials,
        epochs=args.epochs,
        seed=args.seed,
        experiment_name="sequences-rnn",
    )
    print()
    print(result.summary())


if __name__ == "__main__":
    main()
