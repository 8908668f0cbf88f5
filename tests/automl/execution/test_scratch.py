"""Trial scratch directories: a killed worker's is removed by the next trial, a live one's is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from automl.execution._scratch import PREFIX, scratch_dir

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no flock: trials remove their own only")

# A worker in the middle of a trial: holds its scratch directory until it is killed.
_WORKER = (
    "import sys, time\n"
    "from automl.execution._scratch import scratch_dir\n"
    "with scratch_dir() as d:\n"
    "    (d / 'current').mkdir(); (d / 'current' / 'best.keras').write_bytes(b'0' * 1000)\n"
    "    print(d, flush=True)\n"
    "    time.sleep(600)\n"
)


def _worker(tmp: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", _WORKER],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_the_next_trial_removes_a_killed_workers_directory_and_leaves_the_live_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    killed, killed_dir = _worker(tmp_path)
    live, live_dir = _worker(tmp_path)
    foreign = tmp_path / f"{PREFIX}without-a-lock"  # an older automl's, or being set up: not touched
    foreign.mkdir()
    try:
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        assert (killed_dir / "current" / "best.keras").exists()  # its `finally` never ran
        with scratch_dir() as mine:
            assert not killed_dir.exists()
            assert (live_dir / "current" / "best.keras").exists() and foreign.exists()
            assert mine.parent == tmp_path and mine.name.startswith(PREFIX)
        assert not mine.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live_dir.name, foreign.name])
    finally:
        for process in (killed, live):
            process.kill()
            process.communicate(timeout=30)
