"""The end-of-run artifacts: their imports start on a driver thread once every trial has started; the plots; the shared registered model."""

from __future__ import annotations

import concurrent.futures
import pickle
import subprocess
import sys
import threading

import optuna
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray.tune.experiment import Trial

from automl.tracking._artifacts import ImportsForArtifacts, _ensure_registered_model
from automl.tracking._plots import study_figures
from automl.tracking._tracking import tracking_client

RUNS_AT_ONCE = 8


def _trials(*statuses: str) -> list[Trial]:
    trials = []
    for status in statuses:
        trial = Trial("__fake", stub=True)
        trial.set_status(status)
        trials.append(trial)
    return trials


def test_the_imports_wait_until_every_trial_has_started():
    ahead = ImportsForArtifacts(num_trials=3)
    ended = _trials(Trial.TERMINATED)[0]
    # The searcher has not made the third trial yet.
    ahead.on_trial_complete(0, _trials(Trial.TERMINATED, Trial.RUNNING), ended)
    # A made trial waits for a CPU, or a paused one will continue.
    ahead.on_trial_complete(0, _trials(Trial.TERMINATED, Trial.RUNNING, Trial.PENDING), ended)
    ahead.on_trial_error(0, _trials(Trial.ERROR, Trial.RUNNING, Trial.PAUSED), ended)
    trials = _trials(Trial.TERMINATED, Trial.PENDING, Trial.PENDING)
    ahead.on_trial_start(0, trials, trials[1])
    assert ahead.thread is None

    # The last one starts (Ray marks it RUNNING after the callbacks).
    ahead.on_trial_start(0, trials, trials[2])
    trials[1].set_status(Trial.RUNNING)
    ahead.on_trial_start(0, trials, trials[2])
    thread = ahead.thread
    assert thread is not None and thread.name == "automl-imports"
    ahead.on_trial_complete(0, _trials(Trial.ERROR, Trial.TERMINATED, Trial.RUNNING), ended)
    assert ahead.thread is thread  # once per run
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert {
        "automl.tracking._mlflow_compat",
        "matplotlib.pyplot",
        "optuna.importance",
        "optuna.visualization.matplotlib",
    } <= set(sys.modules)


def test_a_trial_ending_with_none_left_to_start_starts_them():
    ahead = ImportsForArtifacts(num_trials=2)  # e.g. a resumed run, whose trials had all started
    ahead.on_trial_error(0, _trials(Trial.ERROR, Trial.RUNNING), _trials(Trial.ERROR)[0])
    assert ahead.thread is not None
    ahead.thread.join(timeout=120)


def test_ray_can_pickle_it_after_the_thread_started():
    ahead = ImportsForArtifacts(num_trials=1)
    ahead.on_trial_complete(0, _trials(Trial.TERMINATED), _trials(Trial.TERMINATED)[0])
    assert ahead.thread is not None
    restored = pickle.loads(pickle.dumps(ahead))
    assert restored.thread is None and restored._num_trials == 1
    ahead.thread.join(timeout=120)


def test_a_run_with_a_time_budget_starts_them_ten_seconds_before_its_end():
    long = ImportsForArtifacts(num_trials=100, time_budget_s=3600)
    long.setup()
    long.on_step_end(0, _trials(Trial.RUNNING))
    assert long.thread is None
    short = ImportsForArtifacts(num_trials=100, time_budget_s=10)  # half-way through a budget under 20 s
    short.setup()
    short.on_step_end(0, _trials(Trial.RUNNING))
    assert short.thread is None
    short._fit_started -= 5
    short.on_step_end(1, _trials(Trial.RUNNING))
    assert short.thread is not None
    short.thread.join(timeout=120)


LEAVES_MID_IMPORT = """
import sys, time
from automl.tracking._artifacts import ImportsForArtifacts
ImportsForArtifacts(num_trials=1)._start()
deadline = time.monotonic() + 60
while "sklearn" not in sys.modules and time.monotonic() < deadline:
    time.sleep(0.001)
sys.exit(3)  # as a Ctrl-C'd driver leaves: inside the imports, scikit-learn's begun
"""


def test_a_driver_that_leaves_during_the_imports_ahead_exits_with_its_own_status():
    # The imports' thread was a daemon: cut short inside h5py's import (TensorFlow's, then among
    # them), HDF5 called h5py's converters after Python had ended: a segmentation fault.
    out = subprocess.run(
        [sys.executable, "-c", LEAVES_MID_IMPORT], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 3, out.stderr[-2000:]


def _study_with_curves(trials: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials):
        trial = study.ask()
        rate = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        units = trial.suggest_int("units", 16, 256, log=True)
        for epoch in (1, 2, 3):
            trial.report(epoch * rate * units / 100, epoch)
        study.tell(trial, 3 * rate * units / 100)
    return study


def _figures(study: optuna.Study) -> dict:
    import matplotlib.pyplot as plt

    figures = dict(study_figures(study, metric="val_accuracy"))
    for figure in figures.values():
        plt.close(figure)
    return figures


def test_the_intermediate_values_plot_names_each_trial_while_their_colours_differ():
    figures = _figures(_study_with_curves(20))
    assert set(figures) == {
        "optimization_history",
        "param_importances",
        "parallel_coordinate",
        "intermediate_values",
    }
    (axes,) = figures["intermediate_values"].axes
    assert len(axes.lines) == 20
    assert len(axes.get_legend().get_texts()) == 20
    assert len({line.get_color() for line in axes.lines}) == 20


def test_past_twenty_trials_it_drops_the_legend_their_shared_colour_makes_useless():
    figures = _figures(_study_with_curves(60))
    (axes,) = figures["intermediate_values"].axes
    assert len(axes.lines) == 60 and axes.get_legend() is None
    assert len({line.get_color() for line in axes.lines}) == 20  # tab20: past it, its last colour again
    # The history keeps its legend (each trial's value, the best so far).
    assert len(figures["optimization_history"].axes[0].get_legend().get_texts()) == 2


def test_runs_registering_their_best_model_at_once_share_one_registered_model(tmp_path):
    # Runs sharing a store each end by registering their best model under the same
    # name; a check-then-create fails the one whose check came first.
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    clients = [tracking_client(uri) for _ in range(RUNS_AT_ONCE)]
    start = threading.Barrier(RUNS_AT_ONCE)

    def register(client: MlflowClient) -> None:
        start.wait()
        _ensure_registered_model(client, "automl")

    with concurrent.futures.ThreadPoolExecutor(RUNS_AT_ONCE) as pool:
        for done in [pool.submit(register, client) for client in clients]:
            done.result()  # raises what the thread raised
    assert [m.name for m in clients[0].search_registered_models()] == ["automl"]
    _ensure_registered_model(clients[0], "automl")  # and once more, after the others

    with pytest.raises(MlflowException, match="name"):  # other errors still surface
        _ensure_registered_model(clients[0], "")
