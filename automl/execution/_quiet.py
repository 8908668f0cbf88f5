"""Lines that are not automl's go to a log file, not the terminal (unless ``verbose=2``).

Ray logs a notice on every start (token authentication), and on Ctrl-C a
``Tuner.restore(...)`` hint and warnings about trials without ``result.json``;
automl says what applies in its own lines (``automl resume ...``). MLflow
logs its own notices (a model version's registration) and prints "View run"
links when it tracks to a server. TensorFlow's C++ (absl)
start-up lines (CPU features, oneDNN, a missing CUDA driver) bypass Python
and ``TF_CPP_MIN_LOG_LEVEL`` and are written straight to file descriptor 2.

Within `third_party_lines` all of these are appended to the run directory's
``automl.log``: Ray's and MLflow's log records through a handler, descriptor
2 through a redirect (appended when the context ends), while Python's
``sys.stderr`` (automl's own lines, Python warnings, tracebacks) still writes
to the terminal. An error Ray or MLflow logs is also shown, as one line of
ours that points at the log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from automl._environ import no_run_links

__all__ = ["LOG_FILE", "held_native_stderr", "keep_in_log", "native_stderr_to", "third_party_lines"]

LOG_FILE = "automl.log"  # in the run directory

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The loggers whose records go to the log file, and the library each is named as in an error line.
_LOGGERS = {"ray": "Ray", "mlflow": "MLflow"}


class _ErrorsToo(logging.Handler):
    """Shows an error record as one automl line pointing at the log file (which holds it whole)."""

    def __init__(self, log: Path, library: str) -> None:
        super().__init__(logging.ERROR)
        self.log = log
        self.library = library

    def emit(self, record: logging.LogRecord) -> None:
        lines = record.getMessage().strip().splitlines() or [""]
        print(
            f"[automl] {self.library} reported an error: {lines[0]} (details in {self.log})",
            file=sys.stderr,
            flush=True,
        )


@contextlib.contextmanager
def native_stderr_to(target: IO[bytes]) -> Iterator[None]:
    """Within, what is written to file descriptor 2 goes to ``target``; Python's ``sys.stderr`` does not.

    Only when ``sys.stderr`` is the process's descriptor 2 (not a notebook's
    or a test's capture): then it is pointed at a copy of the terminal's
    descriptor for the time, and put back after.
    """
    try:
        ours = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        ours = False
    if not ours:
        yield
        return
    python_stderr = sys.stderr
    python_stderr.flush()
    terminal = os.dup(2)
    os.dup2(target.fileno(), 2)
    sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding, errors="backslashreplace")  # noqa: SIM115
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)
        sys.stderr.close()  # closes the copy
        sys.stderr = python_stderr


class _Log(io.RawIOBase):
    """``directory/automl.log``, appended to once the directory exists; lines written before wait.

    With ``new``, the directory is a new run's, which the run creates when it
    starts: a run refused before it starts leaves nothing behind, and one
    refused because the directory is another run's writes nothing there.
    """

    def __init__(self, directory: Path, *, new: bool = False) -> None:
        super().__init__()
        self.path = directory / LOG_FILE
        self._waiting = bytearray()
        self._closed_to_us = new and directory.exists()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._waiting += bytes(data)
        if not self._closed_to_us and self.path.parent.is_dir():
            with contextlib.suppress(OSError), open(self.path, "ab") as log:
                log.write(self._waiting)
                self._waiting.clear()
        return len(data)


class _ToLog(logging.Handler):
    def __init__(self, log: _Log) -> None:
        super().__init__()
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        self.log.write(f"{self.format(record)}\n".encode(errors="backslashreplace"))


@contextlib.contextmanager
def third_party_lines(run_dir: Path, *, verbose: int, new: bool = False) -> Iterator[None]:
    """Within, Ray's and MLflow's log records, MLflow's run links and native stderr go to ``run_dir/automl.log``.

    Args:
        run_dir: The run's directory.
        verbose: At 2 and above nothing changes: the lines show where they are written.
        new: ``run_dir`` is a new run's, which it creates once it starts (see `_Log`).
    """
    if verbose >= 2:
        yield
        return
    log = _Log(run_dir, new=new)
    to_file = _ToLog(log)
    to_file.setFormatter(logging.Formatter(_FORMAT))
    loggers = {logging.getLogger(name): library for name, library in _LOGGERS.items()}
    handlers = {logger: logger.handlers[:] for logger in loggers}
    for logger, library in loggers.items():
        logger.handlers[:] = [to_file, _ErrorsToo(log.path, library)]
    try:
        with (
            no_run_links(),
            held_native_stderr() as held,
        ):
            yield
        log.write(b"".join(held))
    finally:
        for logger, before in handlers.items():
            logger.handlers[:] = before


@contextlib.contextmanager
def held_native_stderr() -> Iterator[list[bytes]]:
    """Within, descriptor 2 is held (see `native_stderr_to`); the list yielded then holds what was written."""
    held: list[bytes] = []
    with tempfile.TemporaryFile() as file:
        with native_stderr_to(file):
            yield held
        file.seek(0)
        held.append(file.read())


def keep_in_log(run_dir: Path, lines: bytes) -> None:
    """Appends ``lines`` (other libraries' output) to ``run_dir/automl.log``."""
    if lines:
        _Log(run_dir).write(lines)
