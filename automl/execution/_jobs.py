"""Runs on a Ray cluster through the Ray Jobs API (`automl submit`, `status`, `logs`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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
from automl.tracking._credentials import public_uri
from search_spaces import AutoMLError, ConfigError

__all__ = ["job_logs", "job_status", "submit"]

REACH_TIMEOUT_S = 5.0
AGENT_WAIT_S = 60.0
# The largest working directory Ray's job submission uploads (its package size limit).
UPLOAD_LIMIT_BYTES = 512 * 2**20


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


# The tracking store's credentials a job takes from the submitter's environment (MLflow's and libpq's names).
CREDENTIAL_VARIABLES = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "PGPASSWORD")


def submit(
    experiment: Path,
    *,
    address: str,
    overrides: Sequence[str] = (),
    data_paths: Mapping[str, str] | None = None,
    environment: Mapping[str, str] | None = None,
    resources: Mapping[str, float] | None = None,
) -> str:
    """Submits ``automl tune EXPERIMENT`` as a Ray job; returns the job id.

    The experiment file's directory is the job's working directory (so data
    paths relative to the file work), and this installation's `automl`,
    `search_spaces` and `trainers` packages are shipped with it, so the
    cluster runs the same code as the submitter. Data outside that
    directory does not travel: its paths (``data_paths``, key → path as
    resolved here) are passed to the job as they are, and must be visible
    to every node (a shared filesystem, or a URL).

    The tracking store's credentials travel in the job's environment, never
    in its entrypoint (which Ray prints and lists): those of
    `CREDENTIAL_VARIABLES` set in ``environment``, and the password of a
    ``tracking_uri=`` override, which the entrypoint gets without it. With
    ``resources`` (a trial's), a cluster none of whose nodes can hold a
    trial is refused before anything is submitted.

    Raises:
        ConfigError: The working directory is over Ray's upload limit (said
            before anything is sent), the address does not answer, or a
            ``tracking_uri`` override holds a password for a store that
            takes none from the environment.
    """
    experiment = experiment.resolve()
    check_upload_size(experiment.parent)
    client = _client(address)
    if resources is not None:
        _check_cluster_fits(address, resources)
    passed = outside_paths(experiment.parent, data_paths or {})
    env = {k: v for k, v in (environment or {}).items() if k in CREDENTIAL_VARIABLES}
    overrides = [_credentials_out(o, env) for o in overrides]
    sets = [f"--set={o}" for o in ("address=auto", *overrides, *passed)]
    entrypoint = shlex.join(["python", "-m", "automl.cli", "tune", experiment.name, "--quiet", *sets])
    runtime_env: dict[str, Any] = {
        "working_dir": str(experiment.parent),
        "py_modules": [str(Path(m.__file__).parent) for m in (automl, search_spaces, trainers)],  # type: ignore[arg-type]
    }
    if env:
        runtime_env["env_vars"] = env
    # A head that just started serves HTTP before its job agent is ready, and says so.
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return str(client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env))
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise AutoMLError(f"the Ray job server at {address} refused the job: {exc}") from exc
            time.sleep(1.0)


def outside_paths(working_dir: Path, data_paths: Mapping[str, str]) -> list[str]:
    """Overrides giving the job the data paths outside ``working_dir`` as they are here (absolute).

    A path inside travels with the working directory and is resolved there
    again; one outside (``../shared/images``, ``/mnt/data/*.tfrecord``) is
    passed through, so a cluster sharing the filesystem reads the same files.
    """
    inside = str(working_dir) + "/"
    return [
        f"data.{key}={json.dumps(path)}"  # a JSON string is a YAML string
        for key, path in data_paths.items()
        if "://" not in path and not path.startswith(inside)
    ]


def check_upload_size(working_dir: Path) -> None:
    """Refuses, before anything is sent, a working directory larger than Ray uploads.

    Raises:
        ConfigError: The directory's files add up to more than `UPLOAD_LIMIT_BYTES`.
    """
    total = 0
    for root, dirs, files in os.walk(working_dir):
        dirs[:] = [d for d in dirs if d != ".git"]  # never uploaded
        for name in files:
            with contextlib.suppress(OSError):  # a file removed meanwhile, a dangling link
                total += os.lstat(os.path.join(root, name)).st_size
    if total > UPLOAD_LIMIT_BYTES:
        raise ConfigError(
            f"the job's working directory {working_dir} (the experiment file's) holds {total / 2**20:.0f} MiB, "
            f"more than the {UPLOAD_LIMIT_BYTES / 2**20:.0f} MiB Ray uploads to a cluster; keep large data "
            "outside it, on a filesystem every node sees (or a URL), and point the experiment file at it with "
            "an absolute path, or move the file into a directory of its own.",
            field="working_dir",
        )


def _credentials_out(override: str, env: dict[str, str]) -> str:
    """A ``tracking_uri=URI`` override without the URI's password, which goes into ``env``."""
    key, _, uri = override.partition("=")
    parts = urllib.parse.urlsplit(uri.strip())
    if key.strip() != "tracking_uri" or parts.password is None:
        return override
    if parts.scheme in ("http", "https"):
        env["MLFLOW_TRACKING_USERNAME"] = urllib.parse.unquote(parts.username or "")
        env["MLFLOW_TRACKING_PASSWORD"] = urllib.parse.unquote(parts.password)
        host = parts.netloc.rpartition("@")[2]
        return f"tracking_uri={urllib.parse.urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))}"
    if parts.scheme.startswith("postgresql"):
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
        return f"tracking_uri={public_uri(uri.strip())}"
    raise ConfigError(
        f"a job's entrypoint is shown to everyone on the cluster, so it cannot hold the password of "
        f"{public_uri(uri.strip())}; give a {parts.scheme} store's password to its driver through its own "
        "configuration, or use an MLflow server (MLFLOW_TRACKING_PASSWORD).",
        field="tracking_uri",
    )


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
