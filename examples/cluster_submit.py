"""Send a tuning run to a Ray cluster with `automl submit`, here a one-node cluster on this machine.

Starts a Ray head whose job server listens on 127.0.0.1 only, submits
examples/digits_mlp.yaml through the Ray Jobs API, follows its output (the
job's logs), asks for its status, and stops the head. Against a real cluster, skip the
head and pass its job server's address:

    python examples/cluster_submit.py --trials 4 --epochs 5
    python examples/cluster_submit.py --address http://HEAD:8265   # an existing cluster

The same by hand, from a shell:

    .venv/bin/ray start --head --node-ip-address=127.0.0.1 --dashboard-host=127.0.0.1
    .venv/bin/automl submit examples/digits_mlp.yaml --address http://127.0.0.1:8265 --follow
    .venv/bin/automl status JOB_ID --address http://127.0.0.1:8265
    .venv/bin/automl logs JOB_ID --address http://127.0.0.1:8265
    .venv/bin/ray stop
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from automl.cli import main as automl

EXPERIMENT = Path(__file__).resolve().parent / "digits_mlp.yaml"
# Ports a Ray head takes besides the two we print; free ones, so that another
# Ray instance on this machine (a local `automl.tune`) does not clash with it.
_PORT_FLAGS = (
    "--port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--metrics-export-port",
    "--runtime-env-agent-port",
    "--ray-client-server-port",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_head(
    *, num_cpus: int = 2, temp_dir: str | None = None, timeout_s: float = 120
) -> tuple[str, subprocess.Popen]:
    """`ray start --head --block` on 127.0.0.1; returns the job server's address and the process."""
    ray = Path(sys.executable).parent / "ray"
    dashboard = free_port()
    command = [
        str(ray),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard}",
        f"--num-cpus={num_cpus}",
        "--disable-usage-stats",
        *(f"{flag}={free_port()}" for flag in _PORT_FLAGS),
        f"--temp-dir={temp_dir or tempfile.mkdtemp(prefix='ray-head-')}",
    ]
    # As on a real cluster, `python` in a job's entrypoint is the cluster's environment.
    env = {**os.environ, "PATH": f"{ray.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{address}/api/version", timeout=2):
                return address, process
        except urllib.error.HTTPError:  # any answer counts: 401 is a server asking for a token
            return address, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop_head(process)
                raise RuntimeError(f"the Ray head did not serve {address} (exit {process.poll()})") from None
            time.sleep(0.5)


def stop_head(process: subprocess.Popen) -> None:
    """Stops the head and everything it started (Ctrl-C stops `ray start --block`)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def cluster(address: str | None) -> Iterator[str]:
    """The given cluster, or a local head for the duration."""
    if address is not None:
        yield address
        return
    address, process = start_head()
    print(f"Started a Ray head; its job server is {address}")
    try:
        yield address
    finally:
        stop_head(process)
        print("Stopped the Ray head")


def run(address: str, overrides: list[str]) -> str:
    """Submits the experiment, follows its logs, then shows its status; returns the job id."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = automl(["submit", str(EXPERIMENT), "--address", address, "--follow", *overrides])
    print(out.getvalue(), end="")
    if code != 0:
        raise SystemExit(code)
    job_id = out.getvalue().split("Submitted job ", 1)[1].split()[0]
    automl(["status", job_id, "--address", address])
    return job_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", help="job server of an existing cluster (default: start a local head)")
    parser.add_argument("--trials", type=int, default=4, help="number of trials (default 4)")
    parser.add_argument("--epochs", type=int, default=5, help="most epochs per trial (default 5)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more overrides")
    args = parser.parse_args(argv)
    overrides = [f"num_trials={args.trials}", f"epochs={args.epochs}", *args.set]
    with cluster(args.address) as address:
        run(address, [arg for override in overrides for arg in ("--set", override)])


if __name__ == "__main__":
    main()
