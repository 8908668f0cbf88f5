"""Orchestration overhead and parallel efficiency on 12 fixed digits-MLP configs.

Every variant trains the same frozen configs (`benchmarks._common.CONFIGS`),
at most 20 epochs each with EarlyStopping (val_accuracy, patience 3, best
weights restored) and ModelCheckpoint, on scikit-learn's bundled digits, all in
this one invocation so the ratios hold when the machine drifts:

  (a) a plain sequential Keras loop in one process (TF's default threads);
  (b) two plain processes (spawn), one TF thread each, pulling configs from a
      shared queue: the floor for an orchestrator on 2 cores;
  (b32) (b) with ``steps_per_execution=32`` in the users' ``compile``: what
      automl's default (``"auto"``: up to 32 batches per call) does to the same
      fits, so (d2) / (b32) is the orchestration's cost alone;
  (c) plain Ray Tune with default settings: a function trainable reporting each
      epoch via `ray.tune.report`, OptunaSearch replaying the configs via
      points_to_evaluate;
  (d1, d2) `automl.tune(..., points_to_evaluate=CONFIGS, scheduler="fifo")`
      with max_concurrent_trials=1 and 2, one CPU per trial, into a temporary
      sqlite MLflow store.

(a) and (b) are timed from process start (Python start-up and the TensorFlow
import included), as Ray's workers are. Ray is started once, timed, before (c);
(c) and (d) run on that instance and are shown with and without `ray.init`.
What MLflow logging costs is measured by `benchmarks.logging_cost` (the same
(d2) with its writes sent and discarded): the tracker writes on a background
thread, which timing its calls from here would not show.

    python -m benchmarks.overhead            # full run, ~3-4 minutes on 2 cores
    python -m benchmarks.overhead --smoke    # 2 configs, 2 epochs
    python -m benchmarks.overhead --variants b,d2 --timeline  # + start-up, gaps between fits, end
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import queue
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._common import (
    CONFIGS,
    DATASET,
    EPOCHS,
    MONITOR,
    PATIENCE,
    fit_user,
    machine_report,
    markdown_table,
    ratio,
    scratch_run,
    seconds,
    set_tf_threads,
    start_ray,
)

if TYPE_CHECKING:
    from benchmarks._timeline import Phases

TABLE_HEADER = (
    "variant",
    "wall s",
    "wall s incl. ray.init",
    "× (a)",
    "× (b)",
    "× (a) incl. init",
    "× (b) incl. init",
    "parallel efficiency",
    "trials",
    "total epochs",
    "wall s / epoch",
    "mean best val_acc",
)
_RESULT_TIMEOUT_S = 900


@dataclasses.dataclass
class Variant:
    key: str
    label: str
    wall: float
    epochs: list[int]
    best: list[float]
    workers: int = 1
    uses_ray: bool = False
    phases: Phases | None = None  # with --timeline


@dataclasses.dataclass(frozen=True)
class Budget:
    configs: list[dict[str, Any]]
    epochs: int
    patience: int


# (a), (b): plain processes --------------------------------------------------


def _worker(
    tasks: Any,
    results: Any,
    threads: int | None,
    budget: Budget,
    steps_per_execution: int,
    timeline: Path | None,
) -> None:
    set_tf_threads(threads)  # before the first TF op of this process
    from trainers import load_sklearn

    callbacks = []
    if timeline is not None:
        from benchmarks._timeline import FitTimeline

        callbacks.append(FitTimeline(timeline))
    data = load_sklearn(DATASET)
    with tempfile.TemporaryDirectory(prefix="bench-plain-") as workdir:
        while (config := tasks.get()) is not None:
            outcome = fit_user(
                config,
                data,
                epochs=budget.epochs,
                patience=budget.patience,
                workdir=Path(workdir),
                callbacks=callbacks,
                steps_per_execution=steps_per_execution,
            )
            results.put(outcome)


def _phases(timeline: Path | None, start: float) -> Phases | None:
    if timeline is None:
        return None
    from benchmarks._timeline import phases

    return phases(timeline, start=start, end=time.time())


def run_processes(
    budget: Budget,
    *,
    processes: int,
    threads: int | None,
    key: str,
    label: str,
    steps_per_execution: int = 1,
    timeline: Path | None = None,
) -> Variant:
    """Spawns plain Python processes that pull configs from one shared queue."""
    ctx = mp.get_context("spawn")
    started = time.time()
    start = time.perf_counter()
    tasks, results = ctx.Queue(), ctx.Queue()
    for config in budget.configs:
        tasks.put(config)
    for _ in range(processes):
        tasks.put(None)
    workers = [
        ctx.Process(target=_worker, args=(tasks, results, threads, budget, steps_per_execution, timeline))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = []
    for _ in budget.configs:
        try:
            outcomes.append(results.get(timeout=_RESULT_TIMEOUT_S))
        except queue.Empty:
            codes = [w.exitcode for w in workers]
            raise RuntimeError(
                f"variant {key}: no result in {_RESULT_TIMEOUT_S} s; exit codes {codes}"
            ) from None
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    return Variant(
        key,
        label,
        wall,
        [n for n, _ in outcomes],
        [b for _, b in outcomes],
        workers=processes,
        phases=_phases(timeline, started),
    )


# (c): plain Ray Tune, as a user writes it ----------------------------------


def user_space(trial: Any) -> None:
    """The define-by-run space a user writes for OptunaSearch (the same ranges as `mlp()`)."""
    depth = trial.suggest_int("depth", 1, 3)
    for i in range(depth):
        trial.suggest_int(f"units_{i}", 16, 256, log=True)
        trial.suggest_float(f"dropout_{i}", 0.0, 0.5)
    trial.suggest_float("lr", 1e-4, 1e-2, log=True)
    trial.suggest_categorical("batch_size", [32, 64, 128])


def user_point(config: Mapping[str, Any]) -> dict[str, Any]:
    point: dict[str, Any] = {"depth": len(config["layers"])}
    for i, layer in enumerate(config["layers"]):
        point[f"units_{i}"], point[f"dropout_{i}"] = layer["units"], layer["dropout"]
    return {**point, "lr": config["learning_rate"], "batch_size": config["batch_size"]}


def user_config(point: Mapping[str, Any]) -> dict[str, Any]:
    layers = [
        {"units": point[f"units_{i}"], "dropout": point[f"dropout_{i}"], "activation": "relu"}
        for i in range(point["depth"])
    ]
    return {"layers": layers, "learning_rate": point["lr"], "batch_size": point["batch_size"]}


def user_trainable(config: dict[str, Any], *, data: Any, epochs: int, patience: int) -> None:
    import keras
    from ray import tune

    workdir = Path(tempfile.mkdtemp(prefix="bench-ray-"))  # tune.report copies checkpoints out

    class ReportToTune(keras.callbacks.Callback):
        """Reports every epoch; with a checkpoint when ModelCheckpoint saved a new best."""

        best = -1.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            metrics = {k: float(v) for k, v in (logs or {}).items()}
            checkpoint = None
            if metrics[MONITOR] > self.best:
                self.best = metrics[MONITOR]
                checkpoint = tune.Checkpoint.from_directory(workdir)
            tune.report(metrics, checkpoint=checkpoint)

    try:
        fit_user(
            user_config(config),
            data,
            epochs=epochs,
            patience=patience,
            workdir=workdir,
            callbacks=[ReportToTune()],
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_plain_ray_tune(budget: Budget, data: Any, storage: Path) -> Variant:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    start = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_parameters(user_trainable, data=data, epochs=budget.epochs, patience=budget.patience),
        tune_config=tune.TuneConfig(
            metric=MONITOR,
            mode="max",
            search_alg=OptunaSearch(
                space=user_space,
                metric=MONITOR,
                mode="max",
                points_to_evaluate=[user_point(c) for c in budget.configs],
            ),
            num_samples=len(budget.configs),
        ),
        # Only the storage path differs from the defaults: keep ~/ray_results clean.
        run_config=tune.RunConfig(storage_path=str(storage), name="plain-ray-tune"),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - start
    if grid.errors:
        raise RuntimeError(f"variant c: {len(grid.errors)} trials failed: {grid.errors[0]!r}")
    results = [grid[i] for i in range(len(grid))]
    epochs = [int((r.metrics or {})["training_iteration"]) for r in results]
    best = [float(r.metrics_dataframe[MONITOR].max()) for r in results if r.metrics_dataframe is not None]
    return Variant("c", "plain Ray Tune, default settings", wall, epochs, best, workers=2, uses_ray=True)


# (d): automl.tune ---------------------------------------------------------


def run_automl(
    budget: Budget, data: Any, tmp: Path, *, concurrent: int, timeline: Path | None = None
) -> Variant:
    import automl  # not at the top: (a) and (b) spawn without Ray or MLflow
    from search_spaces import mlp

    callbacks = []
    if timeline is not None:
        from benchmarks._timeline import FitTimeline

        callbacks.append(FitTimeline(timeline))
    started = time.time()
    start = time.perf_counter()
    result = automl.tune(
        mlp(),
        data=data,
        metric=MONITOR,
        mode="max",
        num_trials=len(budget.configs),
        epochs=budget.epochs,
        patience=budget.patience,
        points_to_evaluate=budget.configs,
        scheduler="fifo",
        seed=0,
        resources_per_trial={"cpu": 1},
        max_concurrent_trials=concurrent,
        callbacks=callbacks,
        **scratch_run(tmp, f"overhead-{concurrent}"),
    )
    wall = time.perf_counter() - start
    trials = result.trials
    failed = trials[trials["state"] == "FAILED"]
    if len(failed):
        raise RuntimeError(f"variant d{concurrent}: {len(failed)} trials failed: {failed['error'].iloc[0]}")
    return Variant(
        f"d{concurrent}",
        f"automl.tune, max_concurrent_trials={concurrent}",
        wall,
        [int(n) for n in trials["epochs"]],
        [float(b) for b in trials[f"best_{MONITOR}"]],
        workers=concurrent,
        uses_ray=True,
        phases=_phases(timeline, started),
    )


# Report -----------------------------------------------------------------------


def _row(v: Variant, a: Variant | None, b: Variant | None, ray_init: float | None) -> list[str]:
    with_init = v.wall + ray_init if v.uses_ray and ray_init is not None else (None if v.uses_ray else v.wall)
    efficiency = f"{a.wall / (v.workers * v.wall):.0%}" if a and v.workers > 1 else "–"
    return [
        f"({v.key}) {v.label}",
        seconds(v.wall),
        seconds(with_init),
        ratio(v.wall, a.wall if a else None),
        ratio(v.wall, b.wall if b else None),
        ratio(with_init, a.wall if a else None),
        ratio(with_init, b.wall if b else None),
        efficiency,
        str(len(v.epochs)),
        str(sum(v.epochs)),
        f"{v.wall / max(1, sum(v.epochs)):.2f}",
        f"{statistics.mean(v.best):.3f}",
    ]


def _phases_table(variants: list[Variant]) -> str:
    rows = [
        [
            f"({v.key})",
            str(p.processes),
            f"{p.first_fit:.1f}",
            f"{p.between:.2f} × {p.gaps}",
            f"{p.after_last:.1f}",
            f"{1000 * p.epoch:.0f}",
        ]
        for v in variants
        if (p := v.phases) is not None
    ]
    header = (
        "variant (--timeline)",
        "processes that fit",
        "s to the first fit",
        "s between fits in a process (mean × gaps)",
        "s after the last fit",
        "ms per epoch in a fit (median, from the 2nd)",
    )
    return markdown_table(header, rows)


def report(variants: list[Variant], ray_init: float | None) -> str:
    by_key = {v.key: v for v in variants}
    a, b = by_key.get("a"), by_key.get("b")
    lines = [markdown_table(TABLE_HEADER, [_row(v, a, b, ray_init) for v in variants]), ""]
    if ray_init is None:
        lines.append(
            "- ray.init: Ray was already running in this process (not timed; 'incl.' columns empty)."
        )
    else:
        lines.append(
            f"- ray.init: {ray_init:.1f} s, timed once before (c); (c) and (d) ran on that instance."
        )
    lines.append("- parallel efficiency = wall(a) / (workers × wall); 100% is a perfect 2-way split of (a).")
    timed = [v for v in variants if v.phases is not None]
    if timed:
        lines += ["", _phases_table(timed), ""]
    d2 = by_key.get("d2")
    if d2 and b:
        with_init = f"{(d2.wall + ray_init) / b.wall:.2f}×" if ray_init is not None else "not timed"
        lines.append(
            f"- goal (d2) ≤ 1.15× (b): measured {d2.wall / b.wall:.2f}× without ray.init, {with_init} with it."
        )
    b32 = by_key.get("b32")
    if d2 and b32:
        lines.append(
            f"- (d2) / (b32), the orchestration alone (the same steps per call): {d2.wall / b32.wall:.2f}×."
        )
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 configs, 2 epochs: checks the script runs")
    parser.add_argument(
        "--variants",
        default="a,b,b32,c,d1,d2",
        help="comma-separated subset of a,b,b32,c,d1,d2 (default all)",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="also time the start-up, the gaps between fits and the end of (a), (b), (d1), (d2); "
        "imports Keras in this process, so the wall times of such a run are not the ones to quote",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = args.variants.split(",")
    budget = (
        Budget(CONFIGS[:2], epochs=2, patience=PATIENCE) if args.smoke else Budget(CONFIGS, EPOCHS, PATIENCE)
    )
    print(machine_report(argv, "benchmarks.overhead"), flush=True)
    from trainers import load_sklearn

    data = load_sklearn(DATASET)
    variants: list[Variant] = []
    ray_init = None
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:

        def timeline(key: str) -> Path | None:
            return Path(tmp) / f"timeline-{key}.jsonl" if args.timeline else None

        if "a" in wanted:
            variants.append(
                run_processes(
                    budget,
                    processes=1,
                    threads=None,
                    key="a",
                    label="plain sequential Keras loop",
                    timeline=timeline("a"),
                )
            )
        for key, steps, label in (
            ("b", 1, "2 plain processes, 1 TF thread each"),
            ("b32", 32, "(b) with steps_per_execution=32"),
        ):
            if key in wanted:
                variants.append(
                    run_processes(
                        budget,
                        processes=2,
                        threads=1,
                        key=key,
                        label=label,
                        steps_per_execution=steps,
                        timeline=timeline(key),
                    )
                )
        if {"c", "d1", "d2"} & set(wanted):
            ray_init = start_ray()
        if "c" in wanted:
            variants.append(run_plain_ray_tune(budget, data, Path(tmp) / "ray_results"))
        for concurrent in (1, 2):
            if f"d{concurrent}" in wanted:
                variants.append(
                    run_automl(
                        budget, data, Path(tmp), concurrent=concurrent, timeline=timeline(f"d{concurrent}")
                    )
                )
    print()
    print(report(variants, ray_init), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
