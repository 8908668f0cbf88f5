"""What a tuning run returns."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from search_spaces import ConfigError, Space
from trainers import Column
from trainers._checkpoint import BEST_FILE

if TYPE_CHECKING:
    from collections.abc import Callable

    import keras

    from automl.planning._experiment import DataSpec
    from trainers import TrainingData

__all__ = ["RunInterrupted", "TrialState", "TrialSummary", "TuningResult"]

# The files of a run directory that more than one module reads.
RESULT_FILE = "result.json"
RESULT_FORMAT = "automl-result/1"
PARETO_FILE = "pareto_front.csv"
MANIFEST_FILE = "run.json"  # what `automl.resume` needs to rebuild the run (automl.execution._runner writes it)
TRIAL_DIR_PREFIX = "trial_"  # a trial's directory: <run_dir>/trial_<trial_id>/checkpoint_<n>/
# Read as text: an id of digits only would otherwise come back as a number.
_ID_COLUMNS = {"trial_id": str, "mlflow_run_id": str}


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
            for a result saved before runs recorded it.
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


def _present(value: Any) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


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
            from it. ``None`` only for a result saved without it and
            without the run's ``run.json``.
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

        Example:
            >>> for trial in result.top(3):
            ...     print(trial.score, trial.best_epoch, trial.config["learning_rate"])
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(
                f"expected an int >= 1 (how many trials, best first), but got {k!r}.", field="k"
            )
        space = self._known_space()
        return [self._summary(row, space) for row in self._ranked().head(k).to_dict("records")]

    def _known_space(self) -> Space:
        if self.space is None:
            raise ConfigError(
                f"this result knows no search space: {self.run_dir} has no {MANIFEST_FILE} and its "
                f"{RESULT_FILE} predates the space's record; rebuild it with dataclasses.replace(result, space=...).",
                field="space",
            )
        return self.space

    def _ranked(self) -> pd.DataFrame:
        """The trials that did not fail and have a finite score, best first (see `top`)."""
        score = f"best_{self.metric}"
        trials = self.trials
        scores = pd.to_numeric(trials[score], errors="coerce")
        kept = trials[(trials["state"] != TrialState.FAILED.value) & scores.abs().lt(math.inf)]
        ranked = kept.sort_values([score, "number"], ascending=[self.mode == "min", True], kind="stable")
        if self.pareto_front is None:
            return ranked
        order = {str(trial_id): i for i, trial_id in enumerate(self.pareto_front["trial_id"])}
        place = ranked["trial_id"].astype(str).map(order).fillna(len(order))
        return ranked.assign(_place=place).sort_values("_place", kind="stable").drop(columns="_place")

    def _summary(self, row: dict[str, Any], space: Space) -> TrialSummary:
        flat = {key.removeprefix("params."): value for key, value in row.items() if key.startswith("params.")}
        best_epoch = row.get("best_epoch")
        run_id = row.get("mlflow_run_id")
        return TrialSummary(
            number=int(row["number"]),
            trial_id=str(row["trial_id"]),
            config=space.unflatten_stored(flat),
            score=float(row[f"best_{self.metric}"]),
            best_epoch=int(best_epoch) if _present(best_epoch) and best_epoch else None,
            epochs=int(row["epochs"]),
            state=TrialState(row["state"]),
            mlflow_run_id=str(run_id) if _present(run_id) else None,
            model_path=self._kept_model(str(row["trial_id"])),
        )

    def _kept_model(self, trial_id: str) -> Path | None:
        """The best model in the trial's newest checkpoint still on disk (older ones are deleted as it trains)."""
        kept = sorted((self.run_dir / f"{TRIAL_DIR_PREFIX}{trial_id}").glob("checkpoint_*/" + BEST_FILE))
        return kept[-1] if kept else None

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

        Example:
            >>> model = result.retrain()            # the best config, for its best epoch count
            >>> model = result.retrain(rank=2, epochs=30)
        """
        from automl.planning._retrain import retrain

        return retrain(self, data=data, epochs=epochs, rank=rank, build=build, verbose=verbose).model

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """Evaluates the best model on held-out rows (Keras's ``evaluate``): loss and each compiled metric.

        Args:
            x: Features as the model trained on them, or, for a run on a
                DataFrame, a DataFrame with its feature columns (raw values;
                they are encoded as in training).
            y: Targets: class ids or values, or class names for a text target.

        Raises:
            ConfigError: ``x`` is a DataFrame but the run's data were not,
                ``y`` holds a class the run never saw, or the lengths differ.

        Example:
            >>> result.evaluate(test.x, test.y)
            {'loss': 0.11, 'accuracy': 0.97}
        """
        import numpy as np

        from trainers._fit import one_hot_for

        if isinstance(x, pd.DataFrame):
            if self.columns is None:
                raise ConfigError("the run's data were arrays: pass the features as an array.", field="x")
            from trainers._tabular import encode

            x = encode(x, self.columns)
        x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
        if len(x) != len(y):
            raise ConfigError(f"x has {len(x)} rows but y has {len(y)} values.", field="y")
        if self.classes is not None and y.dtype.kind in "OUS":
            index = {name: i for i, name in enumerate(self.classes)}
            unknown = sorted({str(v) for v in y} - set(index))
            if unknown:
                raise ConfigError(
                    f"y holds classes the run never saw: {unknown[:5]}; known: {list(self.classes)}.",
                    field="y",
                )
            y = np.array([index[str(v)] for v in y])
        model = self.load_best_model()
        scores = model.evaluate(x, one_hot_for(model, y), verbose=0, return_dict=True)
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
        summary = {
            "format": RESULT_FORMAT,
            "best_config": self.best_config,
            "best_value": self.best_value,
            "metric": self.metric,
            "mode": self.mode,
            "best_model": self.best_model_path.name,
            "tracking_uri": self.tracking_uri,
            "experiment_id": self.experiment_id,
            "parent_run_id": self.parent_run_id,
            "objectives": [list(o) for o in self.objectives],
            "columns": None if self.columns is None else [c.to_dict() for c in self.columns],
            "classes": None if self.classes is None else list(self.classes),
            "space": None if self.space is None else self.space.to_dict(),
        }
        self.trials.to_csv(self.run_dir / "trials.csv", index=False)
        if self.pareto_front is not None:
            self.pareto_front.to_csv(self.run_dir / PARETO_FILE, index=False)
        path = self.run_dir / RESULT_FILE
        path.write_text(json.dumps(summary, indent=2))
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> TuningResult:
        """Reads a result saved by `save` from a run directory.

        Raises:
            ConfigError: ``run_dir`` holds no result written by this tool.
        """
        run_dir = Path(run_dir).resolve()
        try:
            summary = json.loads((run_dir / RESULT_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"{run_dir} holds no readable {RESULT_FILE}; pass the directory of a finished run "
                "(printed at its end, under storage_path).",
                field="run_dir",
            ) from exc
        if not isinstance(summary, dict) or summary.get("format") != RESULT_FORMAT:
            raise ConfigError(f"{run_dir / RESULT_FILE} was not written by automl.", field="run_dir")
        return cls(
            best_config=summary["best_config"],
            best_value=float(summary["best_value"]),
            metric=summary["metric"],
            mode=summary["mode"],
            trials=pd.read_csv(run_dir / "trials.csv", dtype=_ID_COLUMNS),
            best_model_path=run_dir / summary["best_model"],
            run_dir=run_dir,
            tracking_uri=summary["tracking_uri"],
            experiment_id=summary["experiment_id"],
            parent_run_id=summary["parent_run_id"],
            objectives=tuple((name, mode) for name, mode in summary.get("objectives", [])),
            pareto_front=pd.read_csv(front, dtype=_ID_COLUMNS)
            if (front := run_dir / PARETO_FILE).exists()
            else None,
            columns=None
            if summary.get("columns") is None
            else tuple(map(Column.from_dict, summary["columns"])),
            classes=None if summary.get("classes") is None else tuple(summary["classes"]),
            space=_saved_space(summary, run_dir),
        )

    def __repr__(self) -> str:
        counts = self.trials["state"].value_counts().to_dict() if len(self.trials) else {}
        return (
            f"TuningResult({self.metric}={self.best_value:.4g}, trials={counts}, "
            f"best_model_path='{self.best_model_path}')"
        )


def _saved_space(summary: dict[str, Any], run_dir: Path) -> Space | None:
    """The space a result saved; a result from before that record takes it from the run's manifest."""
    saved = summary.get("space")
    if saved is None:
        try:
            saved = json.loads((run_dir / MANIFEST_FILE).read_text()).get("space")
        except (OSError, ValueError, AttributeError):
            return None
    return None if saved is None else Space.from_dict(saved)
