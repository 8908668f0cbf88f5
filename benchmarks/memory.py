"""Resident memory of reused workers over many consecutive trials, with worker recycling on and off.

Default (Ray): the same ``--trials`` MLPs sampled from `mlp()` on digits run
through `automl.tune` one at a time (so one worker runs them all while it
lives), once with recycling off (``max_worker_memory_growth=None``) and once
with the default policy (replace a worker past +10% since its first trial).
Each trial's row holds its worker's RSS at its last epoch (``worker_rss_mib``,
reported by the trial itself). Growth is from trial 5 (warmed up) to the
largest RSS of any later trial.

``--in-process``: the same trials as plain `trainers.train` calls in this
process, with ``--trim`` to test for malloc fragmentation.

    .venv/bin/python -m benchmarks.memory --trials 50 --epochs 2
    .venv/bin/python -m benchmarks.memory --in-process --trials 50 --epochs 2
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import DATASET, machine_report, markdown_table, scratch_run, start_ray  # noqa: E402

TABLE_HEADER = (
    "recycling",
    "trials",
    "workers",
    "RSS trial 1",
    "RSS trial 5",
    "max RSS after",
    "growth",
    "wall s",
)
_WARM = 5  # trials before memory is compared: TF's one-off allocations are done by then


def _growth(samples: Sequence[float]) -> tuple[float, float, float]:
    """RSS at the warm-up trial, the largest RSS after it, and the growth between them in %."""
    warm = min(_WARM, len(samples)) - 1
    base, peak = samples[warm], max(samples[warm:])
    return base, peak, (peak - base) / base * 100


# The policies compared: recycling off, then automl's default (replace a worker past +10% since its first trial).
POLICIES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("off", {"max_worker_memory_growth": None}),
    ("on (default: +10%)", {}),
)


def reused_worker(
    space: Any, data: Any, *, trials: int, epochs: int, policy: Mapping[str, Any], tmp: Path, name: str
) -> tuple[list[float], int, float]:
    """One `automl.tune` of ``trials`` trials, one at a time, under a recycling ``policy``.

    Returns:
        Each trial's worker RSS in MiB at its last epoch (in trial order), how
        many worker processes ran them, and the run's wall time.
    """
    import optuna

    import automl

    start = time.perf_counter()
    result = automl.tune(
        space,
        data=data,
        num_trials=trials,
        epochs=epochs,
        scheduler="fifo",
        sampler=optuna.samplers.RandomSampler(seed=0),  # the same models under every policy
        max_concurrent_trials=1,
        **policy,
        **scratch_run(tmp, name),
    )
    wall = time.perf_counter() - start
    table = result.trials.sort_values("number")
    failed = table[table["state"] == "FAILED"]
    if len(failed):
        raise RuntimeError(f"{name}: {len(failed)} trials failed: {failed['error'].iloc[0]}")
    return [float(v) for v in table["worker_rss_mib"]], int(table["worker"].nunique()), wall


def policy_row(label: str, samples: Sequence[float], workers: int, wall: float) -> dict[str, Any]:
    """A policy's figures, as `TABLE_HEADER`'s row (`row_cells`) and results files hold them."""
    base, peak, growth = _growth(samples)
    return {
        "recycling": label,
        "trials": len(samples),
        "workers": workers,
        "rss_trial_1_mib": round(samples[0]),
        f"rss_trial_{min(_WARM, len(samples))}_mib": round(base),
        "max_rss_after_mib": round(peak),
        "growth_pct": round(growth, 1),
        "wall_s": round(wall, 1),
        "rss_mib": [round(v) for v in samples],
    }


def row_cells(row: Mapping[str, Any]) -> list[str]:
    warm = next(v for k, v in row.items() if k.startswith("rss_trial_") and k != "rss_trial_1_mib")
    return [
        row["recycling"],
        str(row["trials"]),
        str(row["workers"]),
        f"{row['rss_trial_1_mib']:.0f}",
        f"{warm:.0f}",
        f"{row['max_rss_after_mib']:.0f}",
        f"{row['growth_pct']:+.1f}%",
        f"{row['wall_s']:.1f}",
    ]


def _ray(args: argparse.Namespace) -> int:
    from search_spaces import mlp

    start_ray()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, policy in POLICIES:
            samples, workers, wall = reused_worker(
                mlp(),
                DATASET,
                trials=args.trials,
                epochs=args.epochs,
                policy=policy,
                tmp=Path(tmp),
                name=f"memory-{len(rows)}",
            )
            rows.append(row_cells(policy_row(label, samples, workers, wall)))
            print(f"{label}: RSS per trial (MiB) " + ", ".join(f"{v:.0f}" for v in samples), flush=True)
    print()
    print(markdown_table(TABLE_HEADER, rows))
    return 0


def _in_process(args: argparse.Namespace) -> int:
    import optuna

    from automl.execution._workers import worker_rss_mib
    from search_spaces import mlp
    from trainers import FitSettings, configure_threads, load_sklearn, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    configure_threads(1)
    data = load_sklearn(DATASET)
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
            samples.append(worker_rss_mib())
    base, peak, growth = _growth(samples)
    print("| trial | RSS (MiB) |")
    print("| --- | --- |")
    for i, value in enumerate(samples, start=1):
        if i in (1, 2, _WARM) or i % 10 == 0 or i == len(samples):
            print(f"| {i} | {value:.0f} |")
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"trials={args.trials} epochs={args.epochs}: RSS {base:.0f} MiB after trial {min(_WARM, len(samples))} -> "
        f"{samples[-1]:.0f} MiB after trial {len(samples)} ({growth:+.1f}% to the largest), "
        f"peak {peak_rss:.0f} MiB, {time.perf_counter() - start:.0f} s"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--smoke", action="store_true", help="a few 1-epoch trials")
    parser.add_argument(
        "--in-process", action="store_true", help="plain trainers.train calls in this process"
    )
    parser.add_argument(
        "--trim",
        action="store_true",
        help="with --in-process: malloc_trim(0) after each trial (fragmentation)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.trials, args.epochs = (3 if args.in_process else 2), 1
    print(machine_report(argv, "benchmarks.memory"), flush=True)
    return _in_process(args) if args.in_process else _ray(args)


if __name__ == "__main__":
    sys.exit(main())
