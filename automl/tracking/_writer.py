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
import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from automl.tracking._credentials import public_uri
from automl.tracking._journal import PENDING_FILE, Journal, replay, unsent
from automl.tracking._mlflow_process import ClientProcess
from automl.tracking._ops import Op, RunRef, batch_from, merged
from automl.tracking._sender import Outcome, Sender

# The callers' API: the writer, and its journal's file name, reading and replay.
__all__ = ["PENDING_FILE", "MlflowWriter", "RunRef", "replay", "unsent"]

logger = logging.getLogger(__name__)


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
            decides from their CPU cost (see `automl.tracking._sender`), `True`
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
        self._journal = Journal(journal, writer_id=uuid.uuid4().hex[:12])
        self._sender = Sender(tracking_uri, journal=journal, offload=offload)
        self._seq = 0
        self._max_backoff = max_backoff_s
        self._linger = linger_s
        self._hurry = 0  # flushes waiting: no lingering
        self.calls = 0  # calls made to the store (a batch of merged writes counts once)
        self._queue: collections.deque[Op] = collections.deque()
        self._cond = threading.Condition()
        self._busy = False
        self._paused = False
        self._closed = False
        self._down_since: float | None = None  # when the current outage began
        self._last_sent = time.monotonic()  # when the store last took a write
        self.retries = 0  # attempts that failed and were retried
        self.dropped: list[str] = []  # writes the store refused (not retried)
        self._thread = threading.Thread(target=self._loop, name="automl-mlflow-writer", daemon=True)
        self._thread.start()

    @property
    def process(self) -> ClientProcess | None:
        """The helper process that makes the calls, from its start; None while they are made here."""
        return self._sender.process

    @property
    def calls_offloaded(self) -> int:
        """Calls the helper process made."""
        return self._sender.calls_offloaded

    # Enqueueing (from Ray's event loop: never blocks) ---------------------------

    def create_run(self, key: str, **kwargs: Any) -> RunRef:
        ref = RunRef(key)
        self._put(Op("create_run", None, kwargs, creates=ref))
        return ref

    def call(self, method: str, run: RunRef, **kwargs: Any) -> None:
        self._put(Op(method, run, kwargs))

    def _put(self, op: Op) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the MLflow writer is closed")
            self._seq += 1
            op.seq = self._seq
            self._journal.written(op)
            self._queue.append(op)
            self._cond.notify_all()

    # Sending ------------------------------------------------------------------

    def _loop(self) -> None:
        try:
            self._send_queued()
        finally:
            self._sender.close()

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
                parts = batch_from(self._queue, head)
                self._busy = True
            ok = self._send_parts(parts)
            with self._cond:
                self._busy = False
                if ok:
                    self._sent(head, parts)
                    backoff = 0.5
                elif self._down_since is None:
                    self._down_since = time.monotonic()
                self._cond.notify_all()
            if not ok:
                self.retries += 1
                time.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    def _sent(self, head: Op, parts: list[Op]) -> None:
        """Acknowledges the writes sent and takes them off the queue; the caller holds the lock."""
        self.calls += 1
        for part in parts:
            self._journal.acked(part)
        if self._queue and self._queue[0] is head:  # spill() may have taken the queue
            self._queue.popleft()
            if len(parts) > 1:
                sent = {id(part) for part in parts}
                self._queue = collections.deque(o for o in self._queue if id(o) not in sent)
        self._down_since = None
        self._last_sent = time.monotonic()

    def _linger_left(self, head: Op) -> float:
        """Seconds the head write may still wait for company; the caller holds the lock."""
        if not head.batchable or self._closed or self._hurry:
            return 0.0
        if any(not op.batchable for op in self._queue):
            return 0.0  # a run's creation or end state waits behind no lingering batch
        return head.queued_at + self._linger - time.monotonic()

    def _send_parts(self, parts: list[Op]) -> bool:
        """Sends writes merged into one; if the store refuses the merge, each on its own.

        One bad write (a parameter's second value) then costs only itself.
        A part sent twice, when a retry comes between, is harmless: MLflow
        ignores a metric it holds and a parameter's same value, and a tag's
        value is set again.
        """
        if len(parts) == 1:
            return self._send(parts[0])
        refused = len(self.dropped)
        if not self._send(merged(parts)):
            return False
        if len(self.dropped) == refused:
            return True
        del self.dropped[refused:]
        return all(self._send(part) for part in parts)  # stops at an outage; the retry sends the merge again

    def _send(self, op: Op) -> bool:
        """True when done (sent, or refused for good); False to retry later."""
        outcome = self._sender.send(op)
        if outcome is Outcome.REFUSED:
            self.dropped.append(op.describe())
        return outcome is not Outcome.RETRY

    # Draining -----------------------------------------------------------------

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def reachable(self) -> bool:
        """Whether the store takes writes now (the last attempt, else a connection check)."""
        return self._down_since is None and self._sender.reachable()

    def flush(self, timeout: float) -> bool:
        """Waits until every write is sent; True if all were.

        Gives up after ``timeout`` seconds, or as soon as the store has been
        unreachable for ``timeout`` seconds (an outage that began earlier in
        the run is not waited for again in full).
        """
        return self._wait_sent(timeout, deadline=time.monotonic() + timeout)

    def drain(self, stall_s: float) -> bool:
        """Waits until every write is sent, however long, while the store keeps taking them; True if all were.

        Gives up once the store has taken no write for ``stall_s`` seconds:
        unreachable, or not answering. A busy server that answers slowly is
        waited for, so its runs end complete rather than in the journal.
        """
        return self._wait_sent(stall_s, deadline=None)

    def _wait_sent(self, stall_s: float, *, deadline: float | None) -> bool:
        start = time.monotonic()
        with self._cond:
            self._hurry += 1
            self._cond.notify_all()
            try:
                while self._queue:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return False
                    if self._stalled_for(since=start, now=now) >= stall_s:
                        return False
                    self._cond.wait(0.5 if deadline is None else min(deadline - now, 0.5))
                return True
            finally:
                self._hurry -= 1

    def _stalled_for(self, *, since: float, now: float) -> float:
        """Seconds the store has taken no write, counted from ``since`` at the earliest unless it is down.

        An outage that began before ``since`` counts whole: it is not waited
        for again in full. The caller holds the lock.
        """
        if self._down_since is not None:
            return now - self._down_since
        return now - max(since, self._last_sent)

    def spill(self, *, timeout: float) -> int:
        """Drains while the store takes writes; once it has taken none for ``timeout`` seconds, leaves the rest to the journal.

        Those writes stay unacknowledged in the journal, named in a warning;
        `replay` sends them once the store is back. Returns how many there are.
        """
        if self.drain(timeout):
            return 0
        with self._cond:
            why = "stayed unreachable" if self._down_since is not None else "answered no write"
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
                "MLflow at %s %s for %.0fs: %d writes were not sent (%s); they are kept in %s and "
                "`automl sync %s` sends them once the store takes writes again.",
                public_uri(self.tracking_uri),
                why,
                timeout,
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

