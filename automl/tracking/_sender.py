"""Makes the writer's calls to the tracking store: from the writer's thread, or from a helper process once they crowd the driver."""

from __future__ import annotations

import enum
import logging
import socket
import time
import urllib.parse
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from automl.tracking._credentials import hide_password
from automl.tracking._journal import existing_run
from automl.tracking._mlflow_process import ClientProcess, ClientProcessError, call_client
from automl.tracking._ops import Op

__all__ = ["Outcome", "Sender"]

logger = logging.getLogger(__name__)

PROCESS_LOG = "mlflow_client_process.log"  # the child process's stderr, beside the journal

# Errors that retrying cannot fix: the request itself is wrong. Anything else
# (connection refused, timeouts, 5xx, a locked sqlite file) is worth retrying.
_PERMANENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST"}
# The writer moves its calls to a child process (`automl.tracking._mlflow_process`) once
# they take this share of its thread's wall time in CPU, over at least this many
# calls: then they hold the driver's GIL often enough to slow the searcher and
# Ray (trivial trials on sqlite: ~25-60%; Keras trials of a second or more: a few %).
_OFFLOAD_CPU_SHARE = 0.15
_OFFLOAD_MIN_CALLS = 20


class Outcome(enum.Enum):
    SENT = "sent"
    REFUSED = "refused"  # for good: retrying cannot fix it
    RETRY = "retry"  # the store is unreachable, or the helper process died


class Sender:
    """Makes one write's call to the store, and tells whether it is done.

    Args:
        tracking_uri: The tracking store.
        journal: The run's journal; the helper process logs beside it.
        offload: Whether the calls are made from a child process: `None`
            decides from their CPU cost (see ``_OFFLOAD_CPU_SHARE``), `True`
            from the first call, `False` never.
    """

    def __init__(self, tracking_uri: str, *, journal: Path, offload: bool | None) -> None:
        self.tracking_uri = tracking_uri
        self._journal = journal
        self._client = MlflowClient(tracking_uri)
        self._offload = offload
        self.process: ClientProcess | None = None  # the child process, from its start (see `_offloaded`)
        self._process_failed = False
        self.calls_offloaded = 0  # calls the child process made
        self._cpu_s = 0.0  # this thread's CPU time in the store's calls made here
        self.calls_here = 0
        self._first_call: float | None = None

    def reachable(self) -> bool:
        """Whether a tracking server accepts connections (always True for a local store).

        Checked before each attempt: MLflow's own HTTP retries would hold a
        write for minutes while a stopped server refuses connections.
        """
        url = urllib.parse.urlsplit(self.tracking_uri)
        if url.scheme not in ("http", "https") or not url.hostname:
            return True
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            with socket.create_connection((url.hostname, port), timeout=2):
                return True
        except OSError:
            return False

    def send(self, op: Op) -> Outcome:
        """Makes the write's call; RETRY when it should be tried again later."""
        if not self.reachable():
            return Outcome.RETRY
        if op.creates is None and (op.run is None or op.run.id is None):  # its create_run was refused
            return Outcome.REFUSED
        try:
            self._call(op)
            return Outcome.SENT
        except MlflowException as exc:
            if exc.error_code in _PERMANENT:
                logger.warning("MLflow refused %s: %s", op.describe(), self._hidden(exc))
                return Outcome.REFUSED
            logger.debug("MLflow unreachable (%s); will retry", self._hidden(exc))
            return Outcome.RETRY
        except ClientProcessError as exc:
            logger.warning("%s; the writes go on from the driver's thread", exc)
            self._drop_process()
            return Outcome.RETRY
        except Exception as exc:  # noqa: BLE001 - connection errors come in many types; retry them all
            logger.debug("MLflow unreachable (%s); will retry", self._hidden(exc))
            return Outcome.RETRY

    def _hidden(self, exc: Exception) -> str:
        """The error's text without the URI's password (MLflow's messages quote the request's URL)."""
        return hide_password(str(exc), self.tracking_uri)

    def _call(self, op: Op) -> None:
        op.attempts += 1
        if op.creates is not None and op.attempts > 1:
            # An attempt can fail after the store committed it (a helper process that died
            # mid-call, a tracking server's lost answer): a trial's run found is taken, not made twice.
            found = existing_run(self._client, op.kwargs)
            if found is not None:
                op.creates.id = found
                return
        run_id = op.run.id if op.run is not None else None
        process = self._offloaded()
        if process is not None:
            created = process.call(op.method, run_id, **op.kwargs)
            self.calls_offloaded += 1
        else:
            start = time.thread_time()
            if self._first_call is None:
                self._first_call = time.monotonic()
            try:
                created = call_client(self._client, op.method, run_id, **op.kwargs)
            finally:
                self._cpu_s += time.thread_time() - start
                self.calls_here += 1
        if op.creates is not None:
            op.creates.id = created

    def _offloaded(self) -> ClientProcess | None:
        """The child process to call from, once it is up; started when the calls made here crowd the driver.

        While it starts (it imports MLflow first), the calls go on from this
        thread rather than wait for it; only ``offload=True`` waits.
        """
        if self.process is None:
            if self._process_failed or self._offload is False or not self._crowded():
                return None
            try:
                self.process = ClientProcess(
                    self.tracking_uri,
                    log_file=self._journal.with_name(PROCESS_LOG),
                    wait=self._offload is True,
                )
            except (ClientProcessError, OSError) as exc:
                logger.warning(
                    "could not start the MLflow client process (%s); the writes go on from this thread", exc
                )
                self._process_failed = True
                return None
        try:
            return self.process if self.process.ready() else None
        except ClientProcessError as exc:
            logger.warning("%s; the writes go on from the driver's thread", exc)
            self._drop_process()
            return None

    def _crowded(self) -> bool:
        """Whether the calls made here take at least ``_OFFLOAD_CPU_SHARE`` of a core, or offloading was asked for."""
        if self._offload:
            return True
        if self.calls_here < _OFFLOAD_MIN_CALLS or self._first_call is None:
            return False
        share = self._cpu_s / max(time.monotonic() - self._first_call, 1e-9)
        if share < _OFFLOAD_CPU_SHARE:
            return False
        logger.debug("MLflow calls took %.0f%% of a core over %d calls", 100 * share, self.calls_here)
        return True

    def _drop_process(self) -> None:
        if self.process is not None:
            self.process.close(timeout=1.0)
        self.process = None
        self._process_failed = True

    def close(self) -> None:
        """Ends the helper process, if one runs."""
        if self.process is not None:
            self.process.close()
