"""Per-epoch time of `trainers.train` against a hand-written `model.fit`.

The same model (layers, optimizer, loss, metrics) on the same data in the
same process, with TensorFlow's default threads:

  bare     model.fit with no callbacks (for scale: what the callbacks cost);
  user     model.fit with EarlyStopping and ModelCheckpoint, as a user writes it;
  trainer  trainers.train, which adds TerminateOnNaN and the reporter callback,
           and compiles with steps_per_execution="auto" (up to 32 batches per call);
  trainer1 trainers.train with steps_per_execution=1, as the hand-written fits
           compile: what the trainer's callbacks cost, like for like.

An epoch is timed from one epoch end to the next, as seen by the last callback
(the trainer's reporter, or a stamp callback appended to the hand-written
list), so it includes training, validation and every callback. The first epoch
(tf.function tracing) is left out. Early stopping is given patience = epochs
so every run does the same number of epochs; every run is seeded the same, so
the checkpoint saves line up. Variants alternate within each repeat; the
median over all timed epochs is reported.

    python -m benchmarks.trainer_epoch            # 10 epochs x 5 repeats x 2 configs
    python -m benchmarks.trainer_epoch --data synthetic  # 6,000 rows (section 7's problem)
    python -m benchmarks.trainer_epoch --smoke    # 3 epochs x 1 repeat x 1 config
"""

from __future__ import annotations

import argparse
import functools
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks._common import (
    CONFIGS,
    DATASET,
    MONITOR,
    PROBLEMS,
    fit_user,
    load_problem,
    machine_report,
    markdown_table,
)

TABLE_HEADER = ("config", "variant", "median s / epoch", "× user", "epochs timed", "saves / run")
VARIANTS = ("bare", "user", "trainer", "trainer1")


class _Stamps:
    """Epoch-end times and checkpoint saves, seen from the last callback."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.saves = 0

    def per_epoch(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.times)]

    # trainers.Reporter protocol
    def report(
        self, metrics: Mapping[str, float], *, epoch: int, checkpoint: Path | None, last: bool = False
    ) -> None:
        self.times.append(time.perf_counter())
        self.saves += checkpoint is not None


def _stamp_callback(stamps: _Stamps) -> Any:
    import keras

    class StampCallback(keras.callbacks.Callback):
        best = -1.0

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = float((logs or {})[MONITOR])
            saved = value > self.best
            self.best = max(self.best, value)
            stamps.report({}, epoch=epoch + 1, checkpoint=Path() if saved else None)

    return StampCallback()


def _run_bare(config: Mapping[str, Any], data: Any, epochs: int, workdir: Path, stamps: _Stamps) -> None:
    import keras

    from benchmarks._common import build_user_model

    keras.backend.clear_session()
    model = build_user_model(config, data)
    model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=config["batch_size"],
        callbacks=[_stamp_callback(stamps)],
        verbose=0,
    )


def _run_user(config: Mapping[str, Any], data: Any, epochs: int, workdir: Path, stamps: _Stamps) -> None:
    fit_user(
        config, data, epochs=epochs, patience=epochs, workdir=workdir, callbacks=[_stamp_callback(stamps)]
    )


def _run_trainer(
    config: Mapping[str, Any],
    data: Any,
    epochs: int,
    workdir: Path,
    stamps: _Stamps,
    steps_per_execution: int | str = "auto",
) -> None:
    from trainers import FitSettings, train

    settings = FitSettings(
        epochs=epochs, monitor=MONITOR, mode="max", patience=epochs, steps_per_execution=steps_per_execution
    )
    train(config, data, settings=settings, checkpoint_dir=workdir, reporter=stamps)


_RUNNERS: dict[str, Callable[..., None]] = {
    "bare": _run_bare,
    "user": _run_user,
    "trainer": _run_trainer,
    "trainer1": functools.partial(_run_trainer, steps_per_execution=1),
}


def measure(
    config: Mapping[str, Any], data: Any, *, epochs: int, repeats: int, workdir: Path
) -> dict[str, tuple[list[float], list[int]]]:
    """Per-epoch times and saves per run, by variant; the order alternates per repeat."""
    import keras

    out: dict[str, tuple[list[float], list[int]]] = {v: ([], []) for v in VARIANTS}
    for repeat in range(repeats):
        order = VARIANTS if repeat % 2 == 0 else VARIANTS[::-1]
        for variant in order:
            stamps = _Stamps()
            keras.utils.set_random_seed(repeat)
            _RUNNERS[variant](config, data, epochs, workdir / variant, stamps)
            out[variant][0].extend(stamps.per_epoch())
            out[variant][1].append(stamps.saves)
    return out


def _describe(config: Mapping[str, Any]) -> str:
    units = "-".join(str(layer["units"]) for layer in config["layers"])
    return f"{units} units, batch {config['batch_size']}"


def report(results: list[tuple[str, dict[str, tuple[list[float], list[int]]]]]) -> str:
    rows = []
    ratios = []
    for name, by_variant in results:
        user = statistics.median(by_variant["user"][0])
        for variant in VARIANTS:
            times, saves = by_variant[variant]
            median = statistics.median(times)
            rows.append(
                [
                    name,
                    variant,
                    f"{median:.4f}",
                    f"{median / user:.3f}×",
                    len(times),
                    f"{statistics.mean(saves):.1f}",
                ]
            )
        ratios.append(
            (
                statistics.median(by_variant["trainer"][0]) / user,
                statistics.median(by_variant["trainer1"][0]) / user,
            )
        )
    goal = ", ".join(f"{r:.3f}×" for r, _ in ratios)
    like = ", ".join(f"{r:.3f}×" for _, r in ratios)
    return "\n".join(
        [
            markdown_table(TABLE_HEADER, rows),
            "",
            f"- goal trainer ≤ 1.05× user per epoch: measured {goal}; with one batch per call (trainer1), {like}.",
        ]
    )


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="3 epochs, 1 repeat, 1 config")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per run (default 10)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per variant (default 5)")
    parser.add_argument(
        "--configs", default="0,9", help="indices into benchmarks._common.CONFIGS (default 0,9)"
    )
    parser.add_argument(
        "--data",
        choices=PROBLEMS,
        default=DATASET,
        help=f"digits' 1,437 training rows or the synthetic problem's 6,000 (default {DATASET})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    epochs, repeats, indices = (
        (3, 1, [0]) if args.smoke else (args.epochs, args.repeats, args.configs.split(","))
    )
    print(machine_report(argv, "benchmarks.trainer_epoch"), flush=True)
    data = load_problem(args.data)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-epoch-") as tmp:
        for index in indices:
            config = CONFIGS[int(index)]
            by_variant = measure(config, data, epochs=epochs, repeats=repeats, workdir=Path(tmp))
            results.append((f"#{index}: {_describe(config)}", by_variant))
    print()
    print(report(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
