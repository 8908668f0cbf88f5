"""Resident memory of one process over many consecutive trials (what a reused Ray worker does).

Each trial is `trainers.train` on digits with a different sampled MLP, exactly
as a reused worker runs them (clear_session between trials is inside train).
Prints RSS after each trial and the growth from trial 5 (after warm-up) to the end.

    .venv/bin/python benchmarks/memory.py --trials 50 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rss_mib() -> float:
    """Current resident set size, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="6 trials, 1 epoch")
    parser.add_argument(
        "--trim", action="store_true", help="malloc_trim(0) after each trial (tests fragmentation)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials, args.epochs = 6, 1

    import optuna

    from search_spaces import mlp
    from trainers import FitSettings, configure_threads, load_sklearn, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_threads(1)
    data = load_sklearn("digits")
    space = mlp()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    settings = FitSettings(epochs=args.epochs, monitor="val_accuracy", mode="max")
    samples = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.trials):
            config = space.sample(study.ask())
            train(config, data, settings=settings, checkpoint_dir=Path(tmp) / f"t{i}")
            if args.trim:
                import ctypes
                import gc

                gc.collect()
                ctypes.CDLL("libc.so.6").malloc_trim(0)
            samples.append(rss_mib())
    warm = min(4, len(samples) - 1)
    growth = (samples[-1] - samples[warm]) / samples[warm] * 100
    print("| trial | RSS (MiB) |")
    print("| --- | --- |")
    for i, value in enumerate(samples, start=1):
        if i in (1, 2, warm + 1) or i % 10 == 0 or i == len(samples):
            print(f"| {i} | {value:.0f} |")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"trials={args.trials} epochs={args.epochs}: RSS {samples[warm]:.0f} MiB after trial {warm + 1} -> "
        f"{samples[-1]:.0f} MiB after trial {len(samples)} ({growth:+.1f}%), peak {peak:.0f} MiB, "
        f"{time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
