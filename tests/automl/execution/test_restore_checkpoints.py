"""A checkpoint Ray's saved state names but had deleted is put back before a resume (no Ray needed)."""

from __future__ import annotations

import json
import pickle

from automl.execution._trainable import restore_missing_checkpoints
from trainers._checkpoint import BEST_FILE, LAST_FILE, STATE_FILE


def _checkpoint(directory, epoch, files=(BEST_FILE, LAST_FILE, STATE_FILE)):
    directory.mkdir(parents=True)
    for name in files:
        (directory / name).write_text(f"{name} after epoch {epoch}")


def _snapshot(run_dir, named):
    """An experiment-state file laid out as Ray 2.x writes it: trial entries as JSON strings,
    each checkpoint manager a hex-encoded pickle holding the checkpoint's path."""
    trials = []
    for trial, checkpoint in named.items():
        manager = pickle.dumps({"path": str(run_dir / trial / checkpoint)}).hex()
        metadata = {"checkpoint_manager": {"_type": "CLOUDPICKLE_FALLBACK", "value": manager}}
        trials.append([json.dumps({"trial_id": trial}), json.dumps(metadata, indent=2)])
    (run_dir / "experiment_state-2026-11-27_10-00-00.json").write_text(json.dumps({"trial_data": trials}))


def test_a_deleted_named_checkpoint_gets_the_newest_complete_one(tmp_path):
    run_dir = tmp_path / "run"
    # Killed after Ray deleted checkpoint_000001 for 000002, before its snapshot said so;
    # 000003 was being uploaded (its state.json not there yet).
    _checkpoint(run_dir / "trial_aaaa0001" / "checkpoint_000002", 3)
    _checkpoint(run_dir / "trial_aaaa0001" / "checkpoint_000003", 4, files=(BEST_FILE, LAST_FILE))
    _checkpoint(run_dir / "trial_bbbb0002" / "checkpoint_000004", 5)  # named and there: untouched
    (run_dir / "trial_cccc0003").mkdir()  # named, gone, and nothing complete to take its place
    _snapshot(
        run_dir,
        {
            "trial_aaaa0001": "checkpoint_000001",
            "trial_bbbb0002": "checkpoint_000004",
            "trial_cccc0003": "checkpoint_000000",
        },
    )
    made = restore_missing_checkpoints(run_dir)
    restored = run_dir / "trial_aaaa0001" / "checkpoint_000001"
    assert made == [restored]
    assert (restored / STATE_FILE).read_text() == f"{STATE_FILE} after epoch 3"
    assert sorted(p.name for p in restored.iterdir()) == sorted([BEST_FILE, LAST_FILE, STATE_FILE])
    assert not (run_dir / "trial_cccc0003" / "checkpoint_000000").exists()
    assert restore_missing_checkpoints(run_dir) == []  # nothing left to put back


def test_only_the_newest_name_of_a_trial_is_put_back(tmp_path):
    # The snapshot lists every checkpoint the trial reported; older ones were deleted on purpose.
    run_dir = tmp_path / "run"
    _checkpoint(run_dir / "trial_aaaa0001" / "checkpoint_000004", 5)
    trials = []
    for name in ("checkpoint_000001", "checkpoint_000002", "checkpoint_000003"):
        manager = pickle.dumps({"path": str(run_dir / "trial_aaaa0001" / name)}).hex()
        metadata = {"checkpoint_manager": {"_type": "CLOUDPICKLE_FALLBACK", "value": manager}}
        trials.append([json.dumps({"trial_id": "aaaa0001"}), json.dumps(metadata)])
    (run_dir / "experiment_state-2026-11-27_10-00-00.json").write_text(json.dumps({"trial_data": trials}))
    assert restore_missing_checkpoints(run_dir) == [run_dir / "trial_aaaa0001" / "checkpoint_000003"]
    assert not (run_dir / "trial_aaaa0001" / "checkpoint_000002").exists()


def test_a_run_without_a_snapshot_is_left_alone(tmp_path):
    assert restore_missing_checkpoints(tmp_path) == []
