"""Orchestration scale: milliseconds per trial at 100 and 1,000 trivial trials.

What runs is `automl.tune` itself on `search_spaces.mlp()` (TPE, seed 0, FIFO,
one CPU per trial, a fresh sqlite MLflow store and storage path per count):
validation, the MLflow parent run, Ray Tune with OptunaSearch sampling the
space define-by-run, reused actors, the MlflowTracker callback, the result
table and the best-model copy. The one thing swapped, from this script, is the
function each trial runs (`automl.execution._tuner.run_trial`): instead of Keras it
reports one epoch of made-up metrics with a one-file checkpoint, as a real
trial's first epoch does, and returns. No TensorFlow is imported anywhere.

Ray is started once before the first count (timed separately, not in the
per-trial figures). The breakdown times, from here, OptunaSearch's suggest and
on_trial_complete, the tracker's Ray Tune hooks (their MLflow calls included)
and the MLflow calls outside them; "Ray Tune and the rest" is the remainder.

    python -m benchmarks.scale                 # 100 and 1,000 trials
    python -m benchmarks.scale --smoke         # 10 trials
    python -m benchmarks.scale --trials 100,300
    python -m benchmarks.scale --json benchmarks/results/scale.json   # the raw trial starts too
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import (
    machine_info,
    machine_report,
    markdown_table,
    scratch_run,
    start_ray,
    write_results,
)

TABLE_HEADER = (
    "trials",
    "wall s",
    "ms / trial",
    "first 10% ms / trial",
    "last 10% ms / trial",
    "Optuna ms / trial",
    "tracker hooks ms / trial",
    "other MLflow ms / trial",
    "Ray Tune and the rest ms / trial",
)


def make_trivial_trial(model_file: Path) -> Any:
    """Stands in for automl.execution._trainable.run_trial: no TensorFlow, one report per epoch of ``settings.epochs``.

    The checkpoint holds a real (tiny) .keras file made once by the driver, so
    the end of the run (best model logged to MLflow) works as for real trials.
    """

    def trivial_trial(
        flat_config: Mapping[str, Any],
        *,
        run_dir: Any,
        space: Any,
        data: Any,
        settings: Any,
        callbacks: Any = (),
        build: Any = None,
        memory_limit: Any = None,
        tensorboard: bool = False,
    ) -> None:
        from ray import tune

        from trainers._checkpoint import BEST_FILE

        config = space.unflatten(flat_config)
        score = config["learning_rate"] * sum(layer["units"] for layer in config["layers"])
        workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        try:
            shutil.copyfile(model_file, workdir / BEST_FILE)
            for epoch in range(1, settings.epochs + 1):  # one epoch here; more in benchmarks.tracking_load
                acc = score * epoch / settings.epochs
                metrics = {"loss": 1.0 - acc, "accuracy": acc, "val_loss": 1.0 - acc, "val_accuracy": acc}
                result = {**metrics, "epoch": epoch, "trial_finished": epoch == settings.epochs}
                tune.report(result, checkpoint=tune.Checkpoint.from_directory(workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    trivial_trial.__name__ = "run_trial"
    return trivial_trial


def _tiny_model(path: Path) -> Path:
    import keras

    inputs = keras.Input(shape=(64,))
    keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs)).save(path)
    return path


def _decile_ms(starts: list[float], last: bool) -> float:
    """ms per trial over the first or last tenth of the trials, from their start times."""
    starts = sorted(starts)
    n = max(2, len(starts) // 10)
    window = starts[-n:] if last else starts[:n]
    return 1000 * (window[-1] - window[0]) / (len(window) - 1)


def run_count(trials: int, tmp: Path, sampler: str) -> tuple[list[str], list[float]]:
    """One run of ``trials`` trivial trials: its table row, and each trial's start in s from the first's."""
    import automl
    import automl.execution._tuner as tuner
    from benchmarks._timing import instrumented
    from search_spaces import mlp

    saved = tuner.run_trial
    tuner.run_trial = make_trivial_trial(_tiny_model(tmp / f"tiny-{trials}.keras"))
    try:
        start = time.perf_counter()
        with instrumented() as ledger:
            result = automl.tune(
                mlp(),
                data="digits",
                num_trials=trials,
                epochs=1,
                scheduler="fifo",
                sampler=sampler,
                seed=0,
                resources_per_trial={"cpu": 1},
                **scratch_run(tmp, f"scale-{trials}"),
            )
        wall = time.perf_counter() - start
    finally:
        tuner.run_trial = saved
    states = result.trials["state"].value_counts().to_dict()
    if states != {"COMPLETE": trials}:
        raise RuntimeError(f"{trials} trials: expected all COMPLETE, got {states}")
    starts = [r.started for r in ledger.trackers[0].records.values()]
    optuna = ledger.total("optuna")
    hooks = ledger.total("tracker")
    other_mlflow = ledger.outermost - optuna - hooks  # MLflow calls outside the hooks
    rest = wall - ledger.outermost

    def ms(seconds: float) -> str:
        return f"{1000 * seconds / trials:.1f}"

    row = [
        str(trials),
        f"{wall:.1f}",
        ms(wall),
        f"{_decile_ms(starts, last=False):.1f}",
        f"{_decile_ms(starts, last=True):.1f}",
        ms(optuna),
        ms(hooks),
        ms(other_mlflow),
        ms(rest),
    ]
    first = min(starts)
    return row, sorted(round(start - first, 4) for start in starts)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="10 trials")
    parser.add_argument(
        "--trials", default="100,1000", help="comma-separated trial counts (default 100,1000)"
    )
    parser.add_argument("--sampler", default="tpe", choices=("tpe", "random"), help="default tpe")
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write the table and every trial's start time per count to PATH as JSON, "
        "as benchmarks.report reads them",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    counts = [10] if args.smoke else [int(n) for n in args.trials.split(",")]
    info = machine_info(argv, "benchmarks.scale")
    print(machine_report(argv, "benchmarks.scale"), flush=True)
    ray_init = start_ray()
    rows, starts = [], []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for count in counts:
            row, trial_starts = run_count(count, Path(tmp), args.sampler)
            rows.append(row)
            starts.append(trial_starts)
            print(f"[scale] {count} trials done in {rows[-1][1]} s", flush=True)
    print()
    print(markdown_table(TABLE_HEADER, rows))
    print()
    init = "Ray was already running in this process (not timed)" if ray_init is None else f"{ray_init:.1f} s"
    print(f"- ray.init: {init}; not included above. Sampler: {args.sampler}.")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"- growth: {first[0]} → {last[0]} trials multiplied the wall time by "
            f"{float(last[1]) / float(first[1]):.1f} (ms / trial {first[2]} → {last[2]})."
        )
    print(f"- goal ≤ 50 ms / trial at the largest count: measured {rows[-1][2]} ms at {rows[-1][0]} trials.")
    if args.json:
        write_results(
            args.json,
            "scale",
            info,
            sampler=args.sampler,
            ray_init_s=ray_init,
            columns=list(TABLE_HEADER),
            rows=rows,
            trial_starts_s={row[0]: trial_starts for row, trial_starts in zip(rows, starts, strict=True)},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
