"""Search efficiency: best validation accuracy against wall time, automl vs the tuners users would pick.

Five tuners (six with ``--tuners automl-hypermodel,...``) search one space
on one data set, each for the same wall-time budget, each run in a fresh
Python process (imports and data loading are done before its clock starts):

- ``automl``: `automl.tune` with its defaults (TPE + ASHA, one CPU per trial,
  so 2 concurrent trials on 2 cores); its clock includes starting Ray;
- ``automl-hypermodel``: the same, but given the KerasTuner code the
  ``kt-*`` tuners search (`_kerastuner_hypermodel`: a ``HyperModel`` whose
  ``build(hp)`` and ``fit`` they call) through ``automl.tune(hypermodel=...)``,
  as a KerasTuner user ports it;
- ``kt-random``, ``kt-hyperband``, ``kt-bayesian``: KerasTuner's
  RandomSearch, Hyperband (``max_epochs`` = the epoch budget, factor 3) and
  BayesianOptimization, one process, TensorFlow's default threads;
- ``optuna``: Optuna alone, TPE + median pruning through
  optuna-integration's `KerasPruningCallback`, one trial at a time.

The space is `mlp()` with the learning rate widened to 1e-5–1e-1 and the
optimizer searched (Adam, SGD, RMSprop), so configurations matter: the spread
of random configs' scores is reported. KerasTuner samples it through
`_HpTrial`, which gives `Space.sample` KerasTuner's ``hp`` behind Optuna's
``suggest_*`` names: the same parameters, ranges and scales in every tuner.
The models are the same too (`build_user_model`: the layers automl's trainer
builds), each fit for at most ``--epochs`` epochs with early stopping on
``val_accuracy`` (patience 3).

Every fit carries `EpochLog`, which appends each epoch's wall time and
``val_accuracy`` to the run's log, so all are measured by the same code.
A run stops at its budget (automl's ``time_budget_s``, Optuna's ``timeout``,
KerasTuner through its oracle's trial limit, and a callback ending the fit in
progress); epochs logged after the budget are not counted.

The target is the median best-at-budget of the tuner with the highest median,
so that tuner reaches it in most seeds; time-to-target is the first time a
run's best so far reaches it.

Two problems (``--data``): scikit-learn's ``digits`` (359 validation rows,
so one row is 0.28 points and the tuners tie at the top), and ``synthetic``, a
seeded 6-class problem from `sklearn.datasets.make_classification` (6,000
training and 2,000 validation rows, the same in every run) whose best MLPs
stay well below 100%, so better configurations show.

    .venv/bin/python -m benchmarks.search_efficiency                   # 5 tuners x 3 seeds x 90 s, digits
    .venv/bin/python -m benchmarks.search_efficiency --data synthetic --budget 120 --seeds 0,1,2,3
    # the raw epochs too, as benchmarks.report reads them
    .venv/bin/python -m benchmarks.search_efficiency --data synthetic --json benchmarks/results/search_efficiency.json
    # KerasTuner's code under automl and under KerasTuner's tuners
    .venv/bin/python -m benchmarks.search_efficiency --data synthetic --budget 60 \
        --tuners automl-hypermodel,kt-hyperband,kt-random,kt-bayesian --json benchmarks/results/hypermodel.json
    # automl's defaults against other settings, side by side: each --variant is one more tuner
    .venv/bin/python -m benchmarks.search_efficiency --data synthetic --budget 120 --tuners automl \
        --variant 'automl-g2r3={"scheduler": {"name": "asha", "grace_period": 2, "reduction_factor": 3}}'
    # checks the script runs: the smoke's 4 tuners at once, automl's runs on an already running Ray
    .venv/bin/python -m benchmarks.search_efficiency --smoke --jobs 4 --address auto

``--jobs`` and ``--address`` are for such checks: tuners sharing the cores,
or automl's clock without Ray's start, give figures not to compare.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (after the log level, which TensorFlow reads when imported)

from benchmarks._common import (  # noqa: E402
    DATASET,
    MONITOR,
    PATIENCE,
    PROBLEMS,
    build_user_model,
    load_problem,
    machine_info,
    machine_report,
    markdown_table,
    seconds,
    write_results,
)

TUNERS = ("automl", "automl-hypermodel", "kt-random", "kt-hyperband", "kt-bayesian", "optuna")
# The default run; automl-hypermodel (the same search as KerasTuner code) runs when named.
DEFAULT_TUNERS = ("automl", "kt-random", "kt-hyperband", "kt-bayesian", "optuna")
TABLE_HEADER = (
    "tuner",
    "trials (median)",
    "best at budget: median",
    "min–max",
    "time to target: median s",
    "reached",
)
_CURVE_POINTS = (0.1, 0.25, 0.5, 0.75, 1.0)  # fractions of the budget
_UNLIMITED_TRIALS = 100_000  # the budget is wall time; no tuner may stop on a trial count first
_CHILD_SLACK_S = 600  # a run past budget + this is hung: its process is killed
# automl.tune's arguments the benchmark sets alike for every tuner; a --variant sets others.
_FIXED_AUTOML_ARGS = frozenset(
    {"space", "data", "metric", "mode", "num_trials", "time_budget_s", "epochs", "patience", "seed"}
    | {"callbacks", "tracking_uri", "experiment_name", "storage_path", "verbose"}
)


def space() -> Any:
    """The searched space: `mlp()` with a wide learning rate and the optimizer searched."""
    from search_spaces import Categorical, Float, mlp

    return mlp(
        learning_rate=Float(1e-5, 1e-1, log=True),
        optimizer=Categorical(["adam", "sgd", "rmsprop"]),
    )


# Measuring every tuner the same way ----------------------------------------------


class EpochLog(keras.callbacks.Callback):
    """Appends ``{"t", "fit", "value"}`` per epoch to a JSON-lines file.

    Holds only a path, so KerasTuner and automl can deep-copy it and Ray can
    ship it to workers; each fit gets its own id. Lines are short single
    writes in append mode, so processes logging at once do not interleave.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = str(path)
        self._fit = ""

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._fit = uuid.uuid4().hex[:12]

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        value = (logs or {}).get(MONITOR)
        if value is None:
            return
        line = json.dumps({"t": time.time(), "fit": self._fit, "value": float(value)})
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


class StopAt(keras.callbacks.Callback):
    """Ends the fit in progress once the wall-clock deadline has passed."""

    def __init__(self, deadline: float) -> None:
        super().__init__()
        self.deadline = deadline

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        if time.time() >= self.deadline:
            self.model.stop_training = True


def _early_stopping() -> Any:
    return keras.callbacks.EarlyStopping(monitor=MONITOR, mode="max", patience=PATIENCE)


# One run per process ---------------------------------------------------------------


@dataclass
class _Run:
    seed: int
    budget: float
    epochs: int
    log: Path
    workdir: Path
    data: Any
    start: float = 0.0  # wall clock, set by `begin`

    @property
    def deadline(self) -> float:
        return self.start + self.budget

    def begin(self) -> None:
        """Starts the clock: the log's first line, written just before the tuner is called."""
        self.start = time.time()
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(json.dumps({"start": self.start}) + "\n")


def _run_automl(
    run: _Run, settings: Mapping[str, Any], *, hypermodel: Any = None, address: str | None = None
) -> None:
    """`automl.tune` on `space()`, or on ``hypermodel`` (KerasTuner code) when given, with ``settings``.

    With ``address``, the run joins that Ray cluster rather than starting its own.
    """
    import automl
    from search_spaces import AutoMLError

    searched = {"space": space()} if hypermodel is None else {"hypermodel": hypermodel}
    run.begin()
    try:
        automl.tune(
            **searched,
            data=run.data,
            metric=MONITOR,
            mode="max",
            num_trials=_UNLIMITED_TRIALS,
            time_budget_s=run.budget,
            epochs=run.epochs,
            patience=PATIENCE,
            seed=run.seed,
            callbacks=[EpochLog(run.log)],
            tracking_uri=f"sqlite:///{run.workdir / 'mlflow.db'}",
            experiment_name="search-efficiency",
            storage_path=run.workdir / "automl_runs",
            verbose=0,
            address=address,
            **settings,
        )
    except AutoMLError as exc:
        if "no trial reported" not in str(exc):
            raise
        # A budget too short for any reported epoch (smoke runs): the log holds what ran.
        print(f"automl: {exc}", file=sys.stderr)


def _run_optuna(run: _Run) -> None:
    import optuna
    from optuna_integration import KerasPruningCallback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    searched = space()
    data = run.data

    def objective(trial: optuna.Trial) -> float:
        config = searched.sample(trial)
        keras.backend.clear_session()
        model = build_user_model(config, data)
        history = model.fit(
            data.x_train,
            data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=run.epochs,
            batch_size=config["batch_size"],
            callbacks=[
                EpochLog(run.log),
                _early_stopping(),
                KerasPruningCallback(trial, MONITOR),
                StopAt(run.deadline),
            ],
            verbose=0,
        )
        return max(history.history[MONITOR])

    run.begin()
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=run.seed),
        pruner=optuna.pruners.MedianPruner(),
    )
    study.optimize(objective, timeout=run.budget)


class _HpTrial:
    """KerasTuner's ``hp`` behind the ``suggest_*`` calls `Space.sample` makes on an Optuna trial."""

    def __init__(self, hp: Any) -> None:
        self.hp = hp

    def suggest_float(
        self, name: str, low: float, high: float, *, log: bool = False, step: Any = None
    ) -> Any:
        return self.hp.Float(name, low, high, step=step, sampling="log" if log else "linear")

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1) -> Any:
        # KerasTuner's step is a factor on a log scale; None samples every integer, as Optuna does.
        return self.hp.Int(name, low, high, step=None if log else step, sampling="log" if log else "linear")

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self.hp.Choice(name, list(choices))


def _kerastuner_hypermodel(run: _Run) -> Any:
    """The KerasTuner code every ``kt-*`` tuner and ``automl-hypermodel`` search, unchanged.

    A ``keras_tuner.HyperModel``: ``build(hp)`` samples `space()` through
    `_HpTrial` and builds `build_user_model`; ``fit`` takes ``batch_size``
    from ``hp`` and ends the fit in progress at the deadline. Under
    KerasTuner it also ends the search there, through the tuner's oracle
    (set as ``oracle`` once the tuner is made); automl stops at its own
    ``time_budget_s``.
    """
    import keras_tuner as kt

    searched = space()
    data = run.data

    class HyperModel(kt.HyperModel):
        oracle: Any = None

        def build(self, hp: Any) -> Any:
            keras.backend.clear_session()
            return build_user_model(searched.sample(_HpTrial(hp)), data)

        def fit(self, hp: Any, model: Any, *args: Any, callbacks: Sequence[Any] = (), **kwargs: Any) -> Any:
            history = model.fit(
                *args,
                batch_size=hp.get("batch_size"),
                callbacks=[*callbacks, StopAt(run.deadline)],
                **kwargs,
            )
            if self.oracle is not None and time.time() >= run.deadline:
                self.oracle.max_trials = 1  # the oracle's next trial is then STOPPED: the search ends
            return history

    return HyperModel()


def _run_keras_tuner(run: _Run, kind: str) -> None:
    import keras_tuner as kt

    data = run.data
    hypermodel = _kerastuner_hypermodel(run)
    common: dict[str, Any] = {
        "objective": kt.Objective(MONITOR, "max"),
        "seed": run.seed,
        "directory": str(run.workdir),
        "project_name": kind,
        "overwrite": True,
    }
    tuners: dict[str, Callable[[], Any]] = {
        "kt-random": lambda: kt.RandomSearch(hypermodel, max_trials=_UNLIMITED_TRIALS, **common),
        "kt-bayesian": lambda: kt.BayesianOptimization(hypermodel, max_trials=_UNLIMITED_TRIALS, **common),
        "kt-hyperband": lambda: kt.Hyperband(
            hypermodel, max_epochs=run.epochs, factor=3, hyperband_iterations=_UNLIMITED_TRIALS, **common
        ),
    }
    tuner = tuners[kind]()
    hypermodel.oracle = tuner.oracle
    run.begin()
    tuner.search(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=run.epochs,
        callbacks=[EpochLog(run.log), _early_stopping()],
        verbose=0,
    )


def _child(args: argparse.Namespace) -> int:
    run = _Run(
        seed=args.seed,
        budget=args.budget,
        epochs=args.epochs,
        log=Path(args.log),
        workdir=Path(args.workdir),
        data=load_problem(args.data),
    )
    if args.child == "automl":
        _run_automl(run, json.loads(args.automl_settings), address=args.address)
    elif args.child == "automl-hypermodel":  # the kt-* tuners' code, automl's defaults (TPE + ASHA)
        _run_automl(run, {}, hypermodel=_kerastuner_hypermodel(run), address=args.address)
    elif args.child == "optuna":
        _run_optuna(run)
    else:
        _run_keras_tuner(run, args.child)
    return 0


# Reading the logs ----------------------------------------------------------------


@dataclass(frozen=True)
class Trace:
    """One run: its epochs as (seconds since its clock started, val_accuracy), in time order."""

    tuner: str
    seed: int
    budget: float
    epochs: list[tuple[float, float]]
    fits: dict[str, float]  # each fit's best value within the budget

    @classmethod
    def read(cls, path: Path, *, tuner: str, seed: int, budget: float) -> Trace:
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        start = next(line["start"] for line in lines if "start" in line)
        epochs: list[tuple[float, float]] = []
        fits: dict[str, float] = {}
        for line in lines:
            if "fit" not in line or line["t"] - start > budget:
                continue
            epochs.append((line["t"] - start, line["value"]))
            fits[line["fit"]] = max(fits.get(line["fit"], line["value"]), line["value"])
        return cls(tuner, seed, budget, sorted(epochs), fits)

    def best_by(self, t: float) -> float | None:
        values = [value for when, value in self.epochs if when <= t]
        return max(values) if values else None

    def time_to(self, target: float) -> float | None:
        return next((when for when, value in self.epochs if value >= target), None)


def _median(values: Sequence[float | None], *, missing: float) -> float | None:
    """Median where ``None`` counts as ``missing`` (``inf``: never reached; ``-inf``: nothing yet)."""
    middle = statistics.median(missing if value is None else value for value in values)
    return None if math.isinf(middle) else middle


def _best_medians(traces: Sequence[Trace]) -> dict[str, float]:
    by_tuner: dict[str, list[float]] = {}
    for trace in traces:
        best = trace.best_by(trace.budget)
        by_tuner.setdefault(trace.tuner, []).append(best if best is not None else 0.0)
    return {tuner: statistics.median(values) for tuner, values in by_tuner.items()}


def target_of(traces: Sequence[Trace]) -> tuple[str, float]:
    """The tuner with the highest median best-at-budget, and that median."""
    medians = _best_medians(traces)
    best = max(medians, key=lambda tuner: medians[tuner])
    return best, medians[best]


def _accuracy(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}"


def _range(values: Sequence[float]) -> str:
    return f"{_accuracy(min(values))}–{_accuracy(max(values))}" if values else "–"


def report(traces: Sequence[Trace], target: float) -> str:
    tuners = list(dict.fromkeys(trace.tuner for trace in traces))
    rows, curve_rows = [], []
    budget = traces[0].budget
    for tuner in tuners:
        own = [trace for trace in traces if trace.tuner == tuner]
        bests = [trace.best_by(budget) for trace in own]
        times = [trace.time_to(target) for trace in own]
        reached = sum(t is not None for t in times)
        rows.append(
            (
                tuner,
                statistics.median(len(trace.fits) for trace in own),
                _accuracy(_median(bests, missing=-math.inf)),
                _range([b for b in bests if b is not None]),
                seconds(_median(times, missing=math.inf)),
                f"{reached}/{len(own)}",
            )
        )
        curve_rows.append(
            (
                tuner,
                *(
                    _accuracy(_median([t.best_by(f * budget) for t in own], missing=-math.inf))
                    for f in _CURVE_POINTS
                ),
            )
        )
    curve_header = ("tuner", *(f"{f * budget:.0f} s" for f in _CURVE_POINTS))
    return "\n\n".join(
        [
            f"Target: {target * 100:.1f}% {MONITOR}. Times in s from each run's start; accuracies in %.",
            markdown_table(TABLE_HEADER, rows),
            "Median best-so-far at points of the budget:",
            markdown_table(curve_header, curve_rows),
        ]
    )


def spread(traces: Sequence[Trace]) -> str:
    """Quartiles of random configs' scores (KerasTuner's RandomSearch fits that ran to their end)."""
    scores = sorted(v for trace in traces if trace.tuner == "kt-random" for v in trace.fits.values())
    if len(scores) < 4:
        return "Random configs' spread: fewer than 4 random fits, not reported."
    q1, q2, q3 = statistics.quantiles(scores, n=4)
    return (
        f"Random configs' spread ({len(scores)} RandomSearch fits, best {MONITOR} each): "
        f"quartiles {q1 * 100:.1f} / {q2 * 100:.1f} / {q3 * 100:.1f}%, "
        f"interquartile range {(q3 - q1) * 100:.1f} points."
    )


def goal(traces: Sequence[Trace], target: float) -> str:
    """automl's median time-to-target against the best KerasTuner tuner's, and best-at-budget.

    When no KerasTuner tuner reaches the target (it is automl's own median),
    the times compared are those to the best KerasTuner tuner's median
    best-at-budget instead: how soon automl gets where that tuner ends.
    """
    budget = traces[0].budget

    def times(tuner: str, level: float) -> float | None:
        return _median([t.time_to(level) for t in traces if t.tuner == tuner], missing=math.inf)

    kt_tuners = [
        tuner for tuner in TUNERS if tuner.startswith("kt-") and any(t.tuner == tuner for t in traces)
    ]
    if "automl" not in {t.tuner for t in traces} or not kt_tuners:
        return "Goal: needs automl and at least one KerasTuner tuner in the run."
    bests = _best_medians(traces)
    reaching = [tuner for tuner in kt_tuners if times(tuner, target) is not None]
    if reaching:
        rival = min(reaching, key=lambda tuner: times(tuner, target) or 0.0)
        level, against = target, "the target"
    else:
        rival = max(kt_tuners, key=lambda tuner: bests[tuner])
        level = bests[rival]
        against = (
            f"{rival}'s median best at budget, {_accuracy(level)}% (no KerasTuner tuner reached the target)"
        )
    ours, theirs = times("automl", level), times(rival, level)
    ratio = "–" if ours is None or theirs is None else f"{ours / theirs:.2f}×"
    return (
        f"Goal (time to target ≤ 0.5× the best KerasTuner tuner's, best at budget ≥ its): "
        f"time to {against}: automl {seconds(ours)} s vs {rival} {seconds(theirs)} s = {ratio}; "
        f"best at {budget:.0f} s: automl {_accuracy(bests['automl'])}% vs {rival} {_accuracy(bests[rival])}%."
    )


# Driver ----------------------------------------------------------------------------


def _launch(
    tuner: str,
    seed: int,
    args: argparse.Namespace,
    tmp: Path,
    automl_settings: Mapping[str, Any] | None = None,
) -> Trace:
    """Runs one tuner in a fresh process; with ``automl_settings``, automl with them, labelled ``tuner``."""
    workdir = tmp / f"{tuner}-{seed}"
    workdir.mkdir()
    log = workdir / "epochs.jsonl"
    command = [
        sys.executable,
        "-m",
        "benchmarks.search_efficiency",
        f"--child={'automl' if automl_settings is not None else tuner}",
        f"--automl-settings={json.dumps(automl_settings or {})}",
        f"--seed={seed}",
        f"--budget={args.budget}",
        f"--epochs={args.epochs}",
        f"--data={args.data}",
        f"--log={log}",
        f"--workdir={workdir}",
        *([f"--address={args.address}"] if args.address else []),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=args.budget + _CHILD_SLACK_S,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if done.returncode != 0 or not log.exists():
        raise RuntimeError(
            f"the {tuner} run (seed {seed}) exited with code {done.returncode}; its last output:\n"
            + "\n".join(done.stderr.splitlines()[-30:])
        )
    trace = Trace.read(log, tuner=tuner, seed=seed, budget=args.budget)
    print(
        f"  {tuner:13s} seed {seed}: {len(trace.fits):3d} fits, best {_accuracy(trace.best_by(args.budget))}%, "
        f"process {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return trace


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in TUNERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown tuner(s) {unknown or text!r}; choose from {', '.join(TUNERS)}"
        )
    return names


def _variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME=JSON``: one more automl tuner, named NAME, with the JSON object's arguments to `automl.tune`."""
    name, sep, raw = (part.strip() for part in text.partition("="))
    if not sep or not name or name in TUNERS:
        raise argparse.ArgumentTypeError(
            f"--variant takes NAME=JSON, with a NAME other than {', '.join(TUNERS)}; got {text!r}"
        )
    try:
        settings = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--variant {name}: not JSON ({exc}): {raw!r}") from None
    if not isinstance(settings, dict):
        raise argparse.ArgumentTypeError(
            f"--variant {name}: expected a JSON object of automl.tune arguments, got {raw!r}"
        )
    fixed = sorted(set(settings) & _FIXED_AUTOML_ARGS)
    if fixed:
        raise argparse.ArgumentTypeError(
            f"--variant {name}: {', '.join(fixed)} are set alike for every tuner; "
            "a variant sets others, e.g. scheduler or sampler"
        )
    return name, settings


def _seeds(text: str) -> list[int]:
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--seeds takes integers separated by commas, got {text!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tuners",
        type=_names,
        default=list(DEFAULT_TUNERS),
        help=f"comma-separated, of {', '.join(TUNERS)}; default all but automl-hypermodel",
    )
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="default 0,1,2")
    parser.add_argument("--budget", type=float, default=90.0, help="wall seconds per run (default 90)")
    parser.add_argument("--epochs", type=int, default=20, help="most epochs per trial (default 20)")
    parser.add_argument("--data", choices=PROBLEMS, default=DATASET, help=f"the problem (default {DATASET})")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="automl, automl-hypermodel, kt-hyperband and optuna once: seed 0, 3 s, 3 epochs",
    )
    parser.add_argument(
        "--variant",
        type=_variant,
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="one more automl tuner, NAME, run with the JSON object's automl.tune arguments "
        '(e.g. \'automl-mv={"sampler": {"name": "tpe", "multivariate": true}}\'); repeatable',
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="tuners run at once (default 1, the measurement; more only to check the script runs)",
    )
    parser.add_argument(
        "--address",
        help="automl's runs join this Ray cluster (e.g. auto) instead of starting one each, "
        "so their clocks leave Ray's start out; to check the script runs beside a running Ray",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="also write every run's epochs (seconds since its start, val_accuracy) to PATH as JSON, "
        "as benchmarks.report reads them",
    )
    parser.add_argument("--child", choices=TUNERS, help=argparse.SUPPRESS)
    parser.add_argument("--automl-settings", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    if args.smoke:  # one tuner per code path (KerasTuner's share theirs), seconds each
        smoke = ["automl", "automl-hypermodel", "kt-hyperband", "optuna"]
        args.tuners, args.seeds, args.budget, args.epochs = smoke, [0], 3.0, 3
    if args.budget <= 0 or args.epochs < 1 or args.jobs < 1:
        parser.error(
            f"--budget must be > 0, --epochs and --jobs >= 1, got {args.budget}, {args.epochs} and {args.jobs}"
        )
    variants = dict(args.variant)
    if len(variants) < len(args.variant):
        parser.error(f"--variant names must differ, got {[name for name, _ in args.variant]}")

    info = machine_info(argv, "benchmarks.search_efficiency")
    print(machine_report(argv, "benchmarks.search_efficiency"))
    print(
        f"- data {args.data}; budget {args.budget:.0f} s per run, ≤ {args.epochs} epochs per trial, "
        f"seeds {args.seeds}\n"
    )
    # Seed-major: machine drift spreads over every tuner alike. The traces keep this order.
    runs: list[tuple[str, int, Mapping[str, Any] | None]] = [
        run
        for seed in args.seeds
        for run in [(tuner, seed, None) for tuner in args.tuners]
        + [(name, seed, settings) for name, settings in variants.items()]
    ]
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp, ThreadPoolExecutor(args.jobs) as pool:
        traces = list(pool.map(lambda run: _launch(run[0], run[1], args, Path(tmp), run[2]), runs))
    best, target = target_of(traces)
    print(report(traces, target))
    print(f"\nThe target is {best}'s median best at budget.")
    print(spread(traces))
    print(goal(traces, target))
    if args.json:
        write_results(
            args.json,
            "search_efficiency",
            info,
            data=args.data,
            budget_s=args.budget,
            max_epochs=args.epochs,
            seeds=args.seeds,
            traces=[
                {
                    "tuner": trace.tuner,
                    "seed": trace.seed,
                    "fits": len(trace.fits),
                    "epochs": [[round(when, 3), value] for when, value in trace.epochs],
                }
                for trace in traces
            ],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
