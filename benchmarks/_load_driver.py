"""One driver of a concurrent tracking load: an `automl.tune` study in its own process.

    python -m benchmarks._load_driver '<spec as JSON>'

The spec names the tracking URI, the shared Ray's address, the experiment, the
run's name and storage path, the user's callbacks if any, the kind of trials (``"short"``: the
no-TensorFlow trial of `benchmarks.scale`, one report per epoch; ``"keras"``:
real Keras fits on digits), their number and epochs. The study runs as a
user's would; from outside, the driver's MLflow writer is watched (a subclass
in place of the name `automl.tracking._tracking` looks up, as
`benchmarks._timing` does): each write's time from queued to acknowledged by
the store, the queue's peak length, the store's calls and retries, and how
many failed attempts said "database is locked". The last line printed is a
JSON object with those figures and the parent run's id.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LOCKED = "database is locked"


class _LockedCounter(logging.Handler):
    """Counts the writer's retry notices whose error says the sqlite file was locked."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if LOCKED in record.getMessage():
            self.count += 1


def _watched_writer(stats: dict[str, Any]) -> type:
    from automl.tracking._writer import MlflowWriter

    class WatchedWriter(MlflowWriter):
        """The writer, unchanged, plus each write's latency and the queue's peak."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            stats["writers"].append(self)

        def _put(self, op: Any) -> None:
            super()._put(op)
            stats["queue_peak"] = max(stats["queue_peak"], len(self._queue))

        def _sent(self, head: Any, parts: list) -> None:
            now = time.monotonic()
            stats["latencies_s"].extend(now - part.queued_at for part in parts)
            stats["acked_at"].append(time.time())
            super()._sent(head, parts)

    return WatchedWriter


def _space(kind: str) -> Any:
    from search_spaces import Categorical, Dense, LayerStack, Space, mlp

    if kind == "short":
        return mlp()  # only sampled: the short trial trains nothing
    return Space(
        layers=LayerStack(Dense(units=Categorical([16, 32])), max_layers=1),
        learning_rate=Categorical([3e-3, 1e-2]),
        batch_size=128,
    )


def _short_trials(tmp: Path) -> None:
    """Swaps the trial function for `benchmarks.scale`'s, made to report every epoch."""
    import automl.execution._tuner as tuner
    from benchmarks.scale import _tiny_model, make_trivial_trial

    tuner.run_trial = make_trivial_trial(_tiny_model(tmp / "tiny.keras"))


def run(spec: dict[str, Any]) -> dict[str, Any]:
    import automl
    import automl.tracking._tracking as tracking

    stats: dict[str, Any] = {"writers": [], "queue_peak": 0, "latencies_s": [], "acked_at": []}
    tracking.MlflowWriter = _watched_writer(stats)  # type: ignore[misc]
    locked = _LockedCounter()
    for name in ("automl.tracking._sender", "automl.tracking._writer"):
        logging.getLogger(name).addHandler(locked)
        logging.getLogger(name).setLevel(logging.DEBUG)
    with tempfile.TemporaryDirectory(prefix="load-driver-") as tmp:
        if spec["kind"] == "short":
            _short_trials(Path(tmp))
        start = time.time()
        result = automl.tune(
            _space(spec["kind"]),
            data="digits",
            num_trials=spec["trials"],
            epochs=spec["epochs"],
            patience=spec["epochs"],  # every trial runs every epoch: the point counts are exact
            scheduler="fifo",
            seed=spec.get("seed", 0),
            resources_per_trial={"cpu": spec.get("cpu", 1)},
            address=spec["address"],
            tracking_uri=spec["uri"],
            experiment_name=spec["experiment"],
            storage_path=spec["storage"],
            name=spec["name"],
            callbacks=spec.get("callbacks", []),
            verbose=0,
        )
        end = time.time()
    writers = stats["writers"]
    return {
        "name": spec["name"],
        "kind": spec["kind"],
        "parent_run_id": result.parent_run_id,
        "states": result.trials["state"].value_counts().to_dict(),
        "start": start,
        "end": end,
        "calls": sum(w.calls for w in writers),
        "retries": sum(w.retries for w in writers),
        "dropped": [d for w in writers for d in w.dropped],
        "queue_peak": stats["queue_peak"],
        "latencies_s": stats["latencies_s"],
        "acked_at": stats["acked_at"],
        "locked": locked.count,
    }


def main(argv: list[str]) -> int:
    report = run(json.loads(argv[0]))
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
