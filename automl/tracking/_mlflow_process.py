"""An MLflow client in its own process, for the writer when its calls crowd the driver.

On a local sqlite store, one trial's three writes (create, one batch, end
state) cost CPU in MLflow's SQLAlchemy code, all of it under the driver's
GIL: with trials a few tens of milliseconds apart, the writer thread
and the searcher take turns instead of running side by side. Sent from a
child process, the same calls leave the driver's GIL to the searcher and Ray.

A tracking server's calls go through the child from a run's start: there
each call is one HTTP attempt (MLflow's ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``
set to 0 in its environment). MLflow's own retries back off for minutes
while a stopped server refuses connections, out of the writer's sight; the
writer retries a failed call itself, checks that the server is back before
each attempt, and knows the store is down meanwhile.

The child is a plain ``python -m automl.tracking._mlflow_process URI`` (not
`multiprocessing`, which would re-run an unguarded user script), speaking
JSON lines on its stdin and stdout, nothing pickled. It ignores Ctrl-C (the
driver decides when writing ends) and exits when its stdin closes, so a
killed driver does not leave it behind. Its own log goes to a file.
"""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2
from mlflow.tracking import MlflowClient

__all__ = ["ClientProcess", "ClientProcessError"]

_START_TIMEOUT_S = 120.0


class ClientProcessError(ConnectionError):
    """The child process is gone or never came up: the writer retries the call in its own thread."""


def plain(value: Any) -> Any:
    """MLflow entities as JSON-able dicts (the journal's format too)."""
    if isinstance(value, (Metric, Param, RunTag)):
        return {"entity": type(value).__name__, **dict(value)}
    if isinstance(value, DatasetInput):
        tags = [dict(tag) for tag in value.tags]
        return {"entity": "DatasetInput", "dataset": dict(value.dataset), "tags": tags}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def entity(value: Any) -> Any:
    """The inverse of `plain`."""
    if isinstance(value, dict) and "entity" in value:
        fields = {k: v for k, v in value.items() if k != "entity"}
        if value["entity"] == "DatasetInput":
            return DatasetInput(Dataset(**fields["dataset"]), [InputTag(**tag) for tag in fields["tags"]])
        return {"Metric": Metric, "Param": Param, "RunTag": RunTag}[value["entity"]](**fields)
    if isinstance(value, list):
        return [entity(v) for v in value]
    return value


_URI_VARIABLE = "AUTOML_MLFLOW_PROCESS_URI"  # the child's tracking URI, from its parent


class ClientProcess:
    """Calls `MlflowClient` methods in a child process, one at a time, from one thread.

    Args:
        tracking_uri: The store the child's client writes to.
        log_file: Where the child's stderr goes (MLflow's and SQLAlchemy's logs).
        wait: Whether to wait here until the child is up. If not, `ready`
            says when it is, and the caller makes its calls elsewhere until
            then. Defaults to `True`.

    Raises:
        ClientProcessError: With ``wait``, the child exited or did not answer
            before it was ready.
    """

    def __init__(self, tracking_uri: str, *, log_file: Path, wait: bool = True) -> None:
        # The URI goes through the environment, not the command line that `ps` shows: it may hold a password.
        # One attempt per call: the writer retries (see the module's docstring).
        env = {**os.environ, _URI_VARIABLE: tracking_uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
        root = _import_root()
        if root is not None:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._log_file = log_file
        with log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "automl.tracking._mlflow_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
        self._start_error: ClientProcessError | None = None
        self._up = threading.Event()  # set once the child said it is ready, or failed to
        self._starter = threading.Thread(
            target=self._await_start, name="automl-mlflow-client-start", daemon=True
        )
        self._starter.start()
        if wait:
            try:
                self.ready(timeout=None)
            except ClientProcessError:
                self.close()
                raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def ready(self, timeout: float | None = 0.0) -> bool:
        """Whether the child has started (it imports MLflow first).

        Args:
            timeout: Seconds to wait for it; `None` waits until it is up or gone.

        Raises:
            ClientProcessError: It exited, hung or spoke nonsense before it was ready.
        """
        if not self._up.wait(timeout):
            return False
        if self._start_error is not None:
            raise self._start_error
        return True

    def _await_start(self) -> None:
        # {"ready": true} once MLflow is imported and the client made; a child hung
        # before that is killed, so the writer goes on in its own thread.
        timer = threading.Timer(_START_TIMEOUT_S, self._proc.kill)
        timer.start()
        try:
            self._reply()
        except ClientProcessError as exc:
            self._start_error = exc
        except Exception as exc:  # noqa: BLE001 - any other first answer: not a child that works
            self._start_error = ClientProcessError(
                f"the MLflow client process (pid {self.pid}) failed: {exc}"
            )
        finally:
            timer.cancel()
            self._up.set()

    def call(self, method: str, run_id: str | None, **kwargs: Any) -> str | None:
        """As `call_client` does in this process (once the child is up)."""
        self.ready(timeout=None)
        request = {"method": method, "run_id": run_id, "kwargs": plain(kwargs)}
        stdin = self._proc.stdin
        try:
            stdin.write((json.dumps(request) + "\n").encode())  # type: ignore[union-attr]
            stdin.flush()  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError) as exc:
            raise ClientProcessError(f"the MLflow client process (pid {self.pid}) is gone") from exc
        return self._reply()

    def _reply(self) -> Any:
        line = self._proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            code = self._proc.poll()
            raise ClientProcessError(f"the MLflow client process (pid {self.pid}) exited (code {code})")
        try:
            reply = json.loads(line)
        except ValueError as exc:  # not our child speaking (say, an embedding's sys.executable)
            raise ClientProcessError(
                f"the MLflow client process (pid {self.pid}) answered {line[:200]!r}"
            ) from exc
        error = reply.get("error")
        if error is None:
            return reply.get("result")
        if error["mlflow"]:  # the store's answer, e.g. a refused write: classified by its code
            raise MlflowException(error["message"], error_code=_code(error["error_code"]))
        raise RuntimeError(f"{error['type']}: {error['message']}")  # e.g. a locked sqlite file: retried

    def close(self, timeout: float = 10.0) -> None:
        """Closes the child's stdin (it exits once the call in progress is done); removes an empty log."""
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._starter.join()  # the child is gone: its start was answered or saw the pipe close
        self._proc.stdout.close()  # type: ignore[union-attr]
        if self._log_file.exists() and self._log_file.stat().st_size == 0:
            self._log_file.unlink()


def call_client(client: MlflowClient, method: str, run_id: str | None, **kwargs: Any) -> str | None:
    """One writer call: ``create_run`` returns the new run's id; any other method writes to ``run_id``."""
    if method == "create_run":
        return str(client.create_run(**kwargs).info.run_id)
    getattr(client, method)(run_id, **kwargs)
    return None


def _import_root() -> str | None:
    """The folder this `automl` is imported from, unless the child finds it anyway (a site folder).

    Put first on the child's path, it makes the child import the driver's
    `automl` rather than another on its path; a site folder stays where
    `site` puts it, after the standard library.
    """
    root = Path(__file__).resolve().parents[2]
    site_dirs = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    return None if root in site_dirs else str(root)


def _code(name: str) -> int:
    try:
        return databricks_pb2.ErrorCode.Value(name)
    except ValueError:
        return databricks_pb2.INTERNAL_ERROR


def _serve(tracking_uri: str, requests: IO[str], replies: IO[str]) -> None:
    client = MlflowClient(tracking_uri)
    _answer(replies, {"ready": True})
    for line in requests:
        request = json.loads(line)
        kwargs = {k: entity(v) for k, v in request["kwargs"].items()}
        try:
            result = call_client(client, request["method"], request["run_id"], **kwargs)
        except MlflowException as exc:
            _answer(
                replies, {"error": {"mlflow": True, "error_code": exc.error_code, "message": exc.message}}
            )
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the writer, which decides
            _answer(replies, {"error": {"mlflow": False, "type": type(exc).__name__, "message": str(exc)}})
        else:
            _answer(replies, {"result": result})


def _answer(replies: IO[str], reply: dict[str, Any]) -> None:
    replies.write(json.dumps(reply) + "\n")
    replies.flush()


def main(tracking_uri: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the driver decides
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a library's print cannot garble a reply
    sys.stdout = sys.stderr
    _serve(tracking_uri, sys.stdin, replies)


if __name__ == "__main__":
    main(os.environ.pop(_URI_VARIABLE))
