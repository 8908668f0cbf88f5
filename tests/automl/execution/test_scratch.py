"""Trial scratch directories: a killed worker's is removed by the next trial, a live one's is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from automl.execution._scratch import CACHE_PREFIX, PREFIX, remove_run_caches, scratch_dir

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


# A worker that ran a trial of the run in `sys.argv[1]`: its cache directory stays while it lives.
_CACHING_WORKER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from automl.execution._scratch import worker_cache_dir\n"
    "d = worker_cache_dir(Path(sys.argv[1]))\n"
    "assert worker_cache_dir(Path(sys.argv[1])) == d  # its next trial of the run: the same\n"
    "(d / 'train-x.index').write_bytes(b'0')\n"
    "print(d, flush=True)\n"
    "if sys.argv[2] == 'stay':\n"
    "    time.sleep(600)\n"
)


def test_a_workers_cache_lives_with_it_and_the_runs_end_removes_those_of_gone_workers(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    env = {**os.environ, "TMPDIR": str(tmp_path)}

    def worker(run: str, stay: str) -> tuple[subprocess.Popen, Path]:
        process = subprocess.Popen(
            [sys.executable, "-c", _CACHING_WORKER, str(tmp_path / run), stay], stdout=subprocess.PIPE, text=True, env=env
        )
        assert process.stdout is not None
        return process, Path(process.stdout.readline().strip())

    done, done_dir = worker("run-a", "exit")
    live, live_dir = worker("run-a", "stay")
    other, other_dir = worker("run-b", "stay")
    try:
        done.communicate(timeout=30)
        assert done_dir.name.startswith(CACHE_PREFIX) and (done_dir / "train-x.index").exists()
        remove_run_caches(tmp_path / "run-a")
        assert not done_dir.exists()
        assert (live_dir / "train-x.index").exists() and (other_dir / "train-x.index").exists()
        live.kill()
        live.wait(timeout=30)
        with scratch_dir():  # a later trial on the node sweeps the cache of a worker that is gone
            assert not live_dir.exists() and other_dir.exists()
    finally:
        for process in (live, other):
            process.kill()
            process.communicate(timeout=30)
