"""Fixed costs of a small run: where the seconds go from `automl.tune()` to its return, against KerasTuner.

Every contender runs as a whole fresh Python process (interpreter start, imports,
Ray start and its shutdown at exit included), and the contenders of a job take
turns within each round, so the ratios hold when a shared machine drifts.

Jobs:

  one   the one-trial, one-epoch digits job: ``automl.tune(mlp(), data="digits",
        num_trials=1, epochs=1, seed=0)`` (``automl``); KerasTuner's RandomSearch
        with ``max_trials=1`` on a one-Dense-layer model of the same ranges,
        best model loaded back (``kt-random``); one plain Keras ``fit`` of one
        epoch (``keras``). The automl process then calls `automl.tune` a second
        time (the notebook's second cell: Ray and its idle workers are running,
        TensorFlow is imported in them) and KerasTuner's searches again.
  12    the 12 frozen configs of `benchmarks.overhead` (≤ 20 epochs, patience
        3): automl with 2 trials at once, Ray start included (``automl``),
        against two plain Keras processes with one TensorFlow thread each
        pulling from one queue (``plain2``, overhead's (b)).
  48    the same, each config four times.

Inside the automl process the run's steps are timed from outside the library:
the functions the run calls are wrapped (as `benchmarks._timing` does) and the
wall clock noted as each begins and ends, so nothing in the library changes.
The first epoch is the moment the driver's tracker receives the first trial's
first epoch.

    python -m benchmarks.startup --job one --rounds 3 --json benchmarks/results/startup.json
    python -m benchmarks.startup --job 12 --rounds 2 --json benchmarks/results/startup_12.json
    python -m benchmarks.startup --smoke       # one round of the one-trial job, nothing written
"""

from __future__ import annotations

import argparse
import atexit
import functools
import importlib.abc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import (
    CONFIGS,
    DATASET,
    EPOCHS,
    MONITOR,
    PATIENCE,
    machine_info,
    markdown_table,
    scratch_run,
    write_results,
)

JOBS = {"one": ("automl", "kt-random", "keras"), "12": ("automl", "plain2"), "48": ("automl", "plain2")}
BASELINE = {"one": "kt-random", "12": "plain2", "48": "plain2"}
_CHILD_TIMEOUT_S = 900

# The timeline's steps, in the order a run passes them: (label, event names that end it).
STEPS = (
    ("Python start and `import automl`", "imported"),
    ("imports (Ray Tune, MLflow, Optuna), validation, data loading", "plan.end"),
    ("MLflow store opened (beside Ray's start)", "store.end"),
    ("Ray started", "ray.end"),
    ("run record, parent run, Tuner built", "tuner_fit.begin"),
    ("first trial started (driver)", "first_trial_start"),
    ("first epoch received (worker imports, data, trace, epoch)", "first_epoch"),
    ("trials to Ray's loop end", "tuner_fit.end"),
    ("result saved (trials.csv, result.json)", "save.end"),
    ("MLflow writes flushed", "flush.end"),
    ("plots logged", "plots.end"),  # the two in the order they ended: the plots may be drawn
    ("best model logged and registered", "best_model.end"),  # while the best model is logged
    ("other artifacts, parent run closed", "tune.end"),
    ("`tune()` returned to the script's end", "main.end"),
    ("waiting for other threads at exit", "atexit.begin"),
    ("atexit handlers (Ray's shutdown)", "atexit.end"),
    ("interpreter teardown", "exit"),
)


# Children --------------------------------------------------------------------

# What the automl child times, as each module is imported: module -> (owner, attribute, event name);
# an empty owner is the module itself. The tracker's trial hooks mark the first trial and epoch.
WRAPPED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "automl.planning._experiment": (
        ("Experiment", "_plan", "plan"),
        ("", "_start_ray", "ray"),
        ("", "tracking_client", "store"),
    ),
    "ray.tune.tuner": (("Tuner", "fit", "tuner_fit"),),
    "automl._result": (("TuningResult", "save", "save"),),
    "automl.execution._run_end": (("RunEnd", "_log_plots", "plots"),),
    "automl.execution._parent_artifacts": (("ParentArtifacts", "_log_best_model", "best_model"),),
}
TRACKER = ("automl.tracking._tracking", "MlflowTracker", ("on_trial_start", "on_trial_result", "flush"))


class _Clock:
    """Wall-clock marks of one process, written as JSON at its end."""

    def __init__(self, spawned: float) -> None:
        self.marks: dict[str, float] = {"spawn": spawned, "python": time.time()}
        self.values: dict[str, Any] = {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.time())

    def wrap(self, owner: Any, attribute: str, name: str, *, prefix: Callable[[], str]) -> None:
        original = getattr(owner, attribute)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"{prefix()}{name}.begin")
            try:
                return original(*args, **kwargs)
            finally:
                self.mark(f"{prefix()}{name}.end")

        setattr(owner, attribute, timed)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``then(module)`` once ``name`` is imported: a run's modules are patched as it imports them.

    The child does not import them ahead of `automl.tune`: a user's first call pays those imports.
    """

    def __init__(self, hooks: dict[str, Callable[[Any], None]]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name not in self.hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                _then_after(spec.loader, self.hooks.pop(name))
                return spec
        return None


def _then_after(loader: Any, then: Callable[[Any], None]) -> None:
    execute = loader.exec_module

    def exec_module(module: Any) -> None:
        execute(module)
        then(module)

    loader.exec_module = exec_module


def _automl_child(clock: _Clock, job: str, tmp: Path) -> None:
    pass_ = {"prefix": ""}

    def prefix() -> str:
        return pass_["prefix"]

    def tracker(module: Any) -> None:
        cls = getattr(module, TRACKER[1])
        on_start, on_result = cls.on_trial_start, cls.on_trial_result

        def trial_start(self: Any, *args: Any, **kwargs: Any) -> None:
            clock.mark(f"{prefix()}first_trial_start")
            on_start(self, *args, **kwargs)

        def trial_result(
            self: Any, iteration: int, trials: list, trial: Any, result: dict, **kw: Any
        ) -> None:
            if f"{prefix()}first_epoch" not in clock.marks:
                clock.mark(f"{prefix()}first_epoch")
                clock.values[f"{prefix()}first_iter_s"] = result.get("time_this_iter_s")
            on_result(self, iteration, trials, trial, result, **kw)

        cls.on_trial_start, cls.on_trial_result = trial_start, trial_result
        clock.wrap(cls, "flush", "flush", prefix=prefix)

    def wrapping(names: Sequence[tuple[str, str, str]]) -> Callable[[Any], None]:
        def then(module: Any) -> None:
            for owner, attribute, name in names:
                clock.wrap(getattr(module, owner) if owner else module, attribute, name, prefix=prefix)

        return then

    hooks = {module: wrapping(names) for module, names in WRAPPED.items()}
    sys.meta_path.insert(0, _AfterImport({**hooks, TRACKER[0]: tracker}))
    import automl
    from search_spaces import mlp

    clock.mark("imported")
    if job == "one":
        arguments: dict[str, Any] = {"num_trials": 1, "epochs": 1}
    else:
        configs = CONFIGS * (int(job) // len(CONFIGS))
        arguments = {
            "num_trials": len(configs),
            "epochs": EPOCHS,
            "patience": PATIENCE,
            "points_to_evaluate": configs,
            "scheduler": "fifo",
            "resources_per_trial": {"cpu": 1},
            "max_concurrent_trials": 2,
        }
    runs = ("", "warm.") if job == "one" else ("",)
    for name in runs:
        pass_["prefix"] = name
        clock.mark(f"{name}tune.begin")
        result = automl.tune(
            mlp(), data=DATASET, metric=MONITOR, seed=0, **arguments, **scratch_run(tmp, f"{name}run")
        )
        clock.mark(f"{name}tune.end")
        failed = result.trials[result.trials["state"] != "COMPLETE"]
        if len(failed):
            raise RuntimeError(f"{len(failed)} trials did not complete: {failed['error'].tolist()}")
        clock.values[f"{name}best"] = result.best_value
        clock.values[f"{name}trials"] = len(result.trials)


def _kt_child(clock: _Clock, tmp: Path) -> None:
    import keras
    import keras_tuner as kt

    from benchmarks._common import build_user_model
    from trainers import load_sklearn

    data = load_sklearn(DATASET)
    clock.mark("imported")

    def build(hp: Any) -> Any:
        config = {
            "layers": [
                {
                    "units": hp.Int("units", 16, 256, sampling="log"),
                    "activation": "relu",
                    "dropout": hp.Float("dropout", 0.0, 0.5),
                }
            ],
            "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        }
        return build_user_model(config, data)

    for name in ("", "warm."):
        clock.mark(f"{name}tune.begin")
        tuner = kt.RandomSearch(
            build,
            objective=kt.Objective(MONITOR, "max"),
            max_trials=1,
            seed=0,
            directory=str(tmp),
            project_name=f"{name}kt",
            overwrite=True,
        )
        tuner.search(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=1,
            batch_size=32,
            callbacks=[_FirstEpoch(clock, f"{name}first_epoch")],
            verbose=0,
        )
        model = tuner.get_best_models(1)[0]  # a user's next line: the model to use
        clock.mark(f"{name}tune.end")
        clock.values[f"{name}best"] = float(tuner.oracle.get_best_trials(1)[0].score)
        del model
        keras.backend.clear_session()


class _FirstEpoch:
    """A Keras callback (built on first use: Keras is imported in the child only) that marks epoch 1's end."""

    def __new__(cls, clock: _Clock, name: str) -> Any:
        import keras

        class Mark(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
                clock.mark(name)

        return Mark()


def _keras_child(clock: _Clock, tmp: Path) -> None:
    import keras  # noqa: F401

    from benchmarks._common import build_user_model
    from trainers import load_sklearn

    data = load_sklearn(DATASET)
    clock.mark("imported")
    clock.mark("tune.begin")
    model = build_user_model(CONFIGS[9], data)
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=1,
        batch_size=CONFIGS[9]["batch_size"],
        callbacks=[_FirstEpoch(clock, "first_epoch")],
        verbose=0,
    )
    model.save(tmp / "model.keras")
    clock.mark("tune.end")


def _plain2_child(clock: _Clock, job: str) -> None:
    from benchmarks.overhead import Budget, run_processes

    clock.mark("imported")
    clock.mark("tune.begin")
    configs = CONFIGS * (int(job) // len(CONFIGS))
    variant = run_processes(
        Budget(configs, EPOCHS, PATIENCE), processes=2, threads=1, key="b", label="2 plain processes"
    )
    clock.mark("tune.end")
    clock.values["epochs"] = sum(variant.epochs)
    clock.values["best"] = statistics.mean(variant.best)


def _child(args: argparse.Namespace) -> int:
    clock = _Clock(args.spawned)

    def write() -> None:  # registered first, so it runs after every later atexit handler (Ray's shutdown)
        clock.mark("atexit.end")
        Path(args.out).write_text(
            json.dumps({"marks": clock.marks, "values": clock.values}), encoding="utf-8"
        )

    atexit.register(write)
    with tempfile.TemporaryDirectory(prefix="automl-startup-") as tmp:
        if args.child == "automl":
            _automl_child(clock, args.job, Path(tmp))
        elif args.child == "kt-random":
            _kt_child(clock, Path(tmp))
        elif args.child == "keras":
            _keras_child(clock, Path(tmp))
        else:
            _plain2_child(clock, args.job)
    clock.mark("main.end")
    clock.values["threads_at_end"] = sorted(
        t.name for t in threading.enumerate() if t is not threading.main_thread()
    )
    atexit.register(clock.mark, "atexit.begin")  # runs first
    return 0


# The parent ------------------------------------------------------------------


def append_results(path: Path, info: Mapping[str, str], **fields: Any) -> None:
    """Adds this invocation's record to ``path``: a job's rounds, split over invocations, pool in one file."""
    records = json.loads(path.read_text(encoding="utf-8"))["records"] if path.exists() else []
    write_results(path, "startup", info, **fields)
    if records:
        written = json.loads(path.read_text(encoding="utf-8"))
        written["records"] = [*records, *written["records"]]
        path.write_text(json.dumps(written, indent=1) + "\n", encoding="utf-8")


def _load() -> str:
    return (
        Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]
        if Path("/proc/loadavg").exists()
        else "n/a"
    )


def run_one(contender: str, job: str, workdir: Path) -> dict[str, Any]:
    """Runs one contender's process; returns its marks (seconds from spawn) and its wall time."""
    out = workdir / f"{contender}-{time.time_ns()}.json"
    load = _load()
    spawned = time.time()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.startup",
            "--child",
            contender,
            "--job",
            job,
            "--spawned",
            repr(spawned),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=_CHILD_TIMEOUT_S,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")},
        check=False,
    )
    ended = time.time()
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"{contender} exited {done.returncode}:\n{done.stderr[-3000:]}")
    child = json.loads(out.read_text(encoding="utf-8"))
    marks = {name: t - spawned for name, t in child["marks"].items()}
    marks["exit"] = ended - spawned
    return {
        "contender": contender,
        "load": load,
        "wall": ended - spawned,
        "marks": marks,
        "values": child["values"],
    }


_AT_EXIT = ("main.end", "atexit.begin", "atexit.end", "exit")


def timeline(
    marks: Mapping[str, float], prefix: str = "", *, last_call: bool = True
) -> list[tuple[str, float, float]]:
    """The run's steps as (label, seconds the step took, seconds since `tune()` was called at its end).

    Steps that overlap (the store opens while Ray starts) are measured from the step before;
    the steps are listed in the order they ended.
    """
    start = marks[f"{prefix}tune.begin"]
    rows, ends = [], []
    for label, event in STEPS:
        if (event == "imported" and prefix) or (event in _AT_EXIT and not last_call):
            continue
        at = marks.get(f"{prefix}{event}" if event not in ("imported", *_AT_EXIT) else event)
        if at is None:
            continue
        if event == "imported":  # before tune(): from the process's spawn
            rows.append((label, at, at - start))
            continue
        ends.append((at, label))
    last = start
    for at, label in sorted(ends, key=lambda end: end[0]):
        rows.append((label, at - last, at - start))
        last = at
    return rows


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summary(job: str, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Medians and ratios per contender, each ratio taken within its round first."""
    base = BASELINE[job]
    by_round: dict[int, dict[str, Mapping[str, Any]]] = {}
    for run in runs:
        by_round.setdefault(run["round"], {})[run["contender"]] = run
    figures: dict[str, Any] = {}
    for contender in JOBS[job]:
        mine = [r for r in runs if r["contender"] == contender]
        ratios = [
            pair[contender]["wall"] / pair[base]["wall"]
            for pair in by_round.values()
            if contender in pair and base in pair
        ]
        first_epoch = [
            r["marks"]["first_epoch"] - r["marks"]["tune.begin"] for r in mine if "first_epoch" in r["marks"]
        ]
        figures[contender] = {
            "wall_s": [round(r["wall"], 2) for r in mine],
            "ratio_to_baseline": [round(x, 3) for x in ratios],
            "ratio_median": round(_median(ratios), 3),
            "first_epoch_after_tune_s": [round(x, 2) for x in first_epoch],
            "loads": [r["load"] for r in mine],
        }
        pairs = [
            (pair[contender]["marks"], pair[base]["wall"])
            for pair in by_round.values()
            if contender in pair and base in pair and "warm.tune.end" in pair[contender]["marks"]
        ]
        if pairs:
            warm = [m["warm.tune.end"] - m["warm.tune.begin"] for m, _ in pairs]
            figures[contender]["warm_second_call_s"] = [round(x, 2) for x in warm]
            figures[contender]["warm_ratio_to_baseline_process"] = [
                round(w / b, 3) for w, (_, b) in zip(warm, pairs, strict=True)
            ]
            first = [
                m["warm.first_epoch"] - m["warm.tune.begin"] for m, _ in pairs if "warm.first_epoch" in m
            ]
            figures[contender]["warm_first_epoch_after_tune_s"] = [round(x, 2) for x in first]
    return figures


def report(job: str, runs: Sequence[Mapping[str, Any]], figures: Mapping[str, Any]) -> str:
    base = BASELINE[job]
    rows = []
    for run in runs:
        marks = run["marks"]
        rows.append(
            [
                run["round"],
                run["contender"],
                run["load"],
                f"{run['wall']:.1f}",
                f"{marks['first_epoch'] - marks['tune.begin']:.1f}" if "first_epoch" in marks else "–",
                f"{marks['warm.tune.end'] - marks['warm.tune.begin']:.1f}"
                if "warm.tune.end" in marks
                else "–",
            ]
        )
    lines = [
        markdown_table(
            (
                "round",
                "contender",
                "load at start",
                "process s",
                "first epoch after tune() s",
                "second call s",
            ),
            rows,
        ),
        "",
        markdown_table(
            ("contender", f"× {base} (per round)", "median"),
            [
                [c, ", ".join(f"{x:.2f}×" for x in f["ratio_to_baseline"]), f"{f['ratio_median']:.2f}×"]
                for c, f in figures.items()
            ],
        ),
    ]
    warm = figures.get("automl", {}).get("warm_ratio_to_baseline_process")
    if warm:
        lines += [
            "",
            f"automl's second `tune()` in the same process × {base}'s whole process: "
            + ", ".join(f"{x:.2f}×" for x in warm),
        ]
    automl_runs = [r for r in runs if r["contender"] == "automl"]
    if automl_runs:
        lines += ["", f"Timeline of automl's run (round {automl_runs[-1]['round']}; s):", ""]
        for prefix, title in (("", "first call"), ("warm.", "second call, same process")):
            if f"{prefix}tune.begin" not in automl_runs[-1]["marks"]:
                continue
            marks = automl_runs[-1]["marks"]
            steps = timeline(marks, prefix, last_call=prefix == "warm." or "warm.tune.begin" not in marks)
            lines += [
                f"{title}:",
                "",
                markdown_table(
                    ("step", "took s", "at s after tune()"),
                    [[label, f"{took:.2f}", f"{at:.2f}"] for label, took, at in steps],
                ),
                "",
            ]
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__.split("\n")[0])
    parser.add_argument("--job", choices=sorted(JOBS), default="one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contenders", default=None, help="comma-separated subset of the job's contenders")
    parser.add_argument("--json", default=None, help="write the raw runs and the summary here")
    parser.add_argument("--smoke", action="store_true", help="one round of the one-trial job")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spawned", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        return _child(args)
    if args.smoke:
        args.job, args.rounds = "one", 1
    contenders = args.contenders.split(",") if args.contenders else list(JOBS[args.job])
    unknown = set(contenders) - set(JOBS[args.job])
    if unknown:
        raise SystemExit(f"--contenders: {sorted(unknown)} are not in job {args.job}'s {JOBS[args.job]}")
    info = machine_info(sys.argv[1:] if argv is None else argv, "benchmarks.startup")
    print("\n".join(f"- {k}: {v}" for k, v in info.items()), flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="automl-startup-") as tmp:
        for round_ in range(1, args.rounds + 1):
            # Turns rotate so that no contender always runs first (Ray's session files, caches).
            order = contenders[round_ - 1 :] + contenders[: round_ - 1] if round_ > 1 else contenders
            for contender in order:
                run = {"round": round_, **run_one(contender, args.job, Path(tmp))}
                runs.append(run)
                print(f"round {round_} {contender}: {run['wall']:.1f} s (load {run['load']})", flush=True)
    figures = summary(args.job, runs)
    print(report(args.job, runs, figures), flush=True)
    if args.json:
        append_results(Path(args.json), info, job=args.job, runs=runs, figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
