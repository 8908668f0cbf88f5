"""MobileNetV3Small trials on small images: epoch time through `automl.tune` against a hand-written fit,
and the memory of a reused worker over many backbone trials.

``--part epoch``: the same model (MobileNetV3Small, ``weights=None``, average
pooling, a dropout and a softmax head) on the same seeded RGB images, in two
phases (the head with the backbone frozen for ``--head-epochs``, then the
backbone from ``fine_tune_at`` at a tenth of the learning rate), fitted

  automl  by one `automl.tune` trial in a Ray worker (Ray started once, before
          the rounds), ``resources_per_trial={"cpu": threads}``, so the trial
          sizes TensorFlow's pools to ``threads``;
  hand    by two ``model.fit`` calls in a fresh spawned process whose
          TensorFlow pools are sized to the same ``threads``, as the Keras
          transfer-learning guide writes it: the backbone called with
          ``training=False``, unfrozen from ``fine_tune_at`` (BatchNormalization
          kept frozen) and compiled again; EarlyStopping and ModelCheckpoint
          as a user adds them.

Each epoch is timed from one epoch's end to the next (`benchmarks._timeline.FitTimeline`,
the last of the user's callbacks in both), so it includes training,
validation and every callback; the first epoch from the fit's begin.
Epochs are grouped: the first (tracing), phase 2's first (unfreezing,
compiling again, tracing), the last (automl saves the trial's final
checkpoint), and the others ("steady"), which the goal's ratio compares;
every group and the whole fit are reported. The contenders alternate within
each round, and the ratios are taken within a round.

``--part memory``: ``--trials`` backbone trials of one epoch, fine-tuned from
the start (``head_epochs=0``: each trial builds the backbone frozen, unfreezes
it and compiles again, as a switch to phase 2 does, then traces one fit),
sampled from a space over ``fine_tune_at``, ``fine_tune_lr_factor``, dropout
and learning rate, one at a time through `automl.tune`, with worker recycling
off and on (`benchmarks.memory`'s measure: each trial's worker RSS at its
last epoch, growth from trial 5 to the largest later). One epoch keeps 20
trials of one policy within 5 minutes on 2 busy cores; a policy per
invocation (``--policy``).

    python -m benchmarks.backbone --part epoch              # 3 rounds, 8 epochs, 400 images
    python -m benchmarks.backbone --part memory --policy off  # 20 trials in one reused worker
    python -m benchmarks.backbone --part memory --policy on
    python -m benchmarks.backbone --smoke                   # both parts, smallest
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._common import (  # noqa: E402
    machine_info,
    machine_report,
    markdown_table,
    scratch_run,
    set_tf_threads,
    start_ray,
    write_results,
)
from benchmarks.memory import POLICIES, policy_row, reused_worker, row_cells  # noqa: E402
from benchmarks.memory import TABLE_HEADER as MEMORY_HEADER

BACKBONE = "MobileNetV3Small"
CLASSES = 3
MONITOR = "val_accuracy"
# The epoch part's one config (the memory part samples around it).
FINE_TUNE_AT = 0.7
LR_FACTOR = 0.1
DROPOUT = 0.2
LEARNING_RATE = 1e-3
BATCH_SIZE = 32
CONTENDERS = ("automl", "hand")
EPOCH_HEADER = (
    "round",
    "contender",
    "epoch 1 s",
    "phase 2's first s",
    "last s",
    "steady median s",
    "steady epochs",
    "total fit s",
)
_TIMEOUT_S = 600
MEMORY_EPOCHS = 1  # per trial of the memory part, in phase 2 from the start


def make_images(n: int, size: int, seed: int = 0) -> tuple[Any, Any]:
    """``n`` seeded RGB images (0-255, float32) of `CLASSES` classes: a bright square in one channel."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = np.arange(n) % CLASSES
    x = np.zeros((n, size, size, 3), np.float32)
    side = max(2, size * 3 // 8)
    for i, label in enumerate(y):
        top, left = rng.integers(0, size - side, size=2)
        x[i, top : top + side, left : left + side, label] = 255.0
    return x, y


def load_images(n: int, size: int) -> Any:
    """The images as `TrainingData`: a seeded 80/20 split, the same in every process."""
    from trainers import from_arrays

    return from_arrays(*make_images(n, size), validation_split=0.2, seed=0, name="seeded-squares")


def backbone_space(head_epochs: int, *, sampled: bool = False) -> Any:
    """The epoch part's config as a space of fixed values; with ``sampled``, the memory part's space
    over where and how fast to fine-tune, the dropout and the learning rate."""
    from search_spaces import Backbone, Categorical, Dropout, Float, LayerStack, Space

    def pick(fixed: Any, parameter: Any) -> Any:
        return parameter if sampled else fixed

    backbone = Backbone(
        name=BACKBONE,
        weights=None,
        pooling="avg",
        head_epochs=head_epochs,
        fine_tune_at=pick(FINE_TUNE_AT, Categorical([0.5, 0.7, 0.9])),
        fine_tune_lr_factor=pick(LR_FACTOR, Float(0.01, 0.3, log=True)),
    )
    return Space(
        layers=LayerStack(backbone),
        top_layers=LayerStack(Dropout(rate=pick(DROPOUT, Float(0.0, 0.4)))),
        learning_rate=pick(LEARNING_RATE, Float(1e-4, 1e-2, log=True)),
        batch_size=BATCH_SIZE,
    )


# The epoch part ---------------------------------------------------------------------


def epoch_times(timeline: Path) -> list[float]:
    """Seconds per epoch of one process's `FitTimeline` file: the first from the first fit's begin.

    A second fit (the hand-written phase 2) continues the count: its first
    epoch runs from the previous epoch's end, so it holds the end of the
    first fit, the unfreezing, the new compile and the trace, as automl's
    phase 2's first epoch does.
    """
    events = [json.loads(line) for line in timeline.read_text(encoding="utf-8").splitlines() if line]
    begin = next(e["t"] for e in events if e["event"] == "begin")
    stamps = [e["t"] for e in events if e["event"] == "epoch"]
    return [b - a for a, b in zip([begin, *stamps[:-1]], stamps, strict=True)]


def _hand_fit(
    threads: int, images: int, size: int, epochs: int, head_epochs: int, seed: int, workdir: str
) -> None:
    """The hand-written two-phase fit, in a fresh process (its TF pools sized before the first op)."""
    set_tf_threads(threads)
    import keras

    from benchmarks._timeline import FitTimeline

    data = load_images(images, size)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=data.input_shape)
    base = keras.applications.MobileNetV3Small(
        include_top=False, weights=None, input_shape=data.input_shape, pooling="avg"
    )
    base.trainable = False
    x = base(inputs, training=False)  # BatchNormalization in inference mode, in both phases
    x = keras.layers.Dropout(DROPOUT)(x)
    model = keras.Model(inputs, keras.layers.Dense(data.num_classes, activation="softmax")(x))

    def compile_at(rate: float) -> None:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )

    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor=MONITOR, mode="max", patience=epochs, restore_best_weights=True
        ),
        keras.callbacks.ModelCheckpoint(
            Path(workdir) / "best.keras", monitor=MONITOR, mode="max", save_best_only=True
        ),
        FitTimeline(Path(workdir) / "timeline.jsonl"),
    ]
    fit = {
        "x": data.x_train,
        "y": data.y_train,
        "validation_data": (data.x_val, data.y_val),
        "batch_size": BATCH_SIZE,
        "callbacks": callbacks,
        "verbose": 0,
    }
    compile_at(LEARNING_RATE)
    model.fit(epochs=head_epochs, **fit)
    base.trainable = True
    start = min(int(FINE_TUNE_AT * len(base.layers)), len(base.layers) - 1)
    for i, layer in enumerate(base.layers):
        if i < start or isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    compile_at(LEARNING_RATE * LR_FACTOR)
    model.fit(initial_epoch=head_epochs, epochs=epochs, **fit)


def run_hand(args: argparse.Namespace, seed: int, workdir: Path) -> list[float]:
    workdir.mkdir(parents=True)
    process = mp.get_context("spawn").Process(
        target=_hand_fit,
        args=(args.threads, args.images, args.size, args.epochs, args.head_epochs, seed, str(workdir)),
    )
    process.start()
    process.join(_TIMEOUT_S)
    if process.exitcode != 0:
        process.kill()
        raise RuntimeError(f"the hand-written fit failed (exit code {process.exitcode})")
    return epoch_times(workdir / "timeline.jsonl")


def run_automl(args: argparse.Namespace, data: Any, seed: int, workdir: Path) -> list[float]:
    import automl
    from benchmarks._timeline import FitTimeline

    workdir.mkdir(parents=True)
    result = automl.tune(
        backbone_space(args.head_epochs),
        data=data,
        metric=MONITOR,
        mode="max",
        num_trials=1,
        epochs=args.epochs,
        patience=args.epochs,  # every epoch runs, as in the hand-written fit
        scheduler="fifo",
        seed=seed,
        resources_per_trial={"cpu": args.threads},
        callbacks=[FitTimeline(workdir / "timeline.jsonl")],
        **scratch_run(workdir, "backbone-epoch"),
    )
    states = list(result.trials["state"])
    if states != ["COMPLETE"]:
        raise RuntimeError(f"the automl trial ended {states}: {list(result.trials.get('error', []))}")
    return epoch_times(workdir / "timeline.jsonl")


def groups(times: Sequence[float], head_epochs: int) -> dict[str, Any]:
    """An epoch list split into the one-off epochs and the steady ones of each phase.

    One-off: the first (tracing), phase 2's first (unfreezing, compiling
    again, tracing), and the last (a fit's end: automl saves the model with
    its optimizer for the trial's final checkpoint). Steady: the others.
    """
    n = len(times)
    switch = head_epochs if 0 < head_epochs < n else None
    last = n - 1 if n > 1 and n - 1 != switch else None
    steady1 = [times[i] for i in range(1, min(head_epochs, n)) if i != last]
    steady2 = [times[i] for i in range(head_epochs + 1, n) if i != last] if switch is not None else []
    return {
        "first_s": times[0],
        "switch_s": None if switch is None else times[switch],
        "last_s": None if last is None else times[last],
        "steady_phase1_s": steady1,
        "steady_phase2_s": steady2,
        "steady_s": steady1 + steady2,
        "total_s": sum(times),
    }


def measure_epochs(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    """Per round: each contender's epoch times, in the order they ran (alternating between rounds)."""
    data = load_images(args.images, args.size)
    rounds = []
    for r in range(args.rounds):
        order = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
        entry: dict[str, Any] = {"round": r + 1, "order": list(order)}
        for contender in order:
            load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"
            workdir = tmp / f"round{r}-{contender}"
            times = (
                run_automl(args, data, r, workdir) if contender == "automl" else run_hand(args, r, workdir)
            )
            entry[contender] = {"load": load, "epochs_s": [round(t, 4) for t in times]}
            print(f"round {r + 1} {contender}: " + ", ".join(f"{t:.2f}" for t in times) + " s", flush=True)
        rounds.append(entry)
    return rounds


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ratios(rounds: Sequence[Mapping[str, Any]], head_epochs: int) -> dict[str, list[float]]:
    """Per round, automl / hand: steady epochs' medians (all, per phase), the first epochs, whole fits."""
    out: dict[str, list[float]] = {}
    for entry in rounds:
        mine, theirs = (groups(entry[c]["epochs_s"], head_epochs) for c in CONTENDERS)
        for key, a, b in (
            ("steady", _median(mine["steady_s"]), _median(theirs["steady_s"])),
            ("steady_phase1", _median(mine["steady_phase1_s"]), _median(theirs["steady_phase1_s"])),
            ("steady_phase2", _median(mine["steady_phase2_s"]), _median(theirs["steady_phase2_s"])),
            ("first", mine["first_s"], theirs["first_s"]),
            ("switch", mine["switch_s"], theirs["switch_s"]),
            ("last", mine["last_s"], theirs["last_s"]),
            ("total", mine["total_s"], theirs["total_s"]),
        ):
            if a is not None and b:
                out.setdefault(key, []).append(a / b)
    return out


def _spread(values: Sequence[float]) -> str:
    if not values:
        return "–"
    middle = statistics.median(values)
    return f"{middle:.2f}×" if len(values) == 1 else f"{middle:.2f}× ({min(values):.2f}–{max(values):.2f}×)"


def epoch_report(rounds: Sequence[Mapping[str, Any]], head_epochs: int) -> str:
    rows = []
    for entry in rounds:
        for contender in entry["order"]:
            g = groups(entry[contender]["epochs_s"], head_epochs)
            rows.append(
                [
                    entry["round"],
                    contender,
                    _cell(g["first_s"], 2),
                    _cell(g["switch_s"], 2),
                    _cell(g["last_s"], 2),
                    _cell(_median(g["steady_s"])),
                    len(g["steady_s"]),
                    _cell(g["total_s"], 2),
                ]
            )
    by = ratios(rounds, head_epochs)
    lines = [
        markdown_table(EPOCH_HEADER, rows),
        "",
        "automl / hand, within each round (median, min–max over rounds):",
        "",
        markdown_table(
            ("epochs", "ratio"),
            [
                ("steady (all but the first, phase 2's first and the last)", _spread(by.get("steady", []))),
                ("steady, phase 1 (backbone frozen)", _spread(by.get("steady_phase1", []))),
                ("steady, phase 2 (fine-tuning)", _spread(by.get("steady_phase2", []))),
                ("epoch 1 (trace)", _spread(by.get("first", []))),
                ("phase 2's first (unfreeze, compile, trace)", _spread(by.get("switch", []))),
                ("the last (automl: the final checkpoint)", _spread(by.get("last", []))),
                ("whole fit", _spread(by.get("total", []))),
            ],
        ),
        "",
        f"- goal automl ≤ 1.10× hand per epoch (steady epochs): measured {_spread(by.get('steady', []))}.",
    ]
    return "\n".join(lines)


# The memory part --------------------------------------------------------------------


def measure_memory(args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    data = load_images(args.memory_images, args.size)
    chosen = [(label, policy) for label, policy in POLICIES if args.policy in ("both", label.split()[0])]
    rows = []
    for label, policy in chosen:
        samples, workers, wall = reused_worker(
            backbone_space(0, sampled=True),
            data,
            trials=args.trials,
            epochs=MEMORY_EPOCHS,
            policy=policy,
            tmp=tmp,
            name=f"backbone-memory-{len(rows)}",
        )
        rows.append(policy_row(label, samples, workers, wall))
        print(f"{label}: RSS per trial (MiB) " + ", ".join(f"{v:.0f}" for v in samples), flush=True)
    return rows


# Command line ----------------------------------------------------------------------


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("epoch", "memory", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="1 round of 4 epochs; 2 trials, recycling on")
    parser.add_argument(
        "--threads", type=int, default=1, help="TensorFlow threads of both contenders (default 1)"
    )
    parser.add_argument(
        "--size", type=int, default=32, help="image side in pixels (default 32, the smallest)"
    )
    parser.add_argument("--images", type=int, default=400, help="images of the epoch part (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the epoch part (default 3)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per fit (default 8)")
    parser.add_argument("--head-epochs", type=int, default=3, help="epochs of phase 1 (default 3)")
    parser.add_argument("--trials", type=int, default=20, help="trials per policy, memory part (default 20)")
    parser.add_argument(
        "--memory-images", type=int, default=60, help="images of the memory part (default 60)"
    )
    parser.add_argument(
        "--policy",
        choices=("off", "on", "both"),
        default="both",
        help="recycling policies of the memory part",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.epochs, args.head_epochs, args.images = 1, 4, 1, 64
        args.trials, args.memory_images, args.policy = 2, 30, "on"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    info = machine_info(argv, "benchmarks.backbone")
    print(machine_report(argv, "benchmarks.backbone"), flush=True)
    start_ray()
    fields: dict[str, Any] = {"backbone": BACKBONE, "image_size": args.size, "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="bench-backbone-") as tmp:
        if args.part in ("epoch", "both"):
            rounds = measure_epochs(args, Path(tmp) / "epoch")
            print()
            print(epoch_report(rounds, args.head_epochs), flush=True)
            by = ratios(rounds, args.head_epochs)
            fields["epoch"] = {
                "images": args.images,
                "epochs": args.epochs,
                "head_epochs": args.head_epochs,
                "batch_size": BATCH_SIZE,
                "rounds": rounds,
                "ratios": {k: [round(v, 4) for v in values] for k, values in by.items()},
            }
        if args.part in ("memory", "both"):
            rows = measure_memory(args, Path(tmp) / "memory")
            print()
            print(markdown_table(MEMORY_HEADER, [row_cells(row) for row in rows]), flush=True)
            fields["memory"] = {
                "images": args.memory_images,
                "epochs": MEMORY_EPOCHS,
                "head_epochs": 0,
                "trials": args.trials,
                "policies": rows,
            }
    if args.json is not None:
        write_results(args.json, "backbone", info, **fields)
    return 0


if __name__ == "__main__":
    sys.exit(main())
