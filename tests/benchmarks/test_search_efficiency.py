"""What benchmarks/search_efficiency.py computes from the runs' logs, and its KerasTuner view of the space."""

from __future__ import annotations

import argparse
import json

import keras_tuner as kt
import optuna
import pytest

from benchmarks import search_efficiency as se


def _log(path, start, epochs):
    lines = [{"start": start}] + [{"t": start + t, "fit": fit, "value": v} for t, fit, v in epochs]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _trace(tmp_path, tuner, seed, epochs, budget=10.0):
    log = _log(tmp_path / f"{tuner}-{seed}.jsonl", 1000.0, epochs)
    return se.Trace.read(log, tuner=tuner, seed=seed, budget=budget)


def test_trace_counts_only_epochs_within_the_budget(tmp_path):
    trace = _trace(
        tmp_path, "automl", 0, [(2.0, "a", 0.5), (4.0, "a", 0.7), (6.0, "b", 0.9), (11.0, "b", 0.99)]
    )
    assert trace.epochs == [(2.0, 0.5), (4.0, 0.7), (6.0, 0.9)]
    assert trace.fits == {"a": 0.7, "b": 0.9}
    assert trace.best_by(1.0) is None
    assert trace.best_by(5.0) == 0.7
    assert trace.time_to(0.8) == 6.0
    assert trace.time_to(0.95) is None  # reached only after the budget


def test_target_is_the_best_tuners_median_and_the_report_reads_it(tmp_path):
    traces = [
        _trace(tmp_path, "automl", 0, [(3.0, "a", 0.90), (5.0, "b", 0.97)]),
        _trace(tmp_path, "automl", 1, [(4.0, "a", 0.96)]),
        _trace(tmp_path, "automl", 2, [(6.0, "a", 0.98)]),
        _trace(tmp_path, "kt-random", 0, [(1.0, "a", 0.95)]),
        _trace(tmp_path, "kt-random", 1, [(2.0, "a", 0.80)]),
        _trace(tmp_path, "kt-random", 2, []),
    ]
    assert se.target_of(traces) == ("automl", 0.97)
    out = se.report(traces, 0.97)
    # automl reached 0.97 at 5 s and 6 s, not in seed 1: median 6 s; kt-random never
    # (its seed 2 logged no epoch: worst in the median, left out of min–max).
    assert "| automl | 1 | 97.0 | 96.0–98.0 | 6.0 | 2/3 |" in out
    assert "| kt-random | 1 | 80.0 | 80.0–95.0 | – | 0/3 |" in out
    # No KerasTuner run reached 0.97: the times compared are to kt-random's own median
    # best at budget, 0.80: automl at 3, 4, 6 s (median 4), kt-random at 1, 2 s and never.
    assert (
        "time to kt-random's median best at budget, 80.0% (no KerasTuner tuner reached the target): "
        "automl 4.0 s vs kt-random 2.0 s = 2.00×; best at 10 s: automl 97.0% vs kt-random 80.0%."
    ) in se.goal(traces, 0.97)
    reached = [*traces, _trace(tmp_path, "kt-hyperband", 0, [(8.0, "a", 0.975)])]
    assert "time to the target: automl 6.0 s vs kt-hyperband 8.0 s = 0.75×" in se.goal(reached, 0.97)


def test_keras_tuner_sees_the_same_parameters_as_optuna():
    space = se.space()
    hp = kt.HyperParameters()
    config = space.sample(se._HpTrial(hp))
    study = optuna.create_study()
    trial = study.ask()
    space.sample(trial)
    # Same names for the entries both sampled (KerasTuner starts at each parameter's default).
    shared = set(hp.values) & set(trial.params)
    assert {"learning_rate", "optimizer", "batch_size", "layers.depth", "layers.0.units"} <= shared
    learning_rate = hp.get("learning_rate")
    assert 1e-5 <= learning_rate <= 1e-1 and config["learning_rate"] == learning_rate
    assert {h.name: h for h in hp.space}["learning_rate"].sampling == "log"
    assert {h.name: h for h in hp.space}["layers.0.units"].sampling == "log"
    assert space.params_of(config)  # a config of the space, as automl would take it


def test_automl_hypermodel_samples_the_kerastuner_code_the_kt_tuners_search(tmp_path):
    # The same HyperModel object: automl samples it define-by-run (build and the fit
    # override, whose hp.get("batch_size") must find the value build declared).
    from pathlib import Path

    from search_spaces._hypermodel import HyperModelSpace, as_hypermodel

    data = se.load_problem("digits")
    run = se._Run(seed=0, budget=1.0, epochs=1, log=tmp_path / "e.jsonl", workdir=Path(tmp_path), data=data)
    hypermodel = se._kerastuner_hypermodel(run)
    assert isinstance(hypermodel, kt.HyperModel)
    ported = as_hypermodel(hypermodel)
    assert ported.fit is not None  # its fit override is called, as KerasTuner calls it
    rows = (data.x_train[:2], data.y_train[:2], data.x_val[:2], data.y_val[:2])
    config = HyperModelSpace(ported, fit_rows=rows).sample(optuna.create_study().ask())
    hp = kt.HyperParameters()
    hypermodel.build(hp)
    assert set(config) >= {"learning_rate", "optimizer", "batch_size", "layers.depth", "layers.0.units"}
    assert set(config) & set(hp.values) >= {"learning_rate", "optimizer", "batch_size", "layers.depth"}
    assert se._names("automl-hypermodel,kt-random") == ["automl-hypermodel", "kt-random"]


def test_unknown_tuner_is_refused():
    with pytest.raises(SystemExit):
        se.main(["--tuners", "automl,gridsearch"])


def test_epoch_log_survives_the_copies_tuners_make(tmp_path):
    # KerasTuner and automl deep-copy callbacks per trial; Ray pickles them to its workers.
    import copy

    from ray import cloudpickle

    log = se.EpochLog(tmp_path / "epochs.jsonl")
    for clone in (copy.deepcopy(log), cloudpickle.loads(cloudpickle.dumps(log))):
        clone.on_train_begin()
        clone.on_epoch_end(0, {"val_accuracy": 0.5, "accuracy": 0.6})
        clone.on_epoch_end(1, {"accuracy": 0.7})  # no val_accuracy: nothing logged
    lines = [json.loads(line) for line in (tmp_path / "epochs.jsonl").read_text().splitlines()]
    assert [line["value"] for line in lines] == [0.5, 0.5]
    assert lines[0]["fit"] != lines[1]["fit"]


def test_the_synthetic_problem_is_the_same_in_every_run_and_has_thousands_of_validation_rows():
    first, again = se.load_problem("synthetic"), se.load_problem("synthetic")
    assert (first.x_val == again.x_val).all() and (first.y_train == again.y_train).all()
    assert (len(first.x_train), len(first.x_val)) == (6000, 2000)  # one validation row: 0.05 points
    assert first.num_classes == 6 and first.input_shape == (40,)
    assert se.load_problem("digits").name == "digits"


def test_a_variant_is_a_name_and_automl_tune_arguments_the_benchmark_does_not_fix():
    name, settings = se._variant('automl-g2={"scheduler": {"name": "asha", "grace_period": 2}}')
    assert (name, settings) == ("automl-g2", {"scheduler": {"name": "asha", "grace_period": 2}})
    for text, match in [
        ('automl={"sampler": "random"}', r"with a NAME other than automl, "),
        ("automl-x", r"takes NAME=JSON"),
        ("automl-x={sampler: random}", r"^--variant automl-x: not JSON"),
        ('automl-x=["tpe"]', r"expected a JSON object of automl.tune arguments"),
        ('automl-x={"epochs": 5, "seed": 1}', r"epochs, seed are set alike for every tuner"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError, match=match):
            se._variant(text)


@pytest.mark.slow
def test_a_variants_arguments_reach_automl_tune_in_its_own_process(tmp_path):
    # automl refuses a bad scheduler before Ray starts: the child's error names it.
    args = argparse.Namespace(budget=5.0, epochs=1, data="synthetic", address=None)
    with pytest.raises(
        RuntimeError, match=r"(?s)automl-bad run \(seed 0\) exited.*scheduler: unknown scheduler 'bogus'"
    ):
        se._launch("automl-bad", 0, args, tmp_path, {"scheduler": "bogus"})
