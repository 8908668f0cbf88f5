"""The start-up benchmark's bookkeeping: steps from its marks, ratios within a round, pooled records.

Nothing is timed here; the measured figures are in benchmarks/LOG.md, section 10.
"""

from __future__ import annotations

import importlib
import json

import pytest

from benchmarks import report, startup


def _marks(**at: float) -> dict[str, float]:
    return {"spawn": 0.0, "python": 0.05, **at}


AUTOML = _marks(
    imported=0.5,
    **{"tune.begin": 0.6, "plan.end": 2.0, "store.end": 3.0, "ray.end": 4.0, "tuner_fit.begin": 4.2},
    first_trial_start=5.0,
    first_epoch=9.0,
    **{"tuner_fit.end": 9.1, "save.end": 9.2, "flush.end": 9.3, "plots.end": 10.3, "best_model.end": 11.3},
    **{"tune.end": 11.4, "warm.tune.begin": 11.5, "warm.first_epoch": 14.5, "warm.tune.end": 16.5},
    **{"main.end": 16.6, "atexit.begin": 16.6, "atexit.end": 18.0, "exit": 20.0},
)


def test_the_timeline_measures_each_step_from_the_one_before_and_from_tune():
    steps = {label: (took, at) for label, took, at in startup.timeline(AUTOML, last_call=False)}
    assert steps["Ray started"] == pytest.approx((1.0, 3.4))
    assert steps["first epoch received (worker imports, data, trace, epoch)"] == pytest.approx((4.0, 8.4))
    assert steps["best model logged and registered"] == pytest.approx((1.0, 10.7))
    assert not any(label.startswith("interpreter") for label in steps)  # the exit belongs to the last call
    last = {label: took for label, took, _ in startup.timeline(AUTOML, "warm.")}
    assert last["interpreter teardown"] == pytest.approx(2.0)
    assert "Python start and `import automl`" not in last  # a second call imports nothing


def test_plots_drawn_while_the_best_model_is_logged_are_listed_after_it():
    drawn_meanwhile = {**AUTOML, "best_model.end": 10.1, "plots.end": 10.4}
    steps = startup.timeline(drawn_meanwhile, last_call=False)
    labels = [label for label, _, _ in steps]
    assert labels.index("best model logged and registered") == labels.index("plots logged") - 1
    took = {label: took for label, took, _ in steps}
    assert took["best model logged and registered"] == pytest.approx(0.8)  # from the flush's end
    assert took["plots logged"] == pytest.approx(0.3)  # the wait for the drawing, and the logging


def test_ratios_are_taken_within_each_round():
    runs = [
        {"round": 1, "contender": "automl", "load": "1.0", "wall": 20.0, "marks": AUTOML},
        {
            "round": 1,
            "contender": "kt-random",
            "load": "1.0",
            "wall": 10.0,
            "marks": _marks(**{"tune.begin": 1}),
        },
        {
            "round": 2,
            "contender": "kt-random",
            "load": "3.0",
            "wall": 5.0,
            "marks": _marks(**{"tune.begin": 1}),
        },
        {"round": 2, "contender": "automl", "load": "3.0", "wall": 15.0, "marks": AUTOML},
    ]
    figures = startup.summary("one", runs)
    assert figures["automl"]["ratio_to_baseline"] == [2.0, 3.0]
    assert figures["automl"]["warm_ratio_to_baseline_process"] == [0.5, 1.0]
    assert figures["automl"]["first_epoch_after_tune_s"] == [8.4, 8.4]
    assert figures["kt-random"]["ratio_median"] == 1.0


def test_records_of_split_invocations_pool_in_the_report(tmp_path):
    path = tmp_path / "startup.json"
    info = {
        "date": "2026-12-06 10:00 UTC",
        "command": "c",
        "machine": "load average 1.00 1.0",
        "versions": "v",
    }
    for wall in (20.0, 15.0):
        runs = [
            {"round": 1, "contender": "automl", "load": "1.5", "wall": wall, "marks": AUTOML},
            {"round": 1, "contender": "kt-random", "load": "2.5", "wall": 10.0, "marks": {}},
        ]
        startup.append_results(path, info, job="one", runs=runs, figures={})
    data = json.loads(path.read_text(encoding="utf-8"))
    assert len(data["records"]) == 2
    records = [report.Record("startup", r, path, i) for i, r in enumerate(data["records"])]
    rows = {row[0]: row for row in report._startup_rows(records)}
    one = rows["Fixed costs: a one-trial, one-epoch digits job, whole process"]
    assert "1.75× (1.50–2.00, 2 rounds)" in one[1]
    assert one[3].endswith("load 1.5-2.5")


def test_every_step_the_child_times_is_still_where_the_library_keeps_it():
    # A step that moved would stop the child at its import, in the middle of a measurement.
    for module_name, names in startup.WRAPPED.items():
        module = importlib.import_module(module_name)
        for owner, attribute, _ in names:
            assert callable(getattr(getattr(module, owner) if owner else module, attribute, None)), (
                f"{module_name}.{owner}.{attribute}"
            )
    module_name, owner, methods = startup.TRACKER
    tracker = getattr(importlib.import_module(module_name), owner)
    assert all(callable(getattr(tracker, method, None)) for method in methods)
