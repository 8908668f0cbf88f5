"""Optuna's plots of a run's trials, drawn as PNG files, in a process of their own when one is ready.

Drawing them takes a second or more of the driver's CPU (matplotlib's text
layout, Agg rendering) after the last trial, before `automl.tune` returns. A
`PlotProcess` started while the last trials run has matplotlib and Optuna's
plotting modules imported by the time they end; it then draws on another
CPU while the driver logs the best model. The study goes to it as JSON on
its stdin (nothing is unpickled) and it writes the files into a directory
the driver gave. Run as ``python -m automl.tracking._plots``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import optuna

__all__ = ["PlotProcess", "import_plotting", "render_study_plots", "study_figures"]

logger = logging.getLogger(__name__)

# Optuna draws each trial's intermediate values in a colour of matplotlib's
# "tab20" and names it in a legend; from the 21st trial on the lines share the
# last colour, and a legend of hundreds of names runs off the figure (and
# drawing them all takes longer than the other plots together).
_LEGEND_MAX_TRIALS = 20

# How long the driver waits for the plot process to draw before it gives the plots up.
_RENDER_TIMEOUT_S = 600


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display in workers, CI or servers
    import matplotlib.pyplot as plt

    return plt


def import_plotting() -> None:
    """Imports what `study_figures` draws with: matplotlib, Optuna's plots and the importances' scikit-learn."""
    _pyplot()
    import optuna.importance  # noqa: F401  # the importances plot's fANOVA: scikit-learn's forests
    from optuna.visualization import matplotlib as _  # noqa: F401


def study_figures(study: optuna.Study, *, metric: str) -> Iterator[tuple[str, Any]]:
    """Optuna's matplotlib plots of ``study``, by name, laid out at 10 × 6 inches.

    A plot that the trials can't support (e.g. importances with fewer than two
    completed trials) is skipped with a log line. The caller closes each
    figure.
    """
    _pyplot()
    from optuna.visualization import matplotlib as ov

    plots: dict[str, Callable[..., Any]] = {
        "optimization_history": ov.plot_optimization_history,
        "param_importances": ov.plot_param_importances,
        "parallel_coordinate": ov.plot_parallel_coordinate,
        "intermediate_values": ov.plot_intermediate_values,
    }
    for name, plot in plots.items():
        # Plotting warnings (optuna marks its matplotlib backend experimental;
        # importances warn on few trials) are about the picture, not the run:
        # they go to the log rather than to the user's console.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                axes = plot(study, target_name=metric) if name != "intermediate_values" else plot(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                logger.info("Skipped the %s plot: %s", name, exc)
                continue
        for warning in caught:
            if not issubclass(warning.category, optuna.exceptions.ExperimentalWarning):
                logger.info("%s plot: %s", name, warning.message)
        first = np.ravel(axes)[0]
        legend = first.get_legend()
        if (
            name == "intermediate_values"
            and legend is not None
            and len(legend.get_texts()) > _LEGEND_MAX_TRIALS
        ):
            legend.remove()
        figure = first.figure
        figure.set_size_inches(10, 6)
        with warnings.catch_warnings():  # a slice plot of many parameters does not fit; it is drawn anyway
            warnings.filterwarnings("ignore", message="Tight layout not applied", category=UserWarning)
            figure.tight_layout()
        # tight_layout leaves a placeholder layout engine behind, for which savefig walks the
        # whole figure once more before drawing it; the layout is done, so none is kept.
        figure.set_layout_engine(None)
        yield name, figure


def render_study_plots(study: optuna.Study, *, metric: str, directory: Path) -> list[str]:
    """Draws `study_figures` into ``directory`` as ``<name>.png``; returns the names drawn."""
    plt = _pyplot()
    drawn = []
    for name, figure in study_figures(study, metric=metric):
        try:
            figure.savefig(directory / f"{name}.png")
        finally:
            plt.close(figure)
        drawn.append(name)
    return drawn


def study_to_json(study: optuna.Study) -> dict[str, Any]:
    """What `study_from_json` rebuilds the study from: each trial's state, value, params and curve."""
    return {
        "study_name": study.study_name,
        "direction": study.direction.name.lower(),
        "trials": [
            {
                "state": trial.state.name,
                "value": trial.value,
                "params": trial.params,
                "distributions": {
                    name: optuna.distributions.distribution_to_json(d) for name, d in trial.distributions.items()
                },
                "intermediate_values": [[step, v] for step, v in trial.intermediate_values.items()],
            }
            for trial in study.trials
        ],
    }


def study_from_json(data: dict[str, Any]) -> optuna.Study:
    """The in-memory study `study_to_json` wrote."""
    study = optuna.create_study(direction=data["direction"], study_name=data["study_name"])
    for trial in data["trials"]:
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState[trial["state"]],
                value=trial["value"],
                params=trial["params"],
                distributions={
                    name: optuna.distributions.json_to_distribution(d)
                    for name, d in trial["distributions"].items()
                },
                intermediate_values={int(step): v for step, v in trial["intermediate_values"]},
            )
        )
    return study


class _Lines(logging.Handler):
    """Keeps the log lines the plots write, for the driver's log."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _warm_up() -> None:
    """Draws every plot once for a made-up study, to nowhere: the run's plots then find fonts, text layout and Agg ready.

    A fresh process draws its first figures about half as fast again as its later ones.
    """
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for i in range(3):
        trial = study.ask()
        rate = trial.suggest_float("rate", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 16, 256, log=True)
        trial.suggest_categorical("kind", ["a", "b"])
        trial.report(rate * units, 1)
        study.tell(trial, rate * units + i)
    plt = _pyplot()
    logger.disabled = True  # its skipped plots and warnings are no one's business
    try:
        for _, figure in study_figures(study, metric="value"):
            figure.savefig(io.BytesIO(), format="png")
            plt.close(figure)
    finally:
        logger.disabled = False


def _serve(stdin: IO[str], stdout: IO[str]) -> int:
    """The plot process: imports, then draws the one study its stdin brings (none at end of input)."""
    import_plotting()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _warm_up()
    text = stdin.read()
    if not text:  # the run ended before its plots (interrupted, failed): nothing to draw
        return 0
    request = json.loads(text)
    lines = _Lines()
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    drawn = render_study_plots(
        study_from_json(request["study"]), metric=request["metric"], directory=Path(request["directory"])
    )
    stdout.write("\n" + json.dumps({"drawn": drawn, "log": lines.lines}) + "\n")
    stdout.flush()
    return 0


class PlotProcess:
    """The run's plots, drawn by a ``python -m automl.tracking._plots`` process started ahead.

    `start` launches it (it imports matplotlib and waits); `render` hands it
    the study and returns at once; `result` waits for the files. Without a
    running process (never started, failed to start, or ended) `result` draws
    them in this process instead, as a run without one does. `close` ends a
    process that got no study.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self._sending: threading.Thread | None = None
        self._answer: str | BaseException = ""
        self._inline: tuple[optuna.Study, str, Path] | None = None

    def start(self) -> None:
        """Launches the process; one that cannot be launched leaves the plots to this process."""
        if self._process is not None:
            return
        self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8")
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "automl.tracking._plots"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                encoding="utf-8",
                env={**os.environ, "MPLBACKEND": "Agg"},
            )
        except OSError as exc:
            logger.info("The plots are drawn in the driver: the plot process did not start (%s)", exc)
            self._stderr.close()
            self._stderr = None

    def render(self, study: optuna.Study, *, metric: str, directory: Path) -> None:
        """Has the plots of ``study`` drawn into ``directory``: begun in the process, or left to `result`."""
        process = self._process
        if process is None or process.poll() is not None or process.stdin is None or process.stdout is None:
            self._inline = (study, metric, directory)
            return
        stdin, stdout = process.stdin, process.stdout
        request = json.dumps({"study": study_to_json(study), "metric": metric, "directory": str(directory)})

        def send() -> None:  # the pipes' waits, off the driver's thread
            try:
                with stdin:
                    stdin.write(request)
                # To its end, which comes once the process answered: it closes its stdout then.
                with stdout:
                    self._answer = stdout.read()
            except OSError as exc:  # it ended before reading the study: `result` tells why
                self._answer = exc

        self._sending = threading.Thread(target=send, name="automl-plots", daemon=True)
        self._sending.start()

    def result(self) -> list[str]:
        """Waits for the plots `render` asked for; returns the names drawn.

        Raises:
            RuntimeError: The plot process failed (its last error line says why).
        """
        if self._inline is not None:
            study, metric, directory = self._inline
            self._inline = None
            return render_study_plots(study, metric=metric, directory=directory)
        process, sending = self._process, self._sending
        if process is None or sending is None:
            raise RuntimeError("no plots were asked for")
        sending.join(timeout=_RENDER_TIMEOUT_S)
        if sending.is_alive():
            self.close()
            raise RuntimeError(f"the plot process did not answer within {_RENDER_TIMEOUT_S} s")
        reply = _reply(self._answer)
        if reply is None:  # it failed: its exit status and last error line say why
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            error = self.close()
            raise RuntimeError(f"the plot process exited with status {process.returncode}: {error}")
        self.close()
        for line in reply["log"]:
            logger.info("%s", line)
        return list(reply["drawn"])

    def close(self) -> str:
        """Ends the process, giving up a drawing not waited for; returns the last line it wrote to stderr."""
        process, self._process, self._inline = self._process, None, None
        if process is not None and self._sending is None:  # waiting for a study: the input's end lets it exit
            try:
                process.communicate("", timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        elif process is not None and self._sending is not None:
            if self._sending.is_alive():  # still drawing: given up
                process.kill()
                self._sending.join()
            if process.poll() is None:  # it answered and is exiting: reaped meanwhile, not waited for
                threading.Thread(target=process.wait, name="automl-plots-exit", daemon=True).start()
        stderr, self._stderr = self._stderr, None
        if stderr is None:
            return ""
        with stderr:
            stderr.seek(0)
            lines = stderr.read().strip().splitlines()
        return lines[-1] if lines else "no error message"


def _reply(answer: str | BaseException) -> dict[str, Any] | None:
    """The plot process's answer: the JSON on its last line (a library may have printed before it)."""
    if isinstance(answer, BaseException) or not answer.strip():
        return None
    try:
        reply = json.loads(answer.strip().splitlines()[-1])
    except json.JSONDecodeError:
        return None
    return reply if isinstance(reply, dict) else None


if __name__ == "__main__":
    status = _serve(sys.stdin, sys.stdout)
    # Its answer is complete: the driver, which reads to the end of it, goes on while
    # this process unloads matplotlib, scikit-learn and Optuna.
    sys.stdout.flush()
    os.close(sys.stdout.fileno())
    sys.exit(status)
