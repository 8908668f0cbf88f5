"""Ray pickles the tracker into a run's experiment state; a resumed run unpickles it."""

from __future__ import annotations

import pickle

from mlflow.tracking import MlflowClient

from automl._tracking import MlflowTracker
from search_spaces import mlp


def _tracker(tmp_path, verbose: int) -> MlflowTracker:
    return MlflowTracker(
        client=MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"),
        experiment_id="0",
        parent_run_id="parent",
        space=mlp(),
        metric="val_accuracy",
        mode="max",
        epochs=2,
        metric_names=["val_accuracy"],
        num_trials=3,
        journal=tmp_path / "pending.jsonl",
        verbose=verbose,
    )


def _restore(state: dict) -> MlflowTracker:
    restored = MlflowTracker.__new__(MlflowTracker)
    restored.__setstate__(state)
    return restored


def test_verbosity_survives_the_pickle_and_an_earlier_version_s_pickle_loads(tmp_path):
    tracker = _tracker(tmp_path, verbose=0)
    restored = pickle.loads(pickle.dumps(tracker))
    assert restored.verbose == 0
    # A run started by a version that kept the level in `_verbose` resumes with it.
    old_state = tracker.__getstate__()
    old_state["_verbose"] = old_state.pop("verbose")
    from_old = _restore(old_state)
    assert from_old.verbose == 0 and "_verbose" not in vars(from_old)
    for each in (tracker, restored, from_old):
        each._writer.stop()
