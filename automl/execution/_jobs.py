"""Runs on a Ray cluster through the Ray Jobs API (`automl submit`, `status`, `logs`)."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import automl
import search_spaces
import trainers
from search_spaces import AutoMLError, ConfigError

__all__ = ["job_logs", "job_status", "submit"]

REACH_TIMEOUT_S = 5.0
AGENT_WAIT_S = 60.0


def _client(address: str) -> Any:
    """A Jobs API client, after checking within a few seconds that the address answers."""
    parsed = urllib.parse.urlparse(address)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(
            f"expected the Ray dashboard's HTTP address such as http://127.0.0.1:8265, but got {address!r}.",
            field="address",
        )
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(
            f"cannot reach the Ray job server at {address} within {REACH_TIMEOUT_S:.0f} s ({exc}); "
            "start a head with `ray start --head` (its dashboard serves jobs on port 8265) or fix --address.",
            field="address",
        ) from exc
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    from automl.execution._ray_compat import use_local_auth_token

    use_local_auth_token()  # the token `ray.init` would send, for a cluster with token auth
    try:
        return JobSubmissionClient(address)  # asks the server its version: a refused token fails here
    except AuthenticationError as exc:
        raise _refused(address, exc) from None


def _refused(address: str, exc: Exception) -> ConfigError:
    """The one-line error for a job server that refuses this client's token (Ray's spans lines)."""
    status = "wrong token (403)" if "invalid" in str(exc).lower() else "missing token (401)"
    return ConfigError(
        f"the Ray cluster at {address} refused this client's token: {status}; copy the head's token "
        "(`ray get-auth-token` there) to ~/.ray/auth_token, or name its file in RAY_AUTH_TOKEN_PATH "
        "or give it in RAY_AUTH_TOKEN.",
        field="address",
    )


def _check_cluster_fits(address: str, resources: Mapping[str, float]) -> None:
    """Raises a ConfigError unless a live node of the cluster at ``address`` can hold one trial."""
    from ray.util.state import list_nodes

    from automl.execution._resources import check_fits

    nodes = list_nodes(address=address, filters=[("state", "=", "ALIVE")], detail=True)
    if nodes:  # none listed yet (a head still starting): the job's own check, on the cluster, decides
        check_fits(resources, (node.resources_total for node in nodes))


def submit(
    experiment: Path, *, address: str, overrides: Sequence[str] = (), resources: Mapping[str, float] | None = None
) -> str:
    """Submits ``automl tune EXPERIMENT`` as a Ray job; returns the job id.

    The experiment file's directory is the job's working directory (so data
    paths relative to the file work), and this installation's `automl`,
    `search_spaces` and `trainers` packages are shipped with it, so the
    cluster runs the same code as the submitter. With ``resources`` (a
    trial's), a cluster none of whose nodes can hold a trial is refused
    before anything is submitted.
    """
    experiment = experiment.resolve()
    client = _client(address)
    if resources is not None:
        _check_cluster_fits(address, resources)
    sets = [f"--set={o}" for o in ("address=auto", *overrides)]
    entrypoint = shlex.join(["python", "-m", "automl.cli", "tune", experiment.name, "--quiet", *sets])
    runtime_env = {
        "working_dir": str(experiment.parent),
        "py_modules": [str(Path(m.__file__).parent) for m in (automl, search_spaces, trainers)],  # type: ignore[arg-type]
    }
    # A head that just started serves HTTP before its job agent is ready, and says so.
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return str(client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env))
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise AutoMLError(f"the Ray job server at {address} refused the job: {exc}") from exc
            time.sleep(1.0)


def job_status(job_id: str, *, address: str) -> tuple[str, str]:
    """The job's status (``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``STOPPED``) and message."""
    with _job_errors(job_id, address):
        info = _client(address).get_job_info(job_id)
    return str(info.status), info.message or ""


def job_logs(job_id: str, *, address: str, follow: bool) -> None:
    """Prints the job's logs; with ``follow``, streams them until the job ends."""
    client = _client(address)
    if not follow:
        with _job_errors(job_id, address):
            sys.stdout.write(client.get_job_logs(job_id))
        return

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            sys.stdout.write(lines)
            sys.stdout.flush()

    with _job_errors(job_id, address):
        asyncio.run(tail())


@contextlib.contextmanager
def _job_errors(job_id: str, address: str) -> Iterator[None]:
    """Turns the Jobs client's RuntimeErrors into the project's errors."""
    try:
        yield
    except RuntimeError as exc:
        if "does not exist" in str(exc):
            raise ConfigError(f"no job {job_id!r} on {address}.", field="job_id") from exc
        raise AutoMLError(f"the Ray job server at {address} answered: {exc}") from exc
