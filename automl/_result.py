"""What a tuning run returns."""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from search_spaces import ConfigError, Space
from search_spaces._checks import is_int
from trainers import Column, StreamingData

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

    from automl.planning._experiment import DataSpec
    from search_spaces import HyperParameters
    from trainers import TrainingData

__all__ = ["RunInterrupted", "TrialState", "TrialSummary", "TuningResult"]

# The files of a run directory that more than one module reads.
MANIFEST_FILE = (
    "run.json"  # what `automl.resume` needs to rebuild the run (automl.execution._runner writes it)
)
TRIAL_DIR_PREFIX = "trial_"  # a trial's directory: <run_dir>/trial_<trial_id>/checkpoint_<n>/


def read_manifest(run_dir: Path) -> Any:
    """The parsed ``run.json`` of a run directory (not yet checked).

    Raises:
        ConfigError: ``run_dir`` holds no readable one: it is no run directory.
    """
    try:
        return json.loads((run_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{run_dir} holds no readable {MANIFEST_FILE}: it is not a run directory made by automl "
            "(runs live under storage_path, by default ./automl_runs/<name>).",
            field="run_dir",
        ) from exc


class RunInterrupted(KeyboardInterrupt):
    """A tuning run stopped by Ctrl-C: its state is saved, and `automl.resume(run_dir)` finishes it.

    A `KeyboardInterrupt`, so a script stops as Ctrl-C makes it stop.

    Attributes:
        run_dir: The run's directory, to hand to `automl.resume`.
    """

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"the tuning run was interrupted; continue it with automl.resume({str(run_dir)!r})")
        self.run_dir = run_dir


class TrialState(enum.Enum):
    """How a trial ended (or where it is)."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"  # stopped early by the scheduler as unpromising
    STOPPED = "STOPPED"  # stopped by the run itself (its time budget ran out)
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"  # running when the run was interrupted; automl.resume continues it

    def is_finished(self) -> bool:
        return self not in (TrialState.RUNNING, TrialState.INTERRUPTED)


@dataclasses.dataclass(frozen=True)
class TrialSummary:
    """One trial of a finished run, as `TuningResult.top` ranks it.

    Attributes:
        number: The trial's number in the run (0 first).
        trial_id: Ray Tune's id of the trial.
        config: Its config, nested as the space samples it, with the
            space's types (ints, bools, ``None`` for an inactive parameter).
        score: Its best value of the run's metric (``best_<metric>``).
        best_epoch: The epoch (1-based) that reached ``score``; ``None``
            when no epoch reported a finite value.
        epochs: The epochs it ran (early stopping's patience included).
        state: How it ended.
        mlflow_run_id: Its MLflow child run, if one was made.
        model_path: Its best model (``best.keras`` in its newest kept
            checkpoint), or ``None`` when the run keeps none.
    """

    number: int
    trial_id: str
    config: dict[str, Any]
    score: float
    best_epoch: int | None
    epochs: int
    state: TrialState
    mlflow_run_id: str | None
    model_path: Path | None


@dataclasses.dataclass(frozen=True, eq=False)
class TuningResult:
    """The outcome of `automl.tune`.

    Attributes:
        best_config: The best trial's config (a plain nested dict); under
            PBT, the config it ended with. With several objectives, the
            first trial of ``pareto_front``.
        best_value: The best trial's best value of ``metric``.
        metric: The metric that was optimized.
        mode: ``"min"`` or ``"max"``.
        trials: One row per trial: ``trial_id``, ``number``, ``state``,
            ``epochs``, ``duration_s``, ``<metric>`` (final), ``best_<metric>``,
            ``error``, ``worker`` (``node_ip:pid``), ``mlflow_run_id``, and one ``params.<key>`` column per flat config key.
        best_model_path: The best model as a ``.keras`` file
            (``keras.saving.load_model`` opens it).
        run_dir: Directory of the run (Ray Tune's experiment directory).
        tracking_uri: MLflow tracking URI of the run.
        experiment_id: MLflow experiment id.
        parent_run_id: MLflow run id of the tuning run; trials are nested under it.
        objectives: The (metric, mode) pairs optimized; the first is ``metric``.
        pareto_front: With several objectives, the COMPLETE trials no other
            beats on every objective (rows of ``trials``, best first on the
            first objective, ties by the later ones); ``None`` with one objective.
        columns: For data from a DataFrame, its feature columns in the order
            the best model takes them (categorical ones as vocabulary
            indices); see `load_best_model`. ``None`` for arrays.
        classes: The class names of a text target, in class-id order.
        space: The run's search space; `top` reads each parameter's type
            from it. ``None`` only for a result built without one.
    """

    best_config: dict[str, Any]
    best_value: float
    metric: str
    mode: Literal["min", "max"]
    trials: pd.DataFrame
    best_model_path: Path
    run_dir: Path
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    objectives: tuple[tuple[str, str], ...] = ()
    pareto_front: pd.DataFrame | None = None
    columns: tuple[Column, ...] | None = None
    classes: tuple[str, ...] | None = None
    space: Space | None = None

    def top(self, k: int = 3) -> list[TrialSummary]:
        """The ``k`` best trials, best first: their nested configs, scores, best epochs and models.

        Trials are ranked by ``best_<metric>`` (highest first for ``"max"``),
        ties by trial number; failed trials and those without a finite score
        are left out, so fewer than ``k`` may come back. With several
        objectives, the trials of `pareto_front` come first, in its order
        (the first is the run's best model), then the others by score.

        Args:
            k: How many trials, an int >= 1. Defaults to `3`.

        Raises:
            ConfigError: ``k`` is not an int >= 1, or the result has no space.

        Examples:
            >>> for trial in result.top(3):
            ...     print(trial.score, trial.best_epoch, trial.config["learning_rate"])
        """
        if not is_int(k, plain=True) or k < 1:
            raise ConfigError(
                f"expected an int >= 1 (how many trials, best first), but got {k!r}.", field="k"
            )
        from automl._ranking import ranked, summary_of

        space = self._known_space()
        rows = ranked(self.trials, self.metric, self.mode, self.pareto_front).head(k).to_dict("records")
        return [summary_of(row, metric=self.metric, space=space, run_dir=self.run_dir) for row in rows]

    # KerasTuner's vocabulary ----------------------------------------------------

    @property
    def best_hyperparameters(self) -> HyperParameters:
        """The best trial's hyperparameters as KerasTuner's tuners return them: ``.values``, ``.get(name)``.

        ``values`` is the flat config (a hypermodel's ``hp.values``; for a
        space, its flat keys such as ``layers.0.units``), without inactive
        parameters. KerasTuner's ``tuner.get_best_hyperparameters()[0]``.
        """
        from search_spaces._hyperparameters import fixed_hyperparameters

        return fixed_hyperparameters(self._flat_values(self.best_config))

    def _flat_values(self, config: dict[str, Any]) -> dict[str, Any]:
        flat = config if self.space is None else self.space.flatten(config)
        return {k: v for k, v in flat.items() if v is not None}

    def get_best_models(self, num_models: int = 1) -> list[keras.Model]:
        """The best ``num_models`` trials' models, best first, each at its best epoch (KerasTuner's method).

        A trial whose checkpoint the run no longer keeps is left out.

        Raises:
            ConfigError: ``num_models`` is not an int >= 1.
        """
        import keras

        return [keras.saving.load_model(t.model_path) for t in self.top(num_models) if t.model_path]

    def results_summary(self, num_trials: int = 10) -> None:
        """Prints the best ``num_trials`` trials, their hyperparameters and scores, as KerasTuner's tuners do."""
        print("Results summary")
        print(f"Results in {self.run_dir}")
        print(f"Showing {num_trials} best trials")
        print(f'Objective(name="{self.metric}", direction="{self.mode}")')
        for trial in self.top(num_trials):
            print()
            print(f"Trial {trial.number:02d} summary")
            print("Hyperparameters:")
            values = self._flat_values(trial.config)
            for name, value in values.items():
                print(f"{name}:", value)
            if not values:
                print("default configuration")
            print(f"Score: {trial.score}")

    def _known_space(self) -> Space:
        if self.space is None:
            raise ConfigError(
                "this result knows no search space; rebuild it with dataclasses.replace(result, space=...).",
                field="space",
            )
        return self.space

    def retrain(
        self,
        *,
        data: TrainingData | str | DataSpec | None = None,
        epochs: int | Literal["best"] = "best",
        rank: int = 1,
        build: Callable[[dict[str, Any]], Any] | None = None,
        verbose: int = 0,
    ) -> keras.Model:
        """Fits one of the best configs again on the training and validation rows together, in this process.

        The config of `top`'s ``rank``-th trial is built, compiled and fitted
        with `trainers.train` and the run's fit settings, on the run's
        training rows followed by its validation rows, for a fixed number of
        epochs (no early stopping; at most the config's own ``epochs`` entry,
        if it has one). With the run's ``seed``, the fit is seeded as trials
        are, from the seed and the config. The model after the last epoch is
        saved as ``<run_dir>/retrained_rank<rank>.keras`` and recorded in
        MLflow as a child run of the tuning run (tag ``automl.kind=retrain``):
        the flat config as params, the training metrics of every epoch (no
        validation metric: those rows are trained on) and the model file.

        Args:
            data: The run's data, needed only when it was passed to `tune`
                as arrays; a bundled data set or a file is loaded again from
                the run's ``run.json``. Defaults to `None`.
            epochs: ``"best"``: the trial's best epoch (see `TrialSummary`),
                or an int >= 1. Defaults to `"best"`.
            rank: Which of `top`'s trials, 1 the best. Defaults to `1`.
            build: The run's ``build(config)`` when it was passed to `tune`
                as a Python function (one given as ``'file.py:function'`` is
                loaded again). Defaults to `None`.
            verbose: Keras ``fit`` verbosity. Defaults to `0`.

        Returns:
            The fitted model, as saved.

        Raises:
            ConfigError: ``rank`` or ``epochs`` is not one the run has, or
                the data or ``build`` it needs were not given.

        Examples:
            >>> model = result.retrain()            # the best config, for its best epoch count
            >>> model = result.retrain(rank=2, epochs=30)
        """
        from automl.planning._retrain import retrain

        return retrain(self, data=data, epochs=epochs, rank=rank, build=build, verbose=verbose).model

    def evaluate(self, x: Any, y: Any = None) -> dict[str, float]:
        """Evaluates the best model on held-out rows (Keras's ``evaluate``): loss and each compiled metric.

        Args:
            x: Features as the model trained on them, or, for a run on a
                DataFrame, a DataFrame with its feature columns (raw values;
                they are encoded as in training). Or a file-backed test set:
                a `trainers.StreamingData`, or, for a run on files, a path
                (a directory, file or glob) read as the run's data were
                declared (its ``image_size``, ``features``, ``target``, ...);
                every row of it is evaluated, read in batches.
            y: Targets: class ids or values, or class names for a text
                target. Not given with a file-backed test set. Defaults to `None`.

        Raises:
            ConfigError: ``x`` is a DataFrame but the run's data were not,
                ``y`` holds a class the run never saw, or the lengths differ;
                a path that does not read as the run's data, or a test set
                whose classes are not the run's.

        Examples:
            >>> result.evaluate(test.x, test.y)
            {'loss': 0.11, 'accuracy': 0.97}
            >>> result.evaluate("data/test_images")      # a run on an image folder
        """
        from automl._held_out import evaluation_rows
        from trainers._fit import one_hot_for

        if isinstance(x, (str, StreamingData)):
            return self._evaluate_files(x, y)
        if y is None:
            raise ConfigError("give the targets y with the features x.", field="y")
        x, y = evaluation_rows(x, y, columns=self.columns, classes=self.classes)
        model = self.load_best_model()
        scores = model.evaluate(x, one_hot_for(model, y), verbose=0, return_dict=True)
        return {name: float(value) for name, value in scores.items()}

    def _evaluate_files(self, test: str | StreamingData, y: Any) -> dict[str, float]:
        import tensorflow as tf

        from automl._held_out import file_test_set
        from trainers._fit import categorical_loss
        from trainers._stream import evaluation_batches

        if y is not None:
            raise ConfigError("a file-backed test set holds its targets; give no y.", field="y")
        data = file_test_set(
            test, spec=read_manifest(self.run_dir).get("data"), columns=self.columns, classes=self.classes
        )
        model = self.load_best_model()
        takes = tuple(model.input_shape[1:])
        if data.tokens is None and data.columns is None and tuple(data.input_shape) != takes:
            raise ConfigError(
                f"the test set's samples have shape {tuple(data.input_shape)}, but the model takes {takes}; "
                "declare it as the run's data were (its image_size, color_mode, features), or pass a path.",
                field="x",
            )
        batches = evaluation_batches(data)
        if categorical_loss(model):  # one-hot rows, as `one_hot_for` makes them from arrays
            width = int(model.output_shape[-1])
            batches = batches.map(lambda x, y: (x, tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), width)))
        with warnings.catch_warnings():
            if int(batches.cardinality()) < 0:  # of unknown length: its end, which Keras warns about, is intended
                warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
            scores = model.evaluate(batches, verbose=0, return_dict=True)
        return {name: float(value) for name, value in scores.items()}

    def load_best_model(self, *, raw_rows: bool = False) -> keras.Model:
        """Loads the best model (``safe_mode`` on).

        Args:
            raw_rows: For data from a DataFrame: wrap the model so that it
                takes raw columns, one input per column named after it
                (strings for categorical ones), as `trainers.raw_input_model`
                does. Defaults to `False` (the feature matrix it trained on).

        Raises:
            ConfigError: ``raw_rows`` for a run whose data were not a DataFrame.
        """
        import keras

        from trainers import raw_input_model

        model = keras.saving.load_model(self.best_model_path)
        if not raw_rows:
            return model
        if self.columns is None:
            raise ConfigError(
                "the run's data were arrays, not a DataFrame: the model takes its feature matrix as is.",
                field="raw_rows",
            )
        return raw_input_model(model, self.columns)

    @property
    def ui_command(self) -> str:
        """The shell command that opens the MLflow UI on this run's store (loopback only)."""
        # The mlflow script beside this interpreter: it works without an activated venv.
        script = Path(sys.executable).parent / "mlflow"
        mlflow = str(script) if script.exists() else "mlflow"
        return f"{mlflow} ui --backend-store-uri '{self.tracking_uri}' --host 127.0.0.1 --port 5000"

    @property
    def ui_url(self) -> str:
        """The training-runs page of this run's experiment, for a UI started with `ui_command`."""
        return f"http://127.0.0.1:5000/#/experiments/{self.experiment_id}/runs?workflowType=machine_learning"

    def summary(self) -> str:
        """A few lines for people: best value and config, the trials, where things are."""
        columns = [
            c for c in ("number", "state", "epochs", f"best_{self.metric}", "duration_s") if c in self.trials
        ]
        return "\n".join(
            [
                f"Best {self.metric}: {self.best_value:.4f}",
                "Best config:",
                json.dumps(self.best_config, indent=2),
                f"Best model: {self.best_model_path}",
                f"Run directory: {self.run_dir}",
                "",
                self.trials[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}"),
                *self._front_lines(),
                "",
                "Compare the trials in the MLflow UI:",
                f"  {self.ui_command}",
                f"  then open {self.ui_url}",
            ]
        )

    def _front_lines(self) -> list[str]:
        if self.pareto_front is None:
            return []
        names = [name for name, _ in self.objectives]
        goals = ", ".join(f"{mode} {name}" for name, mode in self.objectives)
        table = self.pareto_front[["number", *names]].to_string(
            index=False, float_format=lambda v: f"{v:.4g}"
        )
        return ["", f"Pareto front ({goals}):", table]

    def save(self) -> Path:
        """Writes ``result.json`` and ``trials.csv`` into `run_dir` (plain text, nothing pickled)."""
        from automl._result_files import save_result

        return save_result(self)

    @classmethod
    def load(cls, run_dir: str | Path) -> TuningResult:
        """Reads a result saved by `save` from a run directory.

        Raises:
            ConfigError: ``run_dir`` holds no result written by this tool.
        """
        from automl._result_files import load_result

        return load_result(Path(run_dir).resolve())

    def __repr__(self) -> str:
        counts = self.trials["state"].value_counts().to_dict() if len(self.trials) else {}
        return (
            f"TuningResult({self.metric}={self.best_value:.4g}, trials={counts}, "
            f"best_model_path='{self.best_model_path}')"
        )
