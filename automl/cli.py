"""The `automl` command line.

Exit codes: 0 done, 2 bad input (one line naming the file and field), 1 a run
that failed. ``--debug`` shows the Python traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import automl
from search_spaces import AutoMLError, ConfigError

# Each command imports what it uses: `automl --help` and a usage error answer without
# importing Ray Tune, MLflow and Optuna.
if TYPE_CHECKING:
    from automl.planning._experiment import Experiment

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _experiment(args: argparse.Namespace) -> Experiment:
    from automl.planning._experiment import Experiment

    try:
        return Experiment.from_yaml(args.experiment, overrides=args.set)
    except ConfigError as exc:
        raise ConfigError(f"{args.experiment}: {exc}") from exc


def _cmd_tune(args: argparse.Namespace) -> int:
    from automl.execution._quiet import held_native_stderr, keep_in_log

    with held_native_stderr() as held:  # TensorFlow's start-up, if the file's callbacks or build import it
        experiment = _experiment(args)
    result = experiment.run(verbose=0 if args.quiet else 1)
    keep_in_log(result.run_dir, b"".join(held))
    print()
    print(result.summary())
    return EXIT_OK


def _searched(experiment: Experiment) -> str:
    from search_spaces._hypermodel import HyperModelSpace

    space = experiment.space
    if isinstance(space, HyperModelSpace):
        return f"hypermodel {space.hypermodel.name}"
    return f"{len(space.flat_keys()) if space is not None else 0} params"


def _data_name(data: Any) -> str:
    """The data's label: a bundled set's name, a source's, or a loader function's."""
    if isinstance(data, str):
        return data
    return str(getattr(data, "name", None) or getattr(data, "__name__", type(data).__name__))


def _cmd_validate(args: argparse.Namespace) -> int:
    experiment = _experiment(args)
    data = experiment.data
    print(
        f"{args.experiment}: OK — {experiment.num_trials} trials of up to {experiment.epochs} epochs, "
        f"optimizing {experiment.metric} ({experiment.mode}) on {_data_name(data)}, "
        f"{_searched(experiment)}."
    )
    return EXIT_OK


def _cmd_resume(args: argparse.Namespace) -> int:
    from automl.planning._resume import resume

    result = resume(args.run_dir, verbose=0 if args.quiet else 1)
    print()
    print(result.summary())
    return EXIT_OK


def _cmd_best(args: argparse.Namespace) -> int:
    from automl._result import TuningResult

    result = TuningResult.load(args.run_dir)
    if args.top is None:
        print(result.summary())
        return EXIT_OK
    try:
        ranked = result.top(args.top)
    except ConfigError as exc:
        raise ConfigError(exc.reason, field="--top" if exc.field == "k" else exc.field) from exc
    print(f"Top {len(ranked)} trials by best {result.metric} ({result.mode}):")
    for rank, trial in enumerate(ranked, start=1):
        epoch = "?" if trial.best_epoch is None else trial.best_epoch
        print(
            f"{rank}. trial {trial.number}: {result.metric}={trial.score:.4f}, "
            f"best epoch {epoch} of {trial.epochs}"
        )
        print(f"   {json.dumps(trial.config)}")
    return EXIT_OK


def _cmd_retrain(args: argparse.Namespace) -> int:
    from automl._result import TuningResult
    from automl.execution._quiet import third_party_lines
    from automl.planning._retrain import retrain

    result = TuningResult.load(args.run_dir)
    epochs: int | Literal["best"] = "best" if args.epochs is None else args.epochs
    with third_party_lines(args.run_dir, verbose=1):
        done = retrain(result, data=None, epochs=epochs, rank=args.rank, build=None, verbose=0)
    trial = done.trial
    print(
        f"Retrained trial {trial.number} (rank {args.rank}, best {result.metric}={trial.score:.4f}) "
        f"for {done.epochs} epochs on the training and validation rows."
    )
    print(f"Model: {done.path}")
    print(f"MLflow run: {done.run_id} (under {result.parent_run_id}, experiment {result.experiment_id})")
    return EXIT_OK


def _cmd_sync(args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from automl.execution._parent_artifacts import PENDING_FILE as PENDING_ARTIFACTS_FILE
    from automl.execution._parent_artifacts import log_pending
    from automl.planning._resume import trusted_manifest
    from automl.tracking._credentials import public_uri
    from automl.tracking._writer import PENDING_FILE, replay

    run_dir = args.run_dir.resolve()
    journal, artifacts = run_dir / PENDING_FILE, run_dir / PENDING_ARTIFACTS_FILE
    if not journal.exists() and not artifacts.exists():
        print(f"nothing to send: {journal} does not exist (every write reached MLflow).")
        return EXIT_OK
    uri = trusted_manifest(run_dir)["tracking_uri"]
    if journal.exists():
        try:
            sent = replay(journal, uri)
        except MlflowException as exc:
            raise AutoMLError(
                f"MLflow at {public_uri(uri)} is still unreachable; {journal} is kept: {exc}"
            ) from exc
        print(f"sent {sent} kept writes to {public_uri(uri)}")
    logged = log_pending(run_dir, uri)
    if logged is None:
        return EXIT_OK
    done, failed = logged
    if done:
        print(f"logged {', '.join(done)} to the run's parent MLflow run")
    if failed:
        raise AutoMLError(
            f"logging {', '.join(failed)} failed again (see the warnings above); `automl sync` tries again"
        )
    return EXIT_OK


def _cmd_export(args: argparse.Namespace) -> int:
    from automl._result import TuningResult
    from automl.execution._quiet import third_party_lines

    result = TuningResult.load(args.run_dir)
    out = Path(args.out)
    if args.format == "keras" and out.suffix != ".keras":
        raise ConfigError(f"a keras export is a `.keras` file, but got --out {out}.", field="--out")
    # Data with categorical columns: the export takes raw rows (text included), one input per column.
    raw_rows = any(c.categorical for c in result.columns or ())
    if args.format == "keras" and not raw_rows:
        shutil.copyfile(result.best_model_path, out)
    else:
        with third_party_lines(args.run_dir, verbose=1):
            model = result.load_best_model(raw_rows=raw_rows)
        if args.format == "keras":
            model.save(out)
        else:
            model.export(str(out), format="tf_saved_model", verbose=False)
    print(f"Exported the best model ({result.metric}={result.best_value:.4f}) to {out}")
    if raw_rows:
        print(f"It takes raw rows: one input per column, {[c.name for c in result.columns or ()]}.")
    return EXIT_OK


def _cmd_ui(args: argparse.Namespace) -> int:
    from automl._result import TuningResult
    from automl.tracking._tracking import default_tracking_uri, tracking_client

    uri, experiment_id = args.tracking_uri, None
    if args.run_dir:
        result = TuningResult.load(args.run_dir)
        uri, experiment_id = uri or result.tracking_uri, result.experiment_id
    uri = uri or default_tracking_uri()
    base = f"http://{args.host}:{args.port}"
    page = (
        f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning" if experiment_id else base
    )
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
    command += ["--host", args.host, "--port", str(args.port)]
    print(f"MLflow UI on {uri}\nOpen {page}\n(Ctrl-C stops it.)", flush=True)
    if uri.startswith("sqlite:///"):
        # A new file gets its tables as a run builds them, under the same lock: the server
        # building them beside a run starting on the same file would break one of the two.
        tracking_client(uri)
    # MLflow 3 also starts seven job-runner processes for its GenAI jobs, which
    # comparing trials never uses; they double the start-up time and memory.
    return _serve(command, env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ})


def _cmd_tensorboard(args: argparse.Namespace) -> int:
    from automl._tensorboard import tensorboard_command
    from automl._trial_names import trial_names

    command = tensorboard_command(args.run_dir, host=args.host, port=args.port)
    trials = len(trial_names(args.run_dir))
    print(
        f"TensorBoard over the {trials} started trial{'s' if trials != 1 else ''} of {args.run_dir} "
        f"(named as in MLflow; restart to add trials started later)\nOpen http://{args.host}:{args.port}/\n"
        "(Ctrl-C stops it.)",
        flush=True,
    )
    return _serve(command, env=dict(os.environ))


def _serve(command: list[str], *, env: dict[str, str]) -> int:
    """Runs a server until it exits, or until this command is stopped (Ctrl-C or SIGTERM)."""
    # The server runs in its own process group so that stopping this command
    # (Ctrl-C or SIGTERM) stops the server's workers too, not just the parent.
    server = subprocess.Popen(command, start_new_session=True, env=env)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _cmd_submit(args: argparse.Namespace) -> int:
    from automl.execution._jobs import job_logs, submit
    from automl.planning._experiment import DataSpec, trial_resources

    experiment = _experiment(args)  # bad input fails here, before anything reaches the cluster
    paths = experiment.data.paths() if isinstance(experiment.data, DataSpec) else {}
    # The tracking store's credentials go in the job's environment (the one place the CLI reads them).
    job_id = submit(
        args.experiment,
        address=args.address,
        overrides=args.set,
        data_paths=paths,
        environment=os.environ,
        resources=trial_resources(experiment),
    )
    print(f"Submitted job {job_id} to {args.address}")
    print(f"  automl status {job_id} --address {args.address}")
    print(f"  automl logs {job_id} --address {args.address} --follow")
    if not args.follow:
        return EXIT_OK
    job_logs(job_id, address=args.address, follow=True)
    return _report_status(job_id, args.address)


def _report_status(job_id: str, address: str) -> int:
    from automl.execution._jobs import job_status

    status, message = job_status(job_id, address=address)
    print(f"{job_id}: {status}{f' — {message}' if message else ''}")
    return EXIT_OK if status in ("SUCCEEDED", "RUNNING", "PENDING") else EXIT_FAILED


def _cmd_status(args: argparse.Namespace) -> int:
    return _report_status(args.job_id, args.address)


def _cmd_logs(args: argparse.Namespace) -> int:
    from automl.execution._jobs import job_logs

    job_logs(args.job_id, address=args.address, follow=args.follow)
    return EXIT_OK


def _experiment_arguments(sub: argparse.ArgumentParser, set_help: str) -> None:
    sub.add_argument("experiment", type=Path, help="experiment YAML file")
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help=set_help)


def _tune_arguments(sub: argparse.ArgumentParser) -> None:
    _experiment_arguments(sub, "override a setting (dotted key, YAML value)")
    sub.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    sub.set_defaults(func=_cmd_tune)


def _validate_arguments(sub: argparse.ArgumentParser) -> None:
    _experiment_arguments(sub, "override a setting (dotted key, YAML value)")
    sub.set_defaults(func=_cmd_validate)


def _resume_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory (printed when the run started)")
    sub.add_argument("--quiet", action="store_true", help="no per-trial progress lines")
    sub.set_defaults(func=_cmd_resume)


def _best_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory (printed at the end of a run)")
    sub.add_argument(
        "--top", type=int, metavar="K", help="print the K best trials: score, best epoch, config"
    )
    sub.set_defaults(func=_cmd_best)


def _retrain_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory (printed at the end of a run)")
    sub.add_argument("--rank", type=int, default=1, metavar="K", help="the K-th best trial (default: 1)")
    sub.add_argument(
        "--epochs", type=int, metavar="N", help="epochs to fit (default: the trial's best epoch)"
    )
    sub.set_defaults(func=_cmd_retrain)


def _sync_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory")
    sub.set_defaults(func=_cmd_sync)


def _export_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory")
    sub.add_argument("--format", choices=["keras", "savedmodel"], default="keras", help="default: keras")
    sub.add_argument("--out", required=True, help="output file (.keras) or directory (savedmodel)")
    sub.set_defaults(func=_cmd_export)


def _ui_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, nargs="?", help="run directory (default: ./mlflow.db, no run)")
    sub.add_argument("--tracking-uri", help="tracking store (default: the run's, else ./mlflow.db)")
    sub.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)"
    )
    sub.add_argument("--port", type=int, default=5000, help="default: 5000")
    sub.set_defaults(func=_cmd_ui)


def _tensorboard_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("run_dir", type=Path, help="run directory of a run tuned with tensorboard=True")
    sub.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, this machine only)"
    )
    sub.add_argument("--port", type=int, default=6006, help="default: 6006, TensorBoard's")
    sub.set_defaults(func=_cmd_tensorboard)


def _address_argument(sub: argparse.ArgumentParser) -> None:
    # The command line is the one place that reads the environment: Ray's own variable.
    default = os.environ.get("RAY_API_SERVER_ADDRESS", "http://127.0.0.1:8265")
    sub.add_argument(
        "--address",
        default=default,
        help=f"the cluster's dashboard/job server (default: $RAY_API_SERVER_ADDRESS or {default})",
    )


def _submit_arguments(sub: argparse.ArgumentParser) -> None:
    _experiment_arguments(sub, "override a setting")
    _address_argument(sub)
    sub.add_argument("--follow", action="store_true", help="stream the logs until the job ends")
    sub.set_defaults(func=_cmd_submit)


def _status_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("job_id", help="the id printed by automl submit")
    _address_argument(sub)
    sub.set_defaults(func=_cmd_status)


def _logs_arguments(sub: argparse.ArgumentParser) -> None:
    _status_arguments(sub)
    sub.add_argument("--follow", action="store_true", help="stream until the job ends")
    sub.set_defaults(func=_cmd_logs)


_RUN = "automl_runs/digits-mlp-20261124-101500"
_JOB = "raysubmit_XXXX --address http://127.0.0.1:8265"
# Each subcommand: its name, its one-line help, an example, and the function adding its arguments.
_COMMANDS: tuple[tuple[str, str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    (
        "tune",
        "Run the experiment in a YAML file.",
        "automl tune examples/digits_mlp.yaml --set num_trials=6",
        _tune_arguments,
    ),
    (
        "validate",
        "Check an experiment file without running it.",
        "automl validate examples/digits_mlp.yaml",
        _validate_arguments,
    ),
    (
        "resume",
        "Finish an interrupted run: finished trials are kept, running ones continue from checkpoints.",
        f"automl resume {_RUN}",
        _resume_arguments,
    ),
    (
        "best",
        "Print a finished run's best config, metric and model path, or its K best trials.",
        f"automl best {_RUN} --top 3",
        _best_arguments,
    ),
    (
        "retrain",
        "Fit one of a run's best configs again on its training and validation rows, here (no Ray).",
        f"automl retrain {_RUN} --rank 1 --epochs 12",
        _retrain_arguments,
    ),
    (
        "sync",
        "Send the MLflow writes a run kept locally because the tracking server was unreachable.",
        f"automl sync {_RUN}",
        _sync_arguments,
    ),
    (
        "export",
        "Export a run's best model as a .keras file or a TensorFlow SavedModel for serving.",
        f"automl export {_RUN} --format savedmodel --out serving/digits",
        _export_arguments,
    ),
    (
        "ui",
        "Start the MLflow UI on a run's tracking store, on 127.0.0.1, and print the runs page URL.",
        f"automl ui {_RUN}",
        _ui_arguments,
    ),
    (
        "tensorboard",
        "Start TensorBoard over the trials of a run tuned with tensorboard=True, on 127.0.0.1.",
        f"automl tensorboard {_RUN} --port 6006",
        _tensorboard_arguments,
    ),
    (
        "submit",
        "Send an experiment to a Ray cluster as a job (Ray Jobs API), with this code and the file's directory.",
        "automl submit examples/digits_mlp.yaml --address http://127.0.0.1:8265 --follow",
        _submit_arguments,
    ),
    ("status", "Print a submitted job's status.", f"automl status {_JOB}", _status_arguments),
    ("logs", "Print (or --follow) a submitted job's logs.", f"automl logs {_JOB}", _logs_arguments),
)


def _parser() -> argparse.ArgumentParser:
    return _parsers()[0]


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `automl` parser and each subcommand's, by name (the docs' CLI reference renders them)."""
    parser = argparse.ArgumentParser(
        prog="automl",
        description="Tune Keras models: Optuna samples, Ray Tune schedules, MLflow records.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 done, 1 the run failed, 2 bad input.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser.add_argument("--version", action="version", version=f"%(prog)s {automl.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers = {}
    for name, help, example, add_arguments in _COMMANDS:
        sub = commands.add_parser(
            name,
            help=help,
            description=f"{help}\n\nExample:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        # SUPPRESS: `automl --debug tune ...` must not be reset by the subcommand's default.
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks"
        )
        add_arguments(sub)
        subparsers[name] = sub
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except AutoMLError as exc:
        if args.debug:
            raise
        print(f"error: {textwrap.shorten(str(exc), 2000)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt as exc:
        from automl._result import RunInterrupted  # imported by then: the run raised it

        if args.debug or not isinstance(exc, RunInterrupted):
            raise
        return EXIT_INTERRUPTED  # the run printed how to resume it


if __name__ == "__main__":
    sys.exit(main())
