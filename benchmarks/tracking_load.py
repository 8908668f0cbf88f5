"""Concurrent tracking load: N studies at once against one MLflow store, the server restarted mid-load.

Each driver is its own process running one `automl.tune` study
(`benchmarks._load_driver`): "short" studies run `benchmarks.scale`'s
no-TensorFlow trial (one report per epoch, a one-file checkpoint), "keras"
studies real Keras fits on digits. All drivers join one Ray, started here on
127.0.0.1 (only one Ray may run on the machine), and write into one
experiment, so their runs also register versions of one model at once.

The stores, each new for the invocation:

- ``postgres``: a team's server, `mlflow server --app-name basic-auth
  --serve-artifacts` on a PostgreSQL database (`tests._servers`: initdb and
  pg_ctl in a temporary directory, as the ``postgres`` account when root);
  the drivers authenticate with MLFLOW_TRACKING_USERNAME/PASSWORD.
  ``--auth-cache-s 60`` turns on MLflow's credential cache
  (``auth_cache_ttl_seconds``; off by default in MLflow): without it the
  server checks the password's scrypt hash once or more per request.
- ``postgres-noauth``: the same server and database without the basic-auth
  app, which checks the password (a scrypt hash) on every request.
- ``sqlite-server``: `mlflow server` on a sqlite file.
- ``sqlite``: no server: every driver opens the same sqlite file (the default
  local store, shared by the drivers of one directory).

With ``--restart`` the server is stopped once the first epochs reached it,
and started again on the same store once a driver kept a write while it was
down (at most 30 s later: by then a slow server's drivers may have no trial
left to write). Afterwards the store is checked (`check_store`): every trial exactly one
child run under its parent, every epoch's point once, one registered model
version per study and no two alike, no run left RUNNING.

Figures: writes/s at the store (the drivers' calls, each one request or
transaction, over the span from the first acknowledged to the last), p50/p99
of a write's time from the driver's queue to the store's acknowledgement, the
longest queue of any driver's writer, and the failed attempts that said
"database is locked" (drivers' retries and the sqlite server's log).

    python -m benchmarks.tracking_load --store postgres --short 6 --keras 2 --trials 100 --restart
    python -m benchmarks.tracking_load --store postgres --auth-cache-s 60 --short 6 --keras 2 --trials 100 --restart
    python -m benchmarks.tracking_load --store sqlite-server --short 4 --trials 50
    python -m benchmarks.tracking_load --smoke          # 2 short studies of 5 trials on PostgreSQL
    ... --json benchmarks/results/tracking_load.json    # appends this invocation's record
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import machine_info, machine_report, markdown_table

STORES = ("postgres", "postgres-noauth", "sqlite-server", "sqlite")
EXPERIMENT = "load"
ROOT = Path(__file__).resolve().parents[1]

TABLE_HEADER = (
    "store",
    "one call idle ms",
    "drivers",
    "trials",
    "restart",
    "wall s",
    "writes",
    "writes / s",
    "write p50 ms",
    "write p99 ms",
    "queue peak",
    "retries",
    "database is locked",
    "check",
)


# The store ----------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_store(directory: Path, workers: int, auth_cache_s: int = 0) -> Iterator[Any]:
    """A team server on a new PostgreSQL cluster; yields it (``.url``, ``.user``, ``.password``, ``.stop()``, ``.start()``)."""
    from tests._servers import running_postgres, running_team_server

    with (
        running_postgres() as postgres,
        running_team_server(
            postgres, directory, name="load", workers=workers, auth_cache_s=auth_cache_s
        ) as server,
    ):
        yield server


class MlflowServer:
    """`mlflow server` without auth on a sqlite file or ``backend_uri``, stopped and started on the same port and store."""

    def __init__(self, directory: Path, workers: int, backend_uri: str | None = None) -> None:
        from tests._servers import free_port

        self.directory, self.port, self.workers, self.backend_uri = (
            directory,
            free_port(),
            workers,
            backend_uri,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        from tests._servers import start_mlflow_server

        self.process = start_mlflow_server(
            self.directory,
            self.port,
            backend_uri=self.backend_uri,
            options=["--serve-artifacts", "--workers", str(self.workers)],
        )

    def stop(self) -> None:
        from tests._servers import stop_process_group

        if self.process is not None:
            stop_process_group(self.process)
            self.process = None


@contextlib.contextmanager
def mlflow_server(directory: Path, workers: int, *, postgres: bool) -> Iterator[MlflowServer]:
    """A server without auth on a sqlite file, or on a new PostgreSQL cluster's database."""
    from tests._servers import running_postgres

    with running_postgres() if postgres else contextlib.nullcontext() as cluster:
        backend = cluster.database("load", user="load_owner", password="load-owner") if cluster else None
        server = MlflowServer(directory, workers, backend)
        server.start()
        try:
            yield server
        finally:
            server.stop()


# The drivers --------------------------------------------------------------------------------


def driver_specs(
    *,
    short: int,
    keras: int,
    trials: int,
    epochs: int,
    keras_trials: int,
    uri: str,
    address: str,
    storage: Path,
) -> list[dict[str, Any]]:
    """One spec per study: ``short`` studies of ``trials`` short trials, ``keras`` of ``keras_trials`` Keras ones."""
    common = {
        "uri": uri,
        "address": address,
        "experiment": EXPERIMENT,
        "storage": str(storage),
        "epochs": epochs,
    }
    specs = [
        {**common, "kind": "short", "name": f"short-{i}", "trials": trials, "cpu": 0.5, "seed": i}
        for i in range(short)
    ]
    specs += [
        {**common, "kind": "keras", "name": f"keras-{i}", "trials": keras_trials, "cpu": 1, "seed": i}
        for i in range(keras)
    ]
    return specs


def start_drivers(
    specs: Sequence[Mapping[str, Any]], env: Mapping[str, str], cwd: Path
) -> list[subprocess.Popen]:
    """Starts every driver at once; each prints its figures as its last line of stdout.

    Their output goes to files in ``cwd`` (``NAME.out``, ``NAME.err``), not pipes:
    nobody reads a pipe while the server restarts, and a full one would stall its driver.
    """
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    drivers = []
    for spec in specs:
        with (cwd / f"{spec['name']}.out").open("w") as out, (cwd / f"{spec['name']}.err").open("w") as err:
            drivers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "benchmarks._load_driver", json.dumps(spec)],
                    cwd=cwd,
                    env={**os.environ, **env, "PYTHONPATH": path},
                    stdout=out,
                    stderr=err,
                    text=True,
                )
            )
    return drivers


def stop_drivers(drivers: Sequence[subprocess.Popen]) -> None:
    """Kills the drivers still running and reaps them (a driver left unreaped warns at garbage collection)."""
    for driver in drivers:
        if driver.poll() is None:
            driver.kill()
            driver.wait()


def finish_drivers(
    drivers: Sequence[subprocess.Popen], specs: Sequence[Mapping[str, Any]], cwd: Path, timeout: float
) -> list[dict[str, Any]]:
    """Waits for every driver; their reports, or a RuntimeError with a failed driver's stderr."""
    reports = []
    for driver, spec in zip(drivers, specs, strict=True):
        driver.wait(timeout=timeout)
        out = (cwd / f"{spec['name']}.out").read_text()
        err = (cwd / f"{spec['name']}.err").read_text(errors="replace")
        if driver.returncode != 0:
            raise RuntimeError(f"driver {spec['name']} exited with {driver.returncode}:\n{err[-4000:]}")
        report = json.loads(out.strip().splitlines()[-1])
        reports.append({**report, "stderr_locked": err.count("database is locked")})
    return reports


def journals(storage: Path) -> list[Path]:
    from automl.tracking._writer import PENDING_FILE

    return list(storage.glob(f"*/{PENDING_FILE}"))


def wait_until_every_study_wrote(
    storage: Path,
    specs: Sequence[Mapping[str, Any]],
    drivers: Sequence[subprocess.Popen],
    timeout: float = 240,
) -> None:
    """Waits until every driver's epochs reach the store (its journal acknowledges one), or it ended.

    A driver still starting when the server goes down stops with a clear error,
    as a run started against a stopped server should: the outage is for runs
    under way.
    """
    from automl.tracking._writer import PENDING_FILE

    deadline = time.monotonic() + timeout
    waiting = {spec["name"]: driver for spec, driver in zip(specs, drivers, strict=True)}
    while waiting:
        for name, driver in list(waiting.items()):
            journal = storage / name / PENDING_FILE
            if driver.poll() is not None or (journal.exists() and _acked_epochs(journal)):
                del waiting[name]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no epoch of {sorted(waiting)} reached the store in time")
        time.sleep(0.2)


def _entries(journal: Path) -> list[dict[str, Any]]:
    """The journal's entries so far: none if it is gone (the run sent everything), a line being written skipped."""
    try:
        lines = journal.read_text().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        with contextlib.suppress(json.JSONDecodeError):
            entries.append(json.loads(line))
    return entries


def _acked_epochs(journal: Path) -> bool:
    entries = _entries(journal)
    acked = {(e["w"], e["ack"]) for e in entries if "ack" in e}
    return any(
        (e["w"], e["seq"]) in acked and e.get("kwargs", {}).get("metrics") for e in entries if "seq" in e
    )


def wait_for_a_write_kept_since(storage: Path, since: float, timeout: float = 120) -> bool:
    """Waits until a journal holds an epoch's metric taken at or after ``since``; False if none came."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for journal in journals(storage):
            for entry in _entries(journal):
                if any(m["timestamp"] / 1000 >= since for m in entry.get("kwargs", {}).get("metrics", [])):
                    return True
        time.sleep(0.2)
    return False


def restart_mid_load(
    server: Any,
    storage: Path,
    specs: Sequence[Mapping[str, Any]],
    drivers: Sequence[subprocess.Popen],
    *,
    down_flag: Path | None = None,
    max_down_s: float = 30,
) -> dict[str, Any]:
    """Stops the server once every study's epochs reached it, starts it again once a driver kept a write meanwhile.

    ``down_flag``, if given, is made once the server is down (a trial may wait
    for it). The server is down for ``max_down_s`` at most.
    """
    wait_until_every_study_wrote(storage, specs, drivers)
    server.stop()
    down = time.time()
    if down_flag is not None:
        down_flag.touch()
    kept = wait_for_a_write_kept_since(storage, down, timeout=max_down_s)
    server.start()
    return {"down": down, "up": time.time(), "write_kept_while_down": kept}


# The checks ---------------------------------------------------------------------------------


def check_store(
    client: Any, reports: Sequence[Mapping[str, Any]], specs: Sequence[Mapping[str, Any]]
) -> list[str]:
    """What the store holds that it should not, or lacks; empty when every study was recorded whole.

    Every trial exactly one child run under its study's parent, with each
    epoch's ``val_loss`` point once (steps 1 to ``epochs``); no run of the
    experiment left RUNNING; one registered model version per study, each
    naming its study's parent run, no two with the same number.
    """
    problems: list[str] = []
    experiment = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs([experiment.experiment_id], max_results=50_000)
    running = [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    if running:
        problems.append(f"{len(running)} runs left RUNNING")
    for report, spec in zip(reports, specs, strict=True):
        parent = report["parent_run_id"]
        children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
        trial_ids = [c.data.tags.get("automl.trial_id") for c in children]
        if len(children) != spec["trials"] or len(set(trial_ids)) != len(trial_ids):
            problems.append(
                f"{spec['name']}: {len(children)} child runs for {spec['trials']} trials ({len(set(trial_ids))} distinct trial ids)"
            )
        for child in children:
            steps = sorted(m.step for m in client.get_metric_history(child.info.run_id, "val_loss"))
            if steps != list(range(1, spec["epochs"] + 1)):
                problems.append(
                    f"{spec['name']}: trial {child.data.tags.get('automl.trial_id')} has epochs {steps}"
                )
            if child.info.status != "FINISHED":
                problems.append(f"{spec['name']}: a child run is {child.info.status}")
        if client.get_run(parent).info.status != "FINISHED":
            problems.append(f"{spec['name']}: the parent run is {client.get_run(parent).info.status}")
    versions = client.search_model_versions(f"name = '{EXPERIMENT}'")
    numbers = [v.version for v in versions]
    if len(set(numbers)) != len(numbers):
        problems.append(f"model versions collide: {sorted(numbers)}")
    if sorted(v.run_id for v in versions) != sorted(r["parent_run_id"] for r in reports):
        problems.append(f"{len(versions)} model versions for {len(reports)} studies")
    return problems


# One invocation -----------------------------------------------------------------------------


def _store(kind: str, directory: Path, workers: int, auth_cache_s: int) -> contextlib.AbstractContextManager:
    if kind == "postgres":
        return postgres_store(directory / "server", workers, auth_cache_s)
    if kind in ("sqlite-server", "postgres-noauth"):
        return mlflow_server(directory / "server", workers, postgres=kind == "postgres-noauth")
    return contextlib.nullcontext()


def _uri_env_client(kind: str, server: Any, directory: Path) -> tuple[str, dict[str, str], Any]:
    from mlflow.tracking import MlflowClient

    if kind == "postgres":
        env = {"MLFLOW_TRACKING_USERNAME": server.user, "MLFLOW_TRACKING_PASSWORD": server.password}
        admin = MlflowClient(f"http://admin:{server.admin_password}@127.0.0.1:{server.port}")
        return server.url, env, admin
    if kind in ("sqlite-server", "postgres-noauth"):
        return server.url, {}, MlflowClient(server.url)
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    return uri, {}, MlflowClient(uri)


def idle_call_ms(client: Any, calls: int = 15) -> float:
    """Median time of one metric write to the store with nothing else going on: its own cost per call."""
    experiment = client.create_experiment("idle-probe")  # not the load's experiment, which is checked
    run = client.create_run(experiment).info.run_id
    from mlflow.entities import Metric

    times = []
    for step in range(calls):
        start = time.perf_counter()
        client.log_batch(run, metrics=[Metric("probe", float(step), 0, step)])
        times.append(time.perf_counter() - start)
    client.delete_run(run)  # (set_terminated would print the run's URL, the admin's password in it)
    return 1000 * statistics.median(times)


def sync_pending(storage: Path, env: Mapping[str, str]) -> int:
    """Runs `automl sync` on each study whose run left writes or artifacts unsent, as a user would; how many writes there were."""
    from automl.execution._parent_artifacts import PENDING_FILE as PENDING_ARTIFACTS
    from automl.tracking._writer import unsent

    left = sum(len(unsent(journal)) for journal in journals(storage))
    run_dirs = {journal.parent for journal in journals(storage)} | {
        pending.parent for pending in storage.glob(f"*/{PENDING_ARTIFACTS}")
    }
    for run_dir in sorted(run_dirs):
        subprocess.run(
            [sys.executable, "-m", "automl", "sync", str(run_dir)],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
    return left


def figures(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Writes/s at the store, the writes' p50/p99 latency, the drivers' queue peak, retries and locks."""
    acked = sorted(t for r in reports for t in r["acked_at"])
    latencies = sorted(x for r in reports for x in r["latencies_s"])
    span = acked[-1] - acked[0] if len(acked) > 1 else float("nan")
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {
        "writes": sum(r["calls"] for r in reports),
        "writes_per_s": sum(r["calls"] for r in reports) / span,
        "write_p50_ms": 1000 * quantiles[49],
        "write_p99_ms": 1000 * quantiles[98],
        "queue_peak": max(r["queue_peak"] for r in reports),
        "retries": sum(r["retries"] for r in reports),
        "locked": sum(r["locked"] + r["stderr_locked"] for r in reports),
        "wall_s": max(r["end"] for r in reports) - min(r["start"] for r in reports),
    }


def run_load(args: argparse.Namespace, address: str, tmp: Path) -> dict[str, Any]:
    storage = tmp / "runs"
    with _store(args.store, tmp, args.server_workers, args.auth_cache_s) as server:
        uri, env, client = _uri_env_client(args.store, server, tmp)
        idle_ms = idle_call_ms(client)
        specs = driver_specs(
            short=args.short,
            keras=args.keras,
            trials=args.trials,
            epochs=args.epochs,
            keras_trials=args.keras_trials,
            uri=uri,
            address=address,
            storage=storage,
        )
        drivers = start_drivers(specs, env, tmp)
        try:
            restart = restart_mid_load(server, storage, specs, drivers) if args.restart and server else None
            reports = finish_drivers(drivers, specs, tmp, timeout=1800)  # 6 × 100 trials on a slow server take ~10 min
        finally:
            stop_drivers(drivers)
        left = sync_pending(storage, env)
        problems = check_store(client, reports, specs)
        server_locked = _server_locked(tmp / "server")
    return {
        "specs": [{k: v for k, v in s.items() if k not in ("uri", "address", "storage")} for s in specs],
        "restart": restart,
        "problems": problems,
        "server_log_locked": server_locked,
        "dropped": [d for r in reports for d in r["dropped"]],
        "store": args.store,
        "server_workers": args.server_workers if args.store != "sqlite" else None,
        "auth_cache_s": args.auth_cache_s if args.store == "postgres" else None,
        "idle_call_ms": idle_ms,
        "left_to_sync": left,
        **figures(reports),
    }


def _server_locked(directory: Path) -> int:
    log = directory / "server.log"
    return log.read_text(errors="replace").count("database is locked") if log.exists() else 0


def row(args: argparse.Namespace, record: Mapping[str, Any]) -> list[str]:
    drivers = f"{args.short} short + {args.keras} Keras" if args.keras else f"{args.short} short"
    trials = f"{args.short}×{args.trials}" + (f" + {args.keras}×{args.keras_trials}" if args.keras else "")
    store = f"{args.store} ({args.server_workers} workers)" if args.store != "sqlite" else args.store
    if args.store == "postgres" and args.auth_cache_s:
        store = store[:-1] + f", credentials cached {args.auth_cache_s} s)"
    return [
        store,
        f"{record['idle_call_ms']:.0f}",
        drivers,
        f"{trials} × {args.epochs} epochs",
        "yes" if record["restart"] else "no",
        f"{record['wall_s']:.0f}",
        str(record["writes"]),
        f"{record['writes_per_s']:.1f}",
        f"{record['write_p50_ms']:.0f}",
        f"{record['write_p99_ms']:.0f}",
        str(record["queue_peak"]),
        str(record["retries"]),
        f"{record['locked']} (server log {record['server_log_locked']})",
        ("ok" if not record["problems"] else "; ".join(record["problems"][:3]))
        + (f" (after `automl sync` of {record['left_to_sync']} writes)" if record["left_to_sync"] else ""),
    ]


def append_results(path: str | Path, info: Mapping[str, str], record: Mapping[str, Any]) -> None:
    """Adds this invocation's record to ``path`` (one file holds the PostgreSQL and sqlite invocations)."""
    target = Path(path)
    data = (
        json.loads(target.read_text()) if target.exists() else {"benchmark": "tracking_load", "records": []}
    )
    data["records"].append({"source": "a run of benchmarks.tracking_load with --json", **info, **record})
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"- raw results appended to {target}", flush=True)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=STORES, default="postgres", help="default postgres")
    parser.add_argument("--short", type=int, default=6, help="studies of short trials (default 6)")
    parser.add_argument("--keras", type=int, default=0, help="studies of Keras trials on digits (default 0)")
    parser.add_argument("--trials", type=int, default=100, help="trials per short study (default 100)")
    parser.add_argument("--keras-trials", type=int, default=3, help="trials per Keras study (default 3)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of every trial (default 3)")
    parser.add_argument("--restart", action="store_true", help="stop and start the server once mid-load")
    parser.add_argument(
        "--server-workers",
        type=int,
        default=4,
        help="the tracking server's worker processes (default 4, MLflow's)",
    )
    parser.add_argument(
        "--auth-cache-s",
        type=int,
        default=0,
        help="postgres: MLflow's basic-auth credential cache, auth_cache_ttl_seconds (default 0: off, MLflow's default)",
    )
    parser.add_argument("--smoke", action="store_true", help="2 short studies of 5 trials, 2 epochs")
    parser.add_argument(
        "--json", metavar="PATH", help="append the record to PATH, as benchmarks.report reads it"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.short, args.keras, args.trials, args.epochs = 2, 0, 5, 2
    if args.restart and args.store == "sqlite":
        parser.error("--restart needs a server: --store postgres, postgres-noauth or sqlite-server")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    info = machine_info(argv, "benchmarks.tracking_load")
    print(machine_report(argv, "benchmarks.tracking_load"), flush=True)
    import ray

    from benchmarks._common import start_ray

    start_ray()
    address = ray.get_runtime_context().gcs_address
    try:
        with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
            os.chmod(
                tmp, 0o755
            )  # the server's PostgreSQL account reads nothing here, but mlflow's artifacts may
            record = run_load(args, address, Path(tmp))
    finally:
        ray.shutdown()
    print()
    print(markdown_table(TABLE_HEADER, [row(args, record)]))
    if record["restart"]:
        r = record["restart"]
        print(
            f"- server down {r['up'] - r['down']:.1f} s; a write was kept while down: {r['write_kept_while_down']}"
        )
    if record["problems"]:
        print("- problems:\n  " + "\n  ".join(record["problems"]))
    if args.json:
        append_results(
            args.json, info, {"args": vars(args) | {"json": None}, "row": row(args, record), **record}
        )
    return 1 if record["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
