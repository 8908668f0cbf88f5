"""Helpers for tests that start real servers (Ray head, MLflow, PostgreSQL) on 127.0.0.1, and find their processes."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import glob
import http.client
import http.server
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, *, what: str, timeout_s: float = 120) -> None:
    """Polls ``url`` until it answers (any HTTP status counts: 401 is a server asking for a token).

    Fails the test if ``process`` exits first or the time runs out; the caller
    stops the process.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"{what} exited with {process.returncode} before serving {url}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not serve {url} within {timeout_s:.0f} s")
            time.sleep(0.5)


def start_mlflow_server(
    directory: Path,
    port: int,
    *,
    backend_uri: str | None = None,
    options: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """Starts `mlflow server` on 127.0.0.1:``port``; waits until it serves.

    The backend is ``backend_uri``, else a sqlite file in ``directory``; the
    artifacts go to ``directory / "artifacts"``. ``options`` are more of the
    server's arguments, ``env`` more environment variables. The same
    directory and port after a stop bring back the same store. Stop it with
    `stop_process_group`.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "server.log").open("ab") as log:  # appended to by a restart
        process = _popen_mlflow_server(directory, port, backend_uri, options, env, log)
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/health", process, what="mlflow server")
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    return process


def _popen_mlflow_server(directory, port, backend_uri, options, env, log) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            backend_uri or f"sqlite:///{directory / 'backend.db'}",
            "--artifacts-destination",
            str(directory / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            *options,
        ],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
        # No GenAI job runners: seven more processes that slow the start and compete with trials.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **(env or {})},
    )


class DelayingProxy:
    """An HTTP proxy on 127.0.0.1 that passes each request on to ``target`` after ``delay_s`` seconds.

    A slow tracking server without slowing the real one: a busy team server,
    or (with a delay longer than the caller waits) one that stops answering.
    ``delay_s`` may be changed while it serves; `kill` ends it as a killed
    server ends, and a new proxy on its ``port`` is the server started again.
    Use it as a context manager.
    """

    def __init__(self, target: str, delay_s: float, *, port: int = 0) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.delay_s = delay_s
        self.requests = 0
        self.peak = 0  # the most requests it held at once
        self.killed = False
        self._lock = threading.Lock()
        self._in_flight = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                with proxy._lock:
                    proxy.requests += 1
                    proxy._in_flight += 1
                    proxy.peak = max(proxy.peak, proxy._in_flight)
                try:
                    self._delayed()
                finally:
                    with proxy._lock:
                        proxy._in_flight -= 1

            def _delayed(self) -> None:
                time.sleep(proxy.delay_s)
                if proxy.killed:  # the connection closes unanswered
                    self.close_connection = True
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                connection = http.client.HTTPConnection(proxy.target.hostname, proxy.target.port, timeout=60)
                try:
                    connection.request(self.command, self.path, body=body, headers=dict(self.headers))
                    answer = connection.getresponse()
                    data = answer.read()
                finally:
                    connection.close()
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> DelayingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.killed:
            self._server.shutdown()
            self._server.server_close()

    def kill(self) -> None:
        """Stops listening (connections are refused) and closes the requests in progress unanswered."""
        self.killed = True
        self._server.shutdown()
        self._server.server_close()


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, SIGKILL after 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def own_processes(title: str) -> set[int]:
    """This process's descendants whose command line starts with ``title`` (e.g. Ray's ``ray::IDLE``).

    Not `pgrep`: another Ray on the machine (another test run's) has processes
    of the same names.
    """
    parents = {}
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError):  # not a process, or one that ended meanwhile
            continue
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - mine
        mine |= frontier
    found = set()
    for pid in mine:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read().startswith(title.encode()):
                    found.add(pid)
        except OSError:
            continue
    return found


# PostgreSQL ------------------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The newest of Debian's PostgreSQL server directories (``/usr/lib/postgresql/N/bin``), if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


@dataclasses.dataclass(frozen=True)
class Postgres:
    """A PostgreSQL server of the test session: on 127.0.0.1:``port``, its socket and data in ``directory``."""

    port: int
    directory: Path
    bin: Path
    owner: str | None  # the account it runs as (PostgreSQL refuses root), None: this process's

    def run(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        """Runs one of PostgreSQL's programs as the server's owner (output captured, failure raises)."""
        argv = [str(self.bin / command[0]), *command[1:]]
        if self.owner is not None:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        return subprocess.run(argv, check=True, capture_output=True, text=True, cwd=self.directory, **kwargs)

    def sql(self, statement: str) -> str:
        """Runs ``statement`` as the superuser over the unix socket (trusted there); returns psql's output."""
        host = ["-h", str(self.directory), "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        return self.run("psql", *host, "-v", "ON_ERROR_STOP=1", "-Atc", statement).stdout

    def database(self, name: str, *, user: str, password: str) -> str:
        """Creates database ``name`` owned by a new login ``user``; returns its SQLAlchemy URI (password included)."""
        self.sql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        self.sql(f"CREATE DATABASE {name} OWNER {user}")
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        """Starts the server and waits until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.directory}"
        self.run("pg_ctl", "-D", "data", "-l", "server.log", "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stops the server (fast shutdown: open sessions are ended)."""
        self.run("pg_ctl", "-D", "data", "-m", "fast", "-w", "stop")


def _postgres_owner() -> tuple[str | None, int, int]:
    if os.geteuid() != 0:
        return None, os.getuid(), os.getgid()
    try:
        account = pwd.getpwnam("postgres")  # made by Debian's package
    except KeyError:
        pytest.fail(
            "PostgreSQL refuses to run as root and there is no `postgres` account: apt-get install postgresql"
        )
    return "postgres", account.pw_uid, account.pw_gid


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A new PostgreSQL cluster in a temporary directory, on a free port of 127.0.0.1; removed after.

    As root the server runs as the ``postgres`` account, which owns the directory.
    Connections over TCP need a password; the superuser connects over the unix
    socket in the directory only.
    """
    bin = postgres_bin()
    if bin is None:
        pytest.fail("PostgreSQL is not installed (`make test` installs it: apt-get install postgresql)")
    owner, uid, gid = _postgres_owner()
    # Not under pytest's tmp_path: its parents are closed to other accounts.
    directory = Path(tempfile.mkdtemp(prefix="automl-postgres-"))
    os.chown(directory, uid, gid)
    server = Postgres(port=free_port(), directory=directory, bin=bin, owner=owner)
    try:
        server.run(
            "initdb",
            "-D",
            "data",
            "-U",
            "postgres",
            "--no-sync",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        )
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
                server.stop()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the session's tests (each makes its own database)."""
    with running_postgres() as server:
        yield server


# A team's MLflow server: PostgreSQL behind it, artifacts through it, basic auth in front -------


@dataclasses.dataclass
class TeamServer:
    """`mlflow server --app-name basic-auth` on a PostgreSQL store, with proxied artifacts, on 127.0.0.1.

    ``url`` has no credentials; ``user``/``password`` are a non-admin account's.
    """

    directory: Path
    port: int
    backend_uri: str  # PostgreSQL's URI, its password included
    auth_config: Path
    user: str
    password: str
    admin_password: str
    # The basic-auth app's CSRF key: the same across restarts.
    flask_secret: str = dataclasses.field(default_factory=lambda: secrets.token_hex(16))
    workers: int = 1  # the tests' one worker; MLflow's default is 4
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = start_mlflow_server(
            self.directory,
            self.port,
            backend_uri=self.backend_uri,
            options=["--serve-artifacts", "--app-name", "basic-auth", "--workers", str(self.workers)],
            env={
                "MLFLOW_AUTH_CONFIG_PATH": str(self.auth_config),
                "MLFLOW_FLASK_SERVER_SECRET_KEY": self.flask_secret,
            },
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

    def add_user(self, name: str, password: str) -> None:
        """Creates a (non-admin) account through the server's REST API, as its admin."""
        request = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/users/create",
            data=json.dumps({"username": name, "password": password}).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": _basic("admin", self.admin_password),
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30):
            pass


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@contextlib.contextmanager
def running_team_server(
    postgres: Postgres, directory: Path, *, name: str, workers: int = 1, auth_cache_s: int = 0
) -> Iterator[TeamServer]:
    """A new team server (databases ``name`` and ``name_auth`` on ``postgres``) with one account, ``alice``,
    and ``workers`` worker processes; with ``auth_cache_s``, MLflow's credential cache keeps a
    checked password that many seconds (off by default, as in MLflow)."""
    directory.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(12)
    backend = postgres.database(name, user=f"{name}_owner", password=secret)
    auth = backend.rsplit("/", 1)[0] + f"/{name}_auth"
    postgres.sql(f"CREATE DATABASE {name}_auth OWNER {name}_owner")
    admin_password = secrets.token_urlsafe(12)
    config = directory / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth}\n"
        "admin_username = admin\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        f"auth_cache_ttl_seconds = {auth_cache_s}\n"
    )
    server = TeamServer(
        directory=directory,
        port=free_port(),
        backend_uri=backend,
        auth_config=config,
        user="alice",
        password=secrets.token_urlsafe(12),
        admin_password=admin_password,
        workers=workers,
    )
    server.start()
    try:
        server.add_user(server.user, server.password)
        yield server
    finally:
        server.stop()
