"""A trial's local scratch directory, and the sweep of those whose worker died.

A trial writes its checkpoint files into a temporary directory that
`tune.report` copies into the run's storage; the trial removes it when it
ends. A worker killed mid-trial (SIGKILL, the OOM killer, a removed node)
never does, and on a long-lived cluster those directories pile up in the
node's temporary directory, a model's checkpoint each. So each directory
holds a lock file its worker keeps locked (`flock`) while the trial runs:
the kernel releases the lock when the process dies, however it dies. Each
new trial removes the directories whose lock it can take.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # Windows: directories are removed by the trial only
    fcntl = None  # type: ignore[assignment]

__all__ = ["PREFIX", "scratch_dir"]

PREFIX = "automl-trial-"
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


def _sweep(root: Path) -> None:
    """Removes the scratch directories in ``root`` whose worker is gone."""
    for stale in root.glob(f"{PREFIX}*"):
        try:
            handle = _lock(stale / _OWNER, create=False)
        except OSError:  # no lock file, another user's directory, or one removed meanwhile
            continue
        if handle is not None:
            with handle:
                shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A new scratch directory for one trial, held until the block ends and then removed.

    Sweeps the directories of dead workers first (see the module's docstring).
    """
    root = Path(tempfile.gettempdir())
    if fcntl is not None:
        _sweep(root)
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
    handle = None
    if fcntl is not None:
        handle = _lock(workdir / f"{_OWNER}.new", create=True)
        (workdir / f"{_OWNER}.new").rename(workdir / _OWNER)
    try:
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if handle is not None:
            handle.close()
