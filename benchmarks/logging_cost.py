"""What logging every trial to MLflow costs a run: (d2) with MLflow writes on and discarded, alternated.

The run is variant (d2) of `benchmarks.overhead`: the 12 fixed digits-MLP
configs through `automl.tune` with 2 concurrent trials, one CPU each, into a
new sqlite store. "off" swaps the tracker's background writer for one that
journals each write and drops it instead of sending it (see
`benchmarks._timing.mlflow_writes_discarded`): child runs, params, one metric
point per epoch, states and tags never reach the store, and the CPU the
writer thread and sqlite would take from the trials is freed. The driver's
own calls (experiment, parent run, best model and plots at the end) are made
in both. A small run of each kind first warms the process up (imports, the
first sqlite store); then the pairs alternate in the order on-off, off-on,
on-off, ... so neither drift nor going first favours one; the medians are
compared.

    python -m benchmarks.logging_cost              # 4 pairs, ~10 minutes on 2 cores
    python -m benchmarks.logging_cost --smoke      # 1 pair, 2 configs, 2 epochs, no warm-up
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks._common import CONFIGS, DATASET, EPOCHS, PATIENCE, machine_report, markdown_table, start_ray
from benchmarks._timing import instrumented, mlflow_writes_discarded
from benchmarks.overhead import Budget, run_automl

TABLE_HEADER = ("MLflow writes", "runs", "wall s (each)", "median wall s", "× off")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="1 pair, 2 configs, 2 epochs, no warm-up: checks the script runs"
    )
    parser.add_argument("--repeats", type=int, default=4, help="pairs of runs (default 4)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    budget = Budget(CONFIGS[:2], 2, PATIENCE) if args.smoke else Budget(CONFIGS, EPOCHS, PATIENCE)
    repeats = 1 if args.smoke else args.repeats
    print(machine_report(argv, "benchmarks.logging_cost"), flush=True)
    from trainers import load_sklearn

    data = load_sklearn(DATASET)
    start_ray()
    walls: dict[str, list[float]] = {"on": [], "off": []}
    points = 0
    warm_up = Budget(CONFIGS[:2], 1, PATIENCE)
    with tempfile.TemporaryDirectory(prefix="bench-logging-") as tmp:
        # The smoke run only checks that the script works: no warm-up.
        plan = [] if args.smoke else [("warm-up", mode, warm_up) for mode in ("on", "off")]
        for i in range(repeats):
            order = ("on", "off") if i % 2 == 0 else ("off", "on")
            plan += [(f"{i + 1}/{repeats}", mode, budget) for mode in order]
        for n, (label, mode, run_budget) in enumerate(plan):
            scratch = Path(tmp) / f"{n}-{mode}"
            scratch.mkdir()
            guard = mlflow_writes_discarded() if mode == "off" else contextlib.nullcontext()
            with guard, instrumented() as ledger:  # the ledger keeps the tracker, for its writer's counts
                variant = run_automl(run_budget, data, scratch, concurrent=2)
            writer = ledger.trackers[-1]._writer
            print(
                f"run {label} MLflow {mode}: {variant.wall:.1f} s; the writer made {writer.calls} store calls "
                f"for {writer._seq} writes",
                flush=True,
            )
            if label != "warm-up":
                walls[mode].append(variant.wall)
                points = sum(variant.epochs)
    off = statistics.median(walls["off"])
    rows = [
        [
            mode,
            str(len(values)),
            ", ".join(f"{v:.1f}" for v in values),
            f"{statistics.median(values):.1f}",
            f"{statistics.median(values) / off:.3f}",
        ]
        for mode, values in walls.items()
    ]
    on = statistics.median(walls["on"])
    print()
    print(markdown_table(TABLE_HEADER, rows))
    print()
    print(
        f"- each run logs {len(budget.configs)} trials, {points} epochs (one metric point per epoch and metric)."
    )
    print(
        f"- goal: logging costs ≤ 2% of the run: measured {on / off - 1:+.1%} (median on / median off - 1)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
