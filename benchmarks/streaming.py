"""File-backed data: the driver's memory against the data's size, and epoch times from files against arrays.

Three measurements (see benchmarks/LOG.md, section 10); the first two start no Ray:

- ``driver``: the driver's part that sees the data, for an image folder and a
  TFRecord set of ``--small-mb`` and ``--large-mb`` on disk: planning the run
  (`automl.Experiment` checks the files, the space and the model), the
  declaration Ray ships (pickled), and its MLflow dataset input (one ``stat``
  per file). Each in a fresh process; its peak resident memory (``ru_maxrss``)
  is compared. Sizes alternate, ``--rounds`` times.
- ``throughput``: one `trainers.train` fit of a small CNN on the same images as
  in-memory arrays, as an image folder cached in memory, and as an image folder
  cached in a file (the worker's disk cache); the time of each epoch. The
  three alternate, ``--rounds`` times.
- ``worker`` (only with ``--only worker``; it starts Ray): one trial of an epoch
  over an image folder 4 × ``--memory-mb`` on disk, with that memory limit
  (`resources_per_trial`); whether it completes, and its worker's peak RSS.

    .venv/bin/python -m benchmarks.streaming --json benchmarks/results/streaming.json
    flock /tmp/ray-tests.lock .venv/bin/python -m benchmarks.streaming --only worker --json /tmp/worker.json
    .venv/bin/python -m benchmarks.streaming --smoke
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._common import machine_info, machine_report, markdown_table, ratio, write_results

_SIDE = 128  # pixels of the driver measurement's images: about 49 KB each as noise PNGs
_CNN = {
    "conv_layers": [{"type": "conv2d", "filters": 16, "kernel_size": 3}],
    "layers": [{"type": "dense", "units": 32}],
    "batch_size": 64,
    "learning_rate": 0.003,
}


# The data on disk ------------------------------------------------------------------------------


def write_image_folder(folder: Path, megabytes: float, *, classes: int = 4, side: int = _SIDE) -> int:
    """Noise PNGs (incompressible) in ``classes`` subfolders until ``megabytes``; returns the file count.

    Each class's files are copies of a few distinct images: the driver reads
    only the first one of each class, and listing cost depends on the count.
    """
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    encoded = [
        [tf.io.encode_png(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).numpy() for _ in range(4)]
        for _ in range(classes)
    ]
    count = int(megabytes * 2**20 // len(encoded[0][0]))
    for k in range(classes):
        (folder / f"class_{k}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        k = i % classes
        (folder / f"class_{k}" / f"{i:07d}.png").write_bytes(encoded[k][i % 4])
    return count


def write_tfrecords(folder: Path, megabytes: float, *, shards: int = 8, width: int = 256) -> int:
    """TFRecord shards of ``width`` float features and an int64 label, ``megabytes`` in all; returns the records."""
    import numpy as np
    import tensorflow as tf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=rng.normal(size=width))),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[k % 4])),
                }
            )
        ).SerializeToString()
        for k in range(16)
    ]
    count = int(megabytes * 2**20 // (len(examples[0]) + 16))  # 16: each record's framing
    per_shard = -(-count // shards)
    for s in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"train-{s:02d}.tfrecord")) as writer:
            for i in range(s * per_shard, min(count, (s + 1) * per_shard)):
                writer.write(examples[i % 16])
    shutil.copyfile(folder / "train-00.tfrecord", folder / "val.tfrecord")
    return count


# The driver: one process per measurement -----------------------------------------------------------


def _driver_child(kind: str, path: str) -> None:
    """Plans a run on the data at ``path`` as `automl.tune` would, ships and describes it; prints JSON."""
    import pickle

    start = time.perf_counter()
    from automl import Experiment
    from automl.tracking._lineage import dataset_input

    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if kind == "images":
        data = {"image_directory": path, "image_size": [32, 32]}
        space: dict[str, Any] = {"preset": "cnn"}
    else:
        features = {"x": {"dtype": "float32", "shape": [256]}, "y": {"dtype": "int64"}}
        data = {"tfrecord": f"{path}/train-*.tfrecord", "features": features, "label": "y"}
        data["validation"] = f"{path}/val.tfrecord"
        space = {"preset": "mlp"}
    settings = {"data": data, "space": space, "num_trials": 2, "epochs": 1, "storage_path": tempfile.mkdtemp()}
    run = Experiment.from_dict(settings)._planned
    shipped = len(pickle.dumps(run.data))
    described = dataset_input(run.data)
    print(
        json.dumps(
            {
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "after_imports_mb": imported,
                "seconds": time.perf_counter() - start,
                "shipped_bytes": shipped,
                "files": json.loads(described.dataset.profile)["files"] if described else None,
            }
        )
    )


def measure_driver(root: Path, sizes: dict[str, float], rounds: int) -> list[dict[str, Any]]:
    """Writes each data set once, then measures the driver on them, sizes alternating."""
    made = {}
    for kind in ("images", "tfrecords"):
        for label, megabytes in sizes.items():
            folder = root / f"{kind}-{label}"
            started = time.perf_counter()
            count = (write_image_folder if kind == "images" else write_tfrecords)(folder, megabytes)
            on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            made[kind, label] = (folder, count, on_disk)
            print(f"wrote {kind} {label}: {count} items, {on_disk / 2**20:.0f} MiB in {time.perf_counter() - started:.0f} s")
    rows = []
    for r in range(rounds):
        for kind in ("images", "tfrecords"):
            for label in sizes:
                folder, count, on_disk = made[kind, label]
                done = subprocess.run(
                    [sys.executable, "-m", "benchmarks.streaming", "--driver-child", kind, str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                measured = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append({"round": r, "kind": kind, "size": label, "items": count, "on_disk_mb": on_disk / 2**20, **measured})
                print(f"  {kind} {label} round {r}: peak {measured['peak_rss_mb']:.0f} MB", flush=True)
    return rows


# Throughput: epochs from files against arrays ------------------------------------------------------


def _epoch_times(config: dict[str, Any], data: Any, epochs: int, **train_args: Any) -> list[float]:
    import keras

    from trainers import FitSettings, train

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.started)

    settings = FitSettings(epochs=epochs, monitor="val_accuracy", mode="max", patience=epochs, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        train(config, data, settings=settings, checkpoint_dir=Path(tmp) / "t", callbacks=[Timer()], **train_args)
    return times


def measure_throughput(root: Path, images: int, epochs: int, rounds: int) -> list[dict[str, Any]]:
    """Epoch times of one fit per variant (arrays, files cached in memory, files cached on disk), alternating."""
    import numpy as np
    import tensorflow as tf

    import trainers
    import trainers._stream as stream

    rng = np.random.default_rng(0)
    folder = root / "throughput"
    for k in range(4):
        (folder / str(k)).mkdir(parents=True, exist_ok=True)
    for i in range(images):
        k = i % 4
        pixels = (rng.integers(0, 120, (32, 32, 3)) + 40 * k).astype(np.uint8)
        tf.io.write_file(str(folder / str(k) / f"{i:06d}.png"), tf.io.encode_png(pixels))
    files = trainers.image_directory(str(folder), image_size=[32, 32], color_mode="rgb")
    # The same rows as arrays: the folder's training and validation parts, decoded once here.
    train_rows, val_rows = files.source.datasets({})
    arrays = [np.stack([np.asarray(v) for v in column]) for column in zip(*train_rows.as_numpy_iterator(), strict=True)]
    held = [np.stack([np.asarray(v) for v in column]) for column in zip(*val_rows.as_numpy_iterator(), strict=True)]
    in_memory = trainers.from_arrays(arrays[0], arrays[1], validation_data=(held[0], held[1]))
    rows = []
    memory_limit = stream.CACHE_BYTES
    for r in range(rounds):
        for variant in ("arrays", "files, memory cache", "files, disk cache"):
            cache = root / f"cache-{r}"
            if variant == "arrays":
                times = _epoch_times(_CNN, in_memory, epochs)
            elif variant == "files, memory cache":
                times = _epoch_times(_CNN, files, epochs)
            else:
                cache.mkdir()
                stream.CACHE_BYTES = 0  # as for rows too large for memory
                try:
                    times = _epoch_times(_CNN, files, epochs, cache_dir=cache)
                finally:
                    stream.CACHE_BYTES = memory_limit
            rows.append({"round": r, "variant": variant, "epoch_s": times})
            print(f"  {variant} round {r}: " + ", ".join(f"{t:.2f}" for t in times), flush=True)
    return rows


# The worker: data on disk several times the trial's memory limit (Ray: run it under the lock) ----------


def measure_worker(root: Path, memory_mb: float, factor: float, side: int) -> dict[str, Any]:
    """One `automl.tune` trial of an epoch over an image folder ``factor`` × ``memory_mb`` on disk,
    with ``resources_per_trial={"memory": memory_mb MiB}`` enforced; its state and peak worker RSS."""
    import automl
    import trainers
    from search_spaces import cnn

    folder = root / "worker"
    count = write_image_folder(folder, memory_mb * factor, side=side)
    on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20
    print(f"wrote {count} images of {side}x{side}, {on_disk:.0f} MiB", flush=True)
    started = time.perf_counter()
    result = automl.tune(
        cnn(batch_size=64),
        data=trainers.image_directory(str(folder), image_size=[32, 32]),
        num_trials=1,
        epochs=1,
        resources_per_trial={"cpu": 1, "memory": int(memory_mb * 2**20)},
        storage_path=root / "runs",
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        verbose=0,
    )
    trials = result.trials
    return {
        "memory_limit_mb": memory_mb,
        "on_disk_mb": on_disk,
        "images": count,
        "states": list(trials["state"]),
        "last_worker_rss_mib": [float(v) for v in trials["worker_rss_mib"]],  # the limit is checked all along
        "wall_s": time.perf_counter() - started,
    }


# Report ---------------------------------------------------------------------------------------------


def _driver_table(rows: list[dict[str, Any]], small: str) -> str:
    table = []
    for kind in ("images", "tfrecords"):
        ref = statistics.median(r["peak_rss_mb"] for r in rows if r["kind"] == kind and r["size"] == small)
        for label in dict.fromkeys(r["size"] for r in rows):
            mine = [r for r in rows if r["kind"] == kind and r["size"] == label]
            peak = statistics.median(r["peak_rss_mb"] for r in mine)
            table.append(
                [
                    kind,
                    f"{mine[0]['on_disk_mb']:.0f}",
                    mine[0]["items"],
                    " / ".join(f"{r['peak_rss_mb']:.0f}" for r in mine),
                    f"{peak - ref:+.0f}",
                    f"{statistics.median(r['seconds'] for r in mine):.1f}",
                    mine[0]["shipped_bytes"],
                ]
            )
    headers = ["data", "on disk MiB", "files/records", "peak RSS MB per round", "Δ median vs small", "s", "shipped bytes"]
    return markdown_table(headers, table)


def _throughput_table(rows: list[dict[str, Any]]) -> str:
    def later(r: dict[str, Any]) -> float:
        return statistics.median(r["epoch_s"][1:])

    ref = statistics.median(later(r) for r in rows if r["variant"] == "arrays")
    table = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        median_later = statistics.median(later(r) for r in mine)
        table.append(
            [
                variant,
                " / ".join(f"{r['epoch_s'][0]:.2f}" for r in mine),
                " / ".join(f"{later(r):.2f}" for r in mine),
                ratio(median_later, ref),
            ]
        )
    return markdown_table(["data", "epoch 1 s per round", "later epochs, median s per round", "vs arrays"], table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small-mb", type=float, default=50.0, help="the small data set (default 50)")
    parser.add_argument("--large-mb", type=float, default=2048.0, help="the large data set (default 2048)")
    parser.add_argument("--images", type=int, default=4000, help="32x32 images of the throughput fit (default 4000)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of each throughput fit (default 4)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument(
        "--only", choices=["driver", "throughput", "worker"], help="one measurement (worker: not by default; starts Ray)"
    )
    parser.add_argument("--memory-mb", type=float, default=1536.0, help="the worker run's memory limit (default 1536)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the script runs")
    parser.add_argument("--json", type=Path, help="write the raw results here")
    parser.add_argument("--driver-child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.driver_child:
        _driver_child(*args.driver_child)
        return 0
    if args.smoke:
        args.small_mb, args.large_mb, args.images, args.epochs, args.rounds = 1.0, 3.0, 64, 2, 1
    print(machine_report(argv or sys.argv[1:], "benchmarks.streaming"), flush=True)
    sizes = {"small": args.small_mb, "large": args.large_mb}
    fields: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="automl-streaming-bench-") as tmp:
        if args.only in (None, "driver"):
            fields["driver"] = measure_driver(Path(tmp), sizes, args.rounds)
            print("\n" + _driver_table(fields["driver"], "small"), flush=True)
        if args.only in (None, "throughput"):
            fields["throughput"] = measure_throughput(Path(tmp), args.images, args.epochs, args.rounds)
            print("\n" + _throughput_table(fields["throughput"]), flush=True)
        if args.only == "worker":
            fields["worker"] = measure_worker(Path(tmp), args.memory_mb, 4.0, 256 if not args.smoke else 32)
            print(json.dumps(fields["worker"]), flush=True)
    if args.json:
        write_results(args.json, "streaming", machine_info(argv or sys.argv[1:], "benchmarks.streaming"), **fields)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
