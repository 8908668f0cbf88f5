"""A background MLflow writer: the driver never waits for the tracking store.

Ray calls the tracker from its event loop; a slow or unreachable tracking
server must not hold up the trials. Every write goes into an ordered queue
that one thread sends, retrying with bounded back-off while the store is
unreachable.

The ``log_batch`` writes to one run (its parameters, each epoch's metrics,
its summary) are batched: the writer lets them gather for up to ``linger_s``
and sends them as one ``log_batch``. Each call to a sqlite store costs
the driver CPU, which the trials share, and a commit; a
trial shorter than the window costs one call between its creation and its
end state instead of three or more.

Every write is first appended to a journal in the run directory (JSON lines,
nothing pickled) and acknowledged there once sent. So neither an outage that
outlasts the run nor a killed driver loses a write: `replay` sends what the
journal holds unacknowledged (on `automl resume`, or with `automl sync`), and
the journal is removed once everything reached the store.

The calls themselves run in this thread until they take a sizeable share of
a core (short trials on a local sqlite store); from then on a child process
makes them (`automl.tracking._mlflow_process`), so they stop holding the driver's GIL.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from automl.tracking._journal import PENDING_FILE, _existing_run, replay, unsent
from automl.tracking._mlflow_process import ClientProcess, ClientProcessError, call_client, plain
from automl.tracking._ops import _MAX_BATCH, RunRef, _merged, _Op

__all__ = ["PENDING_FILE", "MlflowWriter", "RunRef", "replay", "unsent"]

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


class MlflowWriter:
    """Sends MLflow calls in order from one background thread.

    Args:
        tracking_uri: The tracking store.
        journal: The run's journal file (appended to; several writers may
            share it).
        max_backoff_s: Longest wait between two attempts while the store is
            unreachable. Defaults to `10.0`.
        linger_s: How long metric writes may wait for more of the same run's
            to be sent with them; `flush` and `stop` send at once. Defaults
            to `2.0`.
        offload: Whether the calls are made from a child process: `None`
            decides from their CPU cost (see ``_OFFLOAD_CPU_SHARE``), `True`
            from the first call, `False` never. Defaults to `None`.
    """

    def __init__(
        self,
        tracking_uri: str,
        *,
        journal: Path,
        max_backoff_s: float = 10.0,
        linger_s: float = 2.0,
        offload: bool | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self.journal = journal
        self._writer_id = uuid.uuid4().hex[:12]
        self._seq = 0
        self._client = MlflowClient(tracking_uri)
        self._max_backoff = max_backoff_s
        self._linger = linger_s
        self._hurry = 0  # flushes waiting: no lingering
        self.calls = 0  # calls made to the store (a batch of merged writes counts once)
        self._queue: collections.deque[_Op] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._paused = False
        self._closed = False
        self._down_since: float | None = None  # when the current outage began
        self.retries = 0  # attempts that failed and were retried
        self.dropped: list[str] = []  # writes the store refused (not retried)
        self._offload = offload
        self.process: ClientProcess | None = None  # the child process, from its start (see `_offloaded`)
        self._process_failed = False
        self.calls_offloaded = 0  # calls the child process made
        self._cpu_s = 0.0  # this thread's CPU time in the store's calls made here
        self._calls_here = 0
        self._first_call: float | None = None
        self._thread = threading.Thread(target=self._loop, name="automl-mlflow-writer", daemon=True)
        self._thread.start()

    # Enqueueing (from Ray's event loop: never blocks) ---------------------------

    def create_run(self, key: str, **kwargs: Any) -> RunRef:
        ref = RunRef(key)
        self._put(_Op("create_run", None, kwargs, creates=ref))
        return ref

    def call(self, method: str, run: RunRef, **kwargs: Any) -> None:
        self._put(_Op(method, run, kwargs))

    def _put(self, op: _Op) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the MLflow writer is closed")
            self._seq += 1
            op.seq = self._seq
            self._append({"w": self._writer_id, "seq": op.seq, **self._record(op)})
            self._queue.append(op)
            self._cond.notify_all()

    def _append(self, entry: Mapping[str, Any]) -> None:
        """One journal line; the caller holds the lock. A killed process keeps what it wrote."""
        with self.journal.open("a") as f:
            f.write(json.dumps(entry) + "\n")

    # Sending ------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._send_queued()
        finally:
            if self.process is not None:
                self.process.close()

    def _send_queued(self) -> None:
        backoff = 0.5
        while True:
            with self._cond:
                while (not self._queue or self._paused) and not self._closed:
                    self._cond.wait()
                if not self._queue:  # closed and drained
                    return
                head = self._queue[0]
                wait = self._linger_left(head)
                if wait > 0:
                    self._cond.wait(wait)  # more of this run's epochs may come
                    continue
                parts = self._batch(head)
                self._busy = True
            ok = self._send_parts(parts)
            with self._cond:
                self._busy = False
                if ok:
                    self.calls += 1
                    for part in parts:
                        ack: dict[str, Any] = {"w": self._writer_id, "ack": part.seq}
                        if part.creates is not None:  # later entries name the run by key only
                            ack.update(run_key=part.creates.key, run_id=part.creates.id)
                        self._append(ack)
                    if self._queue and self._queue[0] is head:  # spill() may have taken the queue
                        self._queue.popleft()
                        if len(parts) > 1:
                            sent = {id(part) for part in parts}
                            self._queue = collections.deque(o for o in self._queue if id(o) not in sent)
                    self._down_since = None
                    backoff = 0.5
                elif self._down_since is None:
                    self._down_since = time.monotonic()
                self._cond.notify_all()
            if not ok:
                self.retries += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _linger_left(self, head: _Op) -> float:
        """Seconds the head write may still wait for company; the caller holds the lock."""
        if not head.batchable or self._closed or self._hurry:
            return 0.0
        if any(not op.batchable for op in self._queue):
            return 0.0  # a run's creation or end state waits behind no lingering batch
        return head.queued_at + self._linger - time.monotonic()

    def _batch(self, head: _Op) -> list[_Op]:
        """The head and the log_batch writes to its run queued after it, up to the first other write to that run."""
        if not head.batchable:
            return [head]
        parts, counts = [head], head.counts()
        for op in itertools.islice(self._queue, 1, None):
            if op.run is not head.run:
                continue
            more = op.counts()
            if not op.batchable or any(counts[k] + more[k] > limit for k, limit in _MAX_BATCH.items()):
                break  # keeps this run's writes in order (e.g. its end state after its last epoch)
            parts.append(op)
            counts = {k: counts[k] + more[k] for k in counts}
        return parts

    def _send_parts(self, parts: list[_Op]) -> bool:
        """Sends writes merged into one; if the store refuses the merge, each on its own.

        One bad write (a parameter's second value) then costs only itself.
        A part sent twice, when a retry comes between, is harmless: MLflow
        ignores a metric it holds and a parameter's same value, and a tag's
        value is set again.
        """
        if len(parts) == 1:
            return self._send(parts[0])
        refused = len(self.dropped)
        if not self._send(_merged(parts)):
            return False
        if len(self.dropped) == refused:
            return True
        del self.dropped[refused:]
        return all(self._send(part) for part in parts)  # stops at an outage; the retry sends the merge again

    def _reachable(self) -> bool:
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

    def _send(self, op: _Op) -> bool:
        """True when done (sent, or refused for good); False to retry later."""
        if not self._reachable():
            return False
        if op.creates is None and (op.run is None or op.run.id is None):  # its create_run was refused
            self.dropped.append(op.describe())
            return True
        try:
            self._call(op)
            return True
        except MlflowException as exc:
            if exc.error_code in _PERMANENT:
                logger.warning("MLflow refused %s: %s", op.describe(), exc)
                self.dropped.append(op.describe())
                return True
            logger.debug("MLflow unreachable (%s); will retry", exc)
            return False
        except ClientProcessError as exc:
            logger.warning("%s; the writes go on from the driver's thread", exc)
            self._drop_process()
            return False
        except Exception as exc:  # noqa: BLE001 - connection errors come in many types; retry them all
            logger.debug("MLflow unreachable (%s); will retry", exc)
            return False

    def _call(self, op: _Op) -> None:
        op.attempts += 1
        if op.creates is not None and op.attempts > 1:
            # An attempt can fail after the store committed it (a helper process that died
            # mid-call, a tracking server's lost answer): a trial's run found is taken, not made twice.
            found = _existing_run(self._client, op.kwargs)
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
                self._calls_here += 1
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
                    log_file=self.journal.with_name(PROCESS_LOG),
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
        if self._calls_here < _OFFLOAD_MIN_CALLS or self._first_call is None:
            return False
        share = self._cpu_s / max(time.monotonic() - self._first_call, 1e-9)
        if share < _OFFLOAD_CPU_SHARE:
            return False
        logger.debug("MLflow calls took %.0f%% of a core over %d calls", 100 * share, self._calls_here)
        return True

    def _drop_process(self) -> None:
        if self.process is not None:
            self.process.close(timeout=1.0)
        self.process = None
        self._process_failed = True

    # Draining -----------------------------------------------------------------

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def reachable(self) -> bool:
        """Whether the store takes writes now (the last attempt, else a connection check)."""
        return self._down_since is None and self._reachable()

    def flush(self, timeout: float) -> bool:
        """Waits until every write is sent; True if all were.

        Gives up after ``timeout`` seconds, or as soon as the store has been
        unreachable for ``timeout`` seconds (an outage that began earlier in
        the run is not waited for again in full).
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                while self._queue:
                    now = time.monotonic()
                    down_for = 0.0 if self._down_since is None else now - self._down_since
                    if now >= deadline or down_for >= timeout:
                        return False
                    self._cond.wait(min(deadline - now, 0.5))
                return True
            finally:
                self._hurry -= 1

    def spill(self, *, timeout: float) -> int:
        """Flushes for up to ``timeout`` seconds, then leaves what is left to the journal.

        Those writes stay unacknowledged in the journal, named in a warning;
        `replay` sends them once the store is back. Returns how many there are.
        """
        if self.flush(timeout):
            return 0
        with self._cond:
            self._paused = True  # no new attempt while the queue is taken
            waited = time.monotonic()
            while self._busy and time.monotonic() - waited < 30:  # let an attempt in flight finish
                self._cond.wait(1.0)
            left = list(self._queue)
            self._queue.clear()
            self._paused = False
            self._cond.notify_all()
        if left:
            summary = collections.Counter(op.describe().split(": ", 1)[1] for op in left)
            logger.warning(
                "MLflow at %s stayed unreachable: %d writes were not sent (%s); they are kept in %s and "
                "`automl sync %s` sends them once the store is back.",
                self.tracking_uri,
                len(left),
                "; ".join(f"{n}x {what}" for what, n in summary.most_common(5)),
                self.journal,
                self.journal.parent,
            )
        return len(left)

    def stop(self) -> None:
        """Ends the thread once the queue is empty (call `spill` first to bound the wait)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=35)

    @staticmethod
    def _record(op: _Op) -> dict[str, Any]:
        ref = op.creates or op.run
        return {
            "method": op.method,
            "run_key": ref.key if ref else None,
            "run_id": ref.id if ref else None,
            "kwargs": plain(op.kwargs),
        }


