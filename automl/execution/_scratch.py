"""A trial's local scratch directory, a worker's data cache, and the sweep of those whose worker died.

A trial writes its checkpoint files into a temporary directory that
`tune.report` copies into the run's storage; the trial removes it when it
ends. A worker killed mid-trial (SIGKILL, the OOM killer, a removed node)
never does, and on a long-lived cluster those directories pile up in the
node's temporary directory, a model's checkpoint each. So each directory
holds a lock file its worker keeps locked (`flock`) while the trial runs:
the kernel releases the lock when the process dies, however it dies. Each
new trial removes the directories whose lock it can take.

A worker's cache directory (`worker_cache_dir`) holds the ``tf.data`` cache
files of a run's file-backed data, which later trials in the same worker
read instead of the files. It lives as long as the worker, locked the same
way; the driver removes the run's at its end (`remove_run_caches`), and a
cache whose worker outlived that is swept by a later trial on its node.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: directories are removed by the trial only
    fcntl = None  # type: ignore[assignment]

__all__ = ["CACHE_PREFIX", "PREFIX", "remove_run_caches", "scratch_dir", "worker_cache_dir"]

PREFIX = "automl-trial-"
CACHE_PREFIX = "automl-cache-"
# Created locked under another name and renamed: a directory's lock file is never seen unlocked
# while its worker lives. A directory without one (being set up, or not ours) is left alone.
_OWNER = ".owner"


def _lock(path: Path, *, create: bool) -> IO[str] | None:
    """``path`` opened and locked, or None when another process holds its lock."""
    handle = path.open("a" if create else "r")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def _sweep(root: Path, patterns: tuple[str, ...] = (f"{PREFIX}*", f"{CACHE_PREFIX}*")) -> None:
    """Removes the directories in ``root`` matching ``patterns`` whose worker is gone."""
    for stale in [path for pattern in patterns for path in root.glob(pattern)]:
        try:
            handle = _lock(stale / _OWNER, create=False)
        except OSError:  # no lock file, another user's directory, or one removed meanwhile
            continue
        if handle is not None:
            with handle:
                shutil.rmtree(stale, ignore_errors=True)


def _locked_dir(prefix: str, root: Path) -> tuple[Path, IO[str] | None]:
    """A new directory in ``root``, with its owner's lock file taken (see the module's docstring)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    handle = None
    if fcntl is not None:
        handle = _lock(workdir / f"{_OWNER}.new", create=True)
        (workdir / f"{_OWNER}.new").rename(workdir / _OWNER)
    return workdir, handle


def _run_key(run_dir: Path) -> str:
    return hashlib.sha256(str(run_dir).encode()).hexdigest()[:12]


# This worker process's cache directory: (run directory, the directory, its held lock).
_cache: tuple[Path, Path, IO[str] | None] | None = None


def worker_cache_dir(run_dir: Path) -> Path:
    """This worker's cache directory for the run in ``run_dir``, made by its first trial of the run.

    Held (locked) until the process exits, so that its later trials of the
    run find their cache files there; a worker that moves to another run
    drops the previous run's.
    """
    global _cache
    if _cache is not None and _cache[0] == run_dir and _cache[1].is_dir():
        return _cache[1]
    if _cache is not None:
        shutil.rmtree(_cache[1], ignore_errors=True)
        if _cache[2] is not None:
            _cache[2].close()
    made, handle = _locked_dir(f"{CACHE_PREFIX}{_run_key(run_dir)}-{os.getpid()}-", Path(tempfile.gettempdir()))
    _cache = (run_dir, made, handle)
    return made


def remove_run_caches(run_dir: Path) -> None:
    """Removes this node's cache directories of the run whose workers are gone (at the run's end)."""
    if fcntl is not None:
        _sweep(Path(tempfile.gettempdir()), (f"{CACHE_PREFIX}{_run_key(run_dir)}-*",))


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A new scratch directory for one trial, held until the block ends and then removed.

    Sweeps the directories of dead workers first (see the module's docstring).
    """
    root = Path(tempfile.gettempdir())
    if fcntl is not None:
        _sweep(root)
    workdir, handle = _locked_dir(PREFIX, root)
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if handle is not None:
            handle.close()
