"""What the parent run holds besides numbers: the best model and pictures.

Everything here runs in the driver after the trials, through an explicit
`MlflowClient`; MLflow's global tracking URI and active run are never touched.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import ALREADY_EXISTS, RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.experiment import Trial

from automl._result import TrialState
from automl.tracking._plots import PlotProcess, import_plotting
from search_spaces import Space

__all__ = ["ImportsForArtifacts", "git_commit", "log_best_model", "log_plot_files", "optuna_study"]

logger = logging.getLogger(__name__)

_ALREADY_EXISTS = {ErrorCode.Name(RESOURCE_ALREADY_EXISTS), ErrorCode.Name(ALREADY_EXISTS)}

_OPTUNA_STATES = {
    TrialState.COMPLETE: optuna.trial.TrialState.COMPLETE,
    TrialState.PRUNED: optuna.trial.TrialState.PRUNED,
    TrialState.STOPPED: optuna.trial.TrialState.PRUNED,
    TrialState.FAILED: optuna.trial.TrialState.FAIL,
    TrialState.RUNNING: optuna.trial.TrialState.RUNNING,
}


def git_commit(directory: Path) -> str | None:
    """The commit checked out in ``directory``, or None outside a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def log_best_model(
    client: MlflowClient,
    run_id: str,
    model_path: Path,
    example: np.ndarray,
    *,
    registered_name: str | None,
    flavor: Mapping[str, Any] | None = None,
) -> str | None:
    """Logs the best model to ``run_id`` with MLflow's Keras flavor and registers it.

    The model gets a signature of ``example``'s rows and of its output, and
    those rows as input example. ``flavor`` (what the trial's worker wrote:
    the Keras version and backend, TensorFlow's version, the output's shape
    and dtype) spares loading the model: the files are written from
    ``model_path`` as `mlflow.keras.save_model` writes them, and TensorFlow
    is not imported here. Without it the model is loaded and run on
    ``example``. Returns the registered version, if registered.
    """
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as local:  # mlflow writes into an existing, empty directory
        if flavor is None:
            _save_loaded_model(model_path, example, local)
        else:
            from automl.tracking._mlflow_compat import save_keras_model_files

            shape, dtype = flavor["output_shape"], flavor["output_dtype"]
            save_keras_model_files(
                Path(local),
                model_path,
                keras_version=flavor["keras_version"],
                keras_backend=flavor["keras_backend"],
                signature=infer_signature(example, np.zeros((len(example), *shape), dtype=dtype)),
                input_example=example,
                pip_requirements=_requirements(flavor["tensorflow_version"], flavor["keras_version"]),
            )
        client.log_artifacts(run_id, local, "model")
    if registered_name is None:
        return None
    _ensure_registered_model(client, registered_name)
    source = f"{client.get_run(run_id).info.artifact_uri}/model"
    version = client.create_model_version(registered_name, source=source, run_id=run_id)
    return str(version.version)


def _requirements(tensorflow_version: str, keras_version: str) -> list[str]:
    # Pinned here: inferring requirements reloads the model in a subprocess.
    return [f"tensorflow=={tensorflow_version}", f"keras=={keras_version}"]


def _save_loaded_model(model_path: Path, example: np.ndarray, local: str) -> None:
    """`mlflow.keras.save_model` of the model at ``model_path``, loaded here (TensorFlow imported)."""
    import keras
    import mlflow.keras
    import tensorflow as tf
    from mlflow.models import infer_signature

    model = keras.saving.load_model(model_path)  # safe_mode stays on
    signature = infer_signature(example, np.asarray(model.predict(example, verbose=0)))
    mlflow.keras.save_model(
        model,
        local,
        signature=signature,
        input_example=example,
        pip_requirements=_requirements(tf.__version__, keras.__version__),
    )


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    """Creates the registered model ``name`` unless it exists.

    Creating and taking "already exists" for an answer, as `mlflow.register_model`
    does: a look first would race another run in the same store (both see no
    model, the second creation fails).
    """
    try:
        client.create_registered_model(name)
    except MlflowException as error:
        if error.error_code not in _ALREADY_EXISTS:
            raise


def _import_for_artifacts() -> None:
    """Imports what `log_best_model` needs: MLflow's model and environment modules.

    Not TensorFlow: the best model's files are written from what its worker
    wrote (`log_best_model`'s ``flavor``).
    """
    try:
        import automl.tracking._mlflow_compat  # noqa: F401  # MLflow's model and environment modules
    except Exception:  # the end of the run imports them again and reports what fails
        logger.debug("Importing ahead for the end-of-run artifacts failed", exc_info=True)


def _import_for_plots() -> None:
    """Imports what drawing the plots in the driver needs (a run without a `PlotProcess`)."""
    try:
        import_plotting()
    except Exception:  # drawing them imports them again and reports what fails
        logger.debug("Importing ahead for the plots failed", exc_info=True)


class ImportsForArtifacts(tune.Callback):  # type: ignore[misc]  # Ray's class is untyped
    """Readies the end-of-run artifacts once the last trial has started: imports, and the plot process.

    The best model needs MLflow's model modules, the plots matplotlib and
    scikit-learn: seconds of imports on one CPU, which after the last trial
    would add to the run's wall time while the other CPUs idle. Once every
    trial has started, a driver thread imports MLflow's modules and
    ``plots`` (a `PlotProcess`) starts its process, which imports the
    plotting modules and waits for the trials' study; they share the CPUs
    with the last trials instead, and take over those of the trials that end.
    Earlier, the trials' workers would still be importing TensorFlow, or a
    trial waiting for a CPU would start later. Without ``plots`` (a resumed
    run's callback, as Ray restores it) the thread imports the plotting
    modules too.

    A run with a time budget that ends it first starts them 10 s before the
    budget's end (half-way through a budget under 20 s).

    Args:
        num_trials: The run's trial count.
        time_budget_s: The run's wall-time budget, if any.
        plots: The process that will draw the run's plots.
    """

    def __init__(
        self, num_trials: int, time_budget_s: float | None = None, plots: PlotProcess | None = None
    ) -> None:
        self._num_trials = num_trials
        self._time_budget_s = time_budget_s
        self._plots = plots
        self._fit_started = time.monotonic()
        self.thread: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:  # Ray pickles callbacks into the experiment state
        return {**self.__dict__, "thread": None, "_plots": None}

    def _start(self) -> None:
        if self.thread is None:
            # Not a daemon: a driver that ends mid-import (Ctrl-C) waits for it. Cut short inside
            # a native extension's import (h5py's, when TensorFlow was among them), the process
            # crashed as it exited (a segmentation fault, exit status 139).
            self.thread = threading.Thread(target=self._import, name="automl-imports")
            self.thread.start()
            if self._plots is not None:
                self._plots.start()

    def _import(self) -> None:
        _import_for_artifacts()
        if self._plots is None:
            _import_for_plots()

    def _maybe_start(self, trials: list[Trial], starting: Trial | None = None) -> None:
        if len(trials) < self._num_trials:
            return  # the searcher has trials left to make
        waiting = (Trial.PENDING, Trial.PAUSED)  # a paused trial will run again
        if not any(t.status in waiting for t in trials if t is not starting):
            self._start()

    def setup(
        self,
        stop: Any = None,
        num_samples: int | None = None,
        total_num_samples: int | None = None,
        **info: Any,
    ) -> None:
        self._fit_started = time.monotonic()  # Ray's budget clock starts about now

    def on_step_end(self, iteration: int, trials: list[Trial], **info: Any) -> None:
        budget = self._time_budget_s
        if budget is not None and time.monotonic() - self._fit_started >= max(budget - 10, budget / 2):
            self._start()

    def on_trial_start(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._maybe_start(trials, starting=trial)  # Ray marks it RUNNING after this call

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._maybe_start(trials)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._maybe_start(trials)


def optuna_study(
    space: Space,
    trials: Iterable[dict[str, Any]],
    *,
    metric: str,
    mode: Literal["min", "max"],
) -> optuna.Study:
    """An in-memory optuna study holding the run's trials, for optuna's plots.

    Each item of ``trials`` has ``params`` (flat config), ``state``
    (`TrialState`), ``value`` (best value or NaN) and ``history`` (per-epoch
    values of ``metric``).
    """
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize", study_name=metric)
    for item in trials:
        replay = optuna.trial.FixedTrial(item["params"])
        space.sample(replay)  # type: ignore[arg-type]  # recovers the optuna params and distributions
        state = _OPTUNA_STATES[item["state"]]
        complete = state == optuna.trial.TrialState.COMPLETE and np.isfinite(item["value"])
        study.add_trial(
            optuna.trial.create_trial(
                state=state
                if complete or state != optuna.trial.TrialState.COMPLETE
                else optuna.trial.TrialState.FAIL,
                value=item["value"] if complete else None,
                params=replay.params,
                distributions=replay.distributions,
                intermediate_values={
                    epoch: v for epoch, v in enumerate(item["history"], start=1) if np.isfinite(v)
                },
            )
        )
    return study


def log_plot_files(client: MlflowClient, run_id: str, directory: Path, names: Iterable[str]) -> list[str]:
    """Logs the PNG files `render_study_plots` drew into ``directory`` as artifacts under ``plots/``.

    PNG (matplotlib) rather than plotly HTML: it shows inline in the MLflow UI
    and needs no JavaScript from the internet. Returns the artifact paths
    logged.
    """
    logged = []
    for name in names:
        client.log_artifact(run_id, str(directory / f"{name}.png"), "plots")
        logged.append(f"plots/{name}.png")
    return logged
