"""What the benchmark scripts share: the frozen workload, the problems' data, a
user's hand-written Keras fit, Ray start-up, the report header and markdown tables.

Importing this module imports no TensorFlow, Ray or MLflow: spawned worker
processes import it before they size TensorFlow's thread pools.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

EPOCHS = 20
PATIENCE = 3
MONITOR = "val_accuracy"
DATASET = "digits"

# 12 digits-MLP configs, drawn once from `search_spaces.mlp()` with
# optuna.samplers.RandomSampler(seed=0) (floats rounded), then frozen here so
# every variant of every run trains exactly these models.
# (units, dropout) per Dense layer, learning rate, batch size:
_FROZEN: list[tuple[list[tuple[int, float]], float, int]] = [
    ([(115, 0.301), (72, 0.212)], 0.001958, 128),
    ([(143, 0.264), (76, 0.463)], 0.0001387, 128),
    ([(178, 0.489), (146, 0.231), (139, 0.059)], 0.001905, 64),
    ([(33, 0.387), (56, 0.284)], 0.000109, 32),
    ([(105, 0.180), (53, 0.349), (18, 0.333)], 0.002194, 128),
    ([(77, 0.219), (248, 0.051)], 0.0002617, 64),
    ([(31, 0.079), (21, 0.328)], 0.000189, 128),
    ([(163, 0.048)], 0.008973, 64),
    ([(17, 0.141), (22, 0.148), (22, 0.159)], 0.0006738, 64),
    ([(67, 0.047)], 0.001419, 32),
    ([(116, 0.145)], 0.0002325, 128),
    ([(104, 0.135)], 0.002954, 32),
]

# The nested form `search_spaces.mlp()` samples and `automl.tune` accepts.
CONFIGS: list[dict[str, Any]] = [
    {
        "layers": [{"type": "dense", "units": u, "activation": "relu", "dropout": d} for u, d in layers],
        "learning_rate": lr,
        "batch_size": batch,
    }
    for layers, lr, batch in _FROZEN
]


# The data: digits for the frozen workload, or section 7's synthetic problem ---

PROBLEMS = (DATASET, "synthetic")


def load_problem(name: str) -> Any:
    """The problem's `TrainingData`: a bundled scikit-learn set, or the seeded synthetic one.

    The synthetic problem does not depend on the run's seed: every tuner and
    seed searches the same rows.
    """
    from trainers import from_arrays, load_sklearn

    if name != "synthetic":
        return load_sklearn(name)
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=8000,
        n_features=40,
        n_informative=16,
        n_redundant=8,
        n_classes=6,
        n_clusters_per_class=3,
        class_sep=1.0,
        flip_y=0.02,
        random_state=0,
    )
    return from_arrays(x, y, validation_split=0.25, seed=0, name="synthetic")


# A user's hand-written Keras ------------------------------------------------


def build_user_model(config: Mapping[str, Any], data: Any, *, steps_per_execution: int = 1) -> Any:
    """The model a user writes by hand for a config: the same layers our trainer builds.

    ``steps_per_execution`` goes to ``compile``; Keras's default is 1.
    """
    import keras

    inputs = keras.Input(shape=data.input_shape)
    x = keras.layers.Normalization(mean=data.x_train.mean(axis=0), variance=data.x_train.var(axis=0) + 1e-6)(
        inputs
    )
    for layer in config["layers"]:
        x = keras.layers.Dense(layer["units"], activation=layer["activation"])(x)
        if layer["dropout"] > 0:
            x = keras.layers.Dropout(layer["dropout"])(x)
    outputs = keras.layers.Dense(data.num_classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer={
            "adam": keras.optimizers.Adam,
            "sgd": keras.optimizers.SGD,
            "rmsprop": keras.optimizers.RMSprop,
        }[config.get("optimizer", "adam")](learning_rate=config["learning_rate"]),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def fit_user(
    config: Mapping[str, Any],
    data: Any,
    *,
    epochs: int,
    patience: int,
    workdir: Path,
    callbacks: Sequence[Any] = (),
    steps_per_execution: int = 1,
) -> tuple[int, float]:
    """model.fit with EarlyStopping and ModelCheckpoint, as a user writes it.

    Returns:
        Epochs run and the best ``val_accuracy``.
    """
    import keras

    keras.backend.clear_session()
    model = build_user_model(config, data, steps_per_execution=steps_per_execution)
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=config["batch_size"],
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor=MONITOR, mode="max", patience=patience, restore_best_weights=True
            ),
            keras.callbacks.ModelCheckpoint(
                workdir / "best.keras", monitor=MONITOR, mode="max", save_best_only=True
            ),
            *callbacks,
        ],
        verbose=0,
    )
    values = history.history[MONITOR]
    return len(values), max(values)


def set_tf_threads(threads: int | None) -> None:
    """Sizes TF's thread pools; must run before the process's first TF op."""
    if threads is None:
        return
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


# Ray ------------------------------------------------------------------------


def start_ray() -> float | None:
    """Starts local Ray as `automl.tune` would; returns the seconds `ray.init` took.

    Returns `None` when this process already runs Ray (e.g. a test fixture's):
    then nothing was timed.
    """
    import ray

    from automl.planning._experiment import _start_ray

    if ray.is_initialized():
        return None
    start = time.perf_counter()
    _start_ray(None, verbose=0)
    return time.perf_counter() - start


def scratch_run(tmp: Path, name: str) -> dict[str, Any]:
    """`automl.tune` arguments that keep a run's MLflow store and files under ``tmp``.

    Each run gets a new sqlite store, so opening it is part of the run, as on a
    user's run in a fresh directory: a copy of automl's cached empty store
    (built by the first run on the machine; see `automl.tracking._store_template`).
    """
    return {
        "tracking_uri": f"sqlite:///{tmp / f'mlflow-{name}.db'}",
        "experiment_name": "bench",
        "storage_path": tmp / "automl_runs",
        "name": name,
        "verbose": 0,
    }


# Reporting ------------------------------------------------------------------


def _run(command: list[str]) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "n/a"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine_info(argv: Sequence[str], script: str) -> dict[str, str]:
    """Date, command, machine and versions of a benchmark run (imports nothing heavy)."""
    memory = next((line for line in _run(["free", "-h"]).splitlines() if line.startswith("Mem:")), "n/a")
    versions = ", ".join(
        f"{name} {_version(package)}"
        for name, package in (
            ("TensorFlow", "tensorflow"),
            ("Keras", "keras"),
            ("Ray", "ray"),
            ("Optuna", "optuna"),
            ("MLflow", "mlflow"),
            ("scikit-learn", "scikit-learn"),
        )
    )
    return {
        "date": f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "command": shlex.join([Path(sys.executable).name, "-m", script, *argv]),
        "machine": f"{_run(['nproc'])} cores (nproc); memory `{' '.join(memory.split())}` (free -h);"
        f" load average {_run(['cat', '/proc/loadavg'])[:14]}",
        "versions": f"Python {platform.python_version()}; {versions}",
    }


def machine_report(argv: Sequence[str], script: str) -> str:
    """Markdown lines: date, command, machine and versions (imports nothing heavy)."""
    info = machine_info(argv, script)
    return "\n".join(
        [
            f"- date: {info['date']}",
            f"- command: `{info['command']}`",
            f"- machine: {info['machine']}",
            f"- {info['versions']}",
        ]
    )


def write_results(path: str | Path, benchmark: str, info: Mapping[str, str], **fields: Any) -> None:
    """Writes a run's raw results as `benchmarks.report` reads them: one record, its header then ``fields``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    record = {"source": f"a run of benchmarks.{benchmark} with --json", **info, **fields}
    target.write_text(
        json.dumps({"benchmark": benchmark, "records": [record]}, indent=1) + "\n", encoding="utf-8"
    )
    print(f"- raw results written to {target}", flush=True)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(value: float | None, reference: float | None) -> str:
    if value is None or not reference:
        return "–"
    return f"{value / reference:.2f}×"


def seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"
