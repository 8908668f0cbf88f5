"""The driver SIGKILLed at random moments, then `automl resume`: is anything lost or duplicated?

Each repetition starts a tuning run in its own process group (its driver and
local Ray), kills the whole group a random delay after the run directory's
``run.json`` appears (0-30 s: from before the first trial to after the last), resumes the run in a
fresh process, and checks the result, Optuna's history (the searcher state
Ray saved in the run directory) and MLflow: finished trials = budget, none
duplicated, none lost, no run left RUNNING, one metric point per epoch.

    .venv/bin/python -m benchmarks.driver_kills --repetitions 10
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks._common import machine_report, markdown_table

TABLE_HEADER = (
    "rep",
    "kill at s after run.json",
    "MLflow at kill",
    "resumed",
    "trials",
    "complete",
    "duplicated",
    "lost",
    "left RUNNING",
    "points duplicated",
    "Optuna complete",
)

DRIVER = textwrap.dedent(
    """
    import sys
    import automl
    from search_spaces import mlp

    trials, epochs = int(sys.argv[3]), int(sys.argv[4])
    automl.tune(
        mlp(max_layers=2), data="digits", num_trials=trials, epochs=epochs, patience=epochs,
        scheduler="fifo", seed=0, max_concurrent_trials=2, name="killed", experiment_name="kills",
        tracking_uri=sys.argv[1], storage_path=sys.argv[2], verbose=0,
    )
    """
)

RESUME = "import sys, automl; automl.resume(sys.argv[1], verbose=0)"


def _mlflow_states(uri: str) -> dict[str, str]:
    from automl.tracking._tracking import tracking_client

    try:
        client = tracking_client(uri)  # as the driver opens it: a new store is built under a lock
        experiment = client.get_experiment_by_name("kills")
        if experiment is None:
            return {}
        runs = client.search_runs([experiment.experiment_id], "tags.automl.trial_id != ''")
    except Exception:  # noqa: BLE001 - the store did not exist yet, or was half made
        return {}
    return {r.data.tags["automl.trial_id"]: r.info.status for r in runs}


def _optuna_complete(run_dir: Path) -> int | None:
    """Completed trials in the sampler's study, from the searcher state Ray saved (our own run dir)."""
    states = sorted(run_dir.glob("searcher-state-*.pkl"))
    if not states:
        return None
    with open(states[-1], "rb") as handle:
        saved = pickle.load(handle)  # noqa: S301 - written by this script's own run, in its temp dir
    import optuna

    return sum(t.state == optuna.trial.TrialState.COMPLETE for t in saved["_ot_study"].trials)


def _check(run_dir: Path, uri: str, budget: int) -> dict[str, Any]:
    from mlflow.tracking import MlflowClient

    import automl

    result = automl.TuningResult.load(run_dir)
    client = MlflowClient(uri)
    runs = client.search_runs([result.experiment_id])
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == result.parent_run_id]
    ids = [r.data.tags["automl.trial_id"] for r in children]
    points_duplicated = 0
    for child in children:
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_accuracy")]
        points_duplicated += len(steps) - len(set(steps))
    trials = result.trials
    return {
        "trials": len(trials),
        "complete": int((trials["state"] == "COMPLETE").sum()),
        "duplicated": (len(trials) - trials["trial_id"].nunique()) + (len(ids) - len(set(ids))),
        "lost": max(budget - len(trials), 0) + len(set(trials["trial_id"]) - set(ids)),
        "left_running": sum(r.info.status == "RUNNING" for r in runs),
        "points_duplicated": points_duplicated,
        "optuna_complete": _optuna_complete(run_dir),
        "not_complete": [
            {"state": row["state"], "error": str(row["error"])[-300:]}
            for _, row in trials[trials["state"] != "COMPLETE"].iterrows()
        ],
    }


def _repetition(tmp: Path, delay: float, *, trials: int, epochs: int) -> dict[str, Any]:
    uri, storage = f"sqlite:///{tmp / 'mlflow.db'}", tmp / "runs"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, uri, str(storage), str(trials), str(epochs)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run_dir = storage / "killed"
    deadline = time.monotonic() + 300
    while not (run_dir / "run.json").exists() and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # the run exists once run.json does; the kill lands somewhere after that
    time.sleep(delay)
    finished_first = driver.poll() is not None
    if not finished_first:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    states = _mlflow_states(uri)
    at_kill = (
        "run ended first"
        if finished_first
        else (
            f"{sum(s == 'FINISHED' for s in states.values())} finished, {sum(s == 'RUNNING' for s in states.values())} running"
        )
    )
    if not (run_dir / "run.json").exists():
        return {"at_kill": at_kill, "resumed": "nothing to resume (killed before run.json)"}
    resumed = subprocess.run([sys.executable, "-c", RESUME, str(run_dir)], capture_output=True, text=True)
    if resumed.returncode != 0:
        return {"at_kill": at_kill, "resumed": f"FAILED: {resumed.stderr.strip().splitlines()[-1:]}"}
    return {"at_kill": at_kill, "resumed": "yes", **_check(run_dir, uri, trials)}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-delay", type=float, default=0.0, help="kill no sooner than this after the run exists (s)"
    )
    parser.add_argument(
        "--max-delay", type=float, default=30.0, help="kill within this long after the run exists (s)"
    )
    parser.add_argument("--trials", type=int, default=4, help="trials per run (default 4)")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per trial (default 6)")
    parser.add_argument(
        "--smoke", action="store_true", help="one kill 6 s after the run exists, of 2 trials of 3 epochs"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.repetitions, args.min_delay, args.max_delay, args.trials, args.epochs = 1, 6.0, 6.0, 2, 3
    print(machine_report(argv, "benchmarks.driver_kills"), flush=True)
    rng = random.Random(args.seed)
    rows, failures = [], 0
    for rep in range(1, args.repetitions + 1):
        delay = rng.uniform(args.min_delay, args.max_delay)
        tmp = Path(tempfile.mkdtemp(prefix=f"driver-kill-{rep}-"))
        outcome = _repetition(tmp, delay, trials=args.trials, epochs=args.epochs)
        print(json.dumps({"rep": rep, "delay": round(delay, 1), **outcome}), flush=True)
        ok = outcome["resumed"] != "yes" or (
            outcome["complete"] == args.trials
            and outcome["duplicated"] == outcome["lost"] == outcome["left_running"] == 0
            and outcome["points_duplicated"] == 0
            and outcome["optuna_complete"] == args.trials
        )
        failures += not ok and not outcome["resumed"].startswith("nothing")
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"rep {rep}: kept {tmp} to look at", flush=True)
        rows.append(
            [
                rep,
                f"{delay:.1f}",
                outcome["at_kill"],
                outcome["resumed"],
                *(
                    outcome.get(key, "–")
                    for key in (
                        "trials",
                        "complete",
                        "duplicated",
                        "lost",
                        "left_running",
                        "points_duplicated",
                        "optuna_complete",
                    )
                ),
            ]
        )
    print()
    print(markdown_table(TABLE_HEADER, rows))
    print(f"\n{args.repetitions} kills, {failures} with a trial lost, duplicated or left RUNNING")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
