"""The run's plots: drawn by a process started ahead (or in the driver without one), then logged to MLflow."""

from __future__ import annotations

import json
import logging

import optuna
import pytest
from mlflow.tracking import MlflowClient

from automl.tracking._artifacts import log_plot_files
from automl.tracking._plots import PlotProcess, render_study_plots, study_from_json, study_to_json

PNG = b"\x89PNG\r\n\x1a\n"
ALL = ["optimization_history", "param_importances", "parallel_coordinate", "intermediate_values"]


def _study(trials: int) -> optuna.Study:
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), study_name="val_accuracy"
    )
    for i in range(trials):
        trial = study.ask()
        rate = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 16, 256, log=True)
        trial.suggest_categorical("activation", ["relu", "tanh"])
        for epoch in (1, 2):
            trial.report(epoch * rate * units / 100, epoch)
        if i == trials - 1:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, 2 * rate * units / 100)
    return study


def test_a_study_comes_back_from_its_json_as_it_was():
    study = _study(4)
    back = study_from_json(json.loads(json.dumps(study_to_json(study))))
    assert back.direction == study.direction and back.study_name == "val_accuracy"
    for mine, theirs in zip(study.trials, back.trials, strict=True):
        assert (theirs.state, theirs.value, theirs.params) == (mine.state, mine.value, mine.params)
        assert theirs.distributions == mine.distributions
        assert theirs.intermediate_values == mine.intermediate_values


def test_the_plot_process_draws_what_the_driver_would_which_logs_them_to_mlflow(tmp_path, caplog):
    study = _study(2)  # one completed trial: a flat parallel-coordinate axis, which matplotlib warns about
    (tmp_path / "driver").mkdir()
    (tmp_path / "process").mkdir()
    with caplog.at_level(logging.INFO, logger="automl.tracking._plots"):
        in_driver = render_study_plots(study, metric="val_accuracy", directory=tmp_path / "driver")
    driver_lines = [r.getMessage() for r in caplog.records if r.name == "automl.tracking._plots"]
    caplog.clear()

    plots = PlotProcess()
    plots.start()
    plots.render(study, metric="val_accuracy", directory=tmp_path / "process")
    with caplog.at_level(logging.INFO, logger="automl.tracking._plots"):
        drawn = plots.result()
    assert drawn == in_driver == ALL
    for name in drawn:
        assert (tmp_path / "process" / f"{name}.png").read_bytes().startswith(PNG)
    # The process's log lines (a plot skipped, matplotlib's warnings) reach the driver's log.
    assert any(line.startswith("parallel_coordinate plot: ") for line in driver_lines)
    assert [r.getMessage() for r in caplog.records if r.name == "automl.tracking._plots"] == driver_lines

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("plots", artifact_location=str(tmp_path / "artifacts"))
    run_id = client.create_run(experiment).info.run_id
    logged = log_plot_files(client, run_id, tmp_path / "process", drawn)
    assert logged == [f"plots/{name}.png" for name in ALL]
    assert {f.path for f in client.list_artifacts(run_id, "plots")} == set(logged)


def test_without_a_process_the_driver_draws_them(tmp_path):
    plots = PlotProcess()  # never started: a resumed run's
    plots.render(_study(3), metric="val_accuracy", directory=tmp_path)
    assert plots.result() == ALL
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{name}.png" for name in ALL)


def test_a_drawing_that_fails_in_the_process_raises_its_error(tmp_path):
    plots = PlotProcess()
    plots.start()
    plots.render(_study(3), metric="val_accuracy", directory=tmp_path / "missing")
    with pytest.raises(RuntimeError, match="exited with status 1: FileNotFoundError"):
        plots.result()


def test_a_process_that_got_no_study_exits_when_the_run_ends():
    plots = PlotProcess()
    plots.start()
    process = plots._process
    assert process is not None and process.poll() is None
    assert plots.close() == "no error message"
    assert process.returncode == 0


def test_a_figure_is_laid_out_once_and_saved_without_a_second_layout_pass():
    import matplotlib.pyplot as plt

    from automl.tracking._plots import study_figures

    for _, figure in study_figures(_study(3), metric="val_accuracy"):
        # tight_layout's placeholder engine would have savefig walk the figure once more.
        assert figure.get_layout_engine() is None
        plt.close(figure)


def test_plots_given_up_while_drawn_end_their_process(tmp_path):
    # The run's store took no writes: the plots will not be logged, and the run returns.
    plots = PlotProcess()
    plots.start()
    process = plots._process
    plots.render(_study(3), metric="val_accuracy", directory=tmp_path)
    plots.close()
    assert process is not None
    process.wait(timeout=30)  # killed while drawing, or exiting after its answer
    with pytest.raises(RuntimeError, match="no plots were asked for"):
        plots.result()  # nothing is left to wait for
