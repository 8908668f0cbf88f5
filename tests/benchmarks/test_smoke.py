"""The benchmark scripts keep working: each one's --smoke mode runs and prints its table.

Timings are never asserted here; `benchmarks/LOG.md` holds measured figures.
"""

from __future__ import annotations

import shutil

import pytest

from benchmarks import (
    driver_kills,
    logging_cost,
    memory,
    overhead,
    report,
    scale,
    search_efficiency,
    streaming,
    trainer_epoch,
)

pytestmark = [pytest.mark.slow]


def _table_header(columns) -> str:
    return "| " + " | ".join(columns) + " |"


def _report_reads(tmp_path, name):
    """The report reads and plots ``name`` (a --json output in tmp_path) in place of the committed one."""
    results = tmp_path / "results"
    shutil.copytree(report.RESULTS_DIR, results)
    shutil.copyfile(tmp_path / name, results / name)
    loaded = report.load_results(results)
    assert [p.name for p in report.plots(loaded, tmp_path / "plots")] == [
        "search_efficiency.png",
        "scale.png",
    ]
    return next(r for records in loaded.values() for r in records if r.file.name == name)


def test_trainer_epoch_smoke(capsys):
    assert trainer_epoch.main(["--smoke"]) == 0
    assert _table_header(trainer_epoch.TABLE_HEADER) in capsys.readouterr().out


@pytest.mark.ray
def test_overhead_smoke(ray_local, capsys):
    # (d1) is (d2) with one trial at a time: the same code, so the smoke run skips it.
    assert overhead.main(["--smoke", "--variants", "a,b,b32,c,d2", "--timeline"]) == 0
    out = capsys.readouterr().out
    assert _table_header(overhead.TABLE_HEADER) in out
    for variant in ("(a)", "(b)", "(b32)", "(c)", "(d2)"):
        assert f"| {variant} " in out
    assert "- (d2) / (b32), the orchestration alone" in out
    # --timeline: where each variant's time went besides fitting; (a) fits its 2 configs in 1 process.
    phases = {
        line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in out.splitlines() if line.startswith("| (")
    }
    assert phases["(a)"][0] == "1" and phases["(a)"][2].endswith("× 1")
    assert phases["(b)"][0] == "2" and phases["(d2)"][0] == "2"
    assert all(float(phases[v][1]) > 0 for v in ("(a)", "(b)", "(d2)"))  # seconds to the first fit


@pytest.mark.ray
def test_scale_smoke(ray_local, capsys, tmp_path):
    assert scale.main(["--smoke", "--json", str(tmp_path / "scale.json")]) == 0
    assert _table_header(scale.TABLE_HEADER) in capsys.readouterr().out
    record = _report_reads(tmp_path, "scale.json")
    assert len(record.data["trial_starts_s"]["10"]) == 10  # every trial's start


@pytest.mark.ray
def test_logging_cost_smoke(ray_local, capsys):
    assert logging_cost.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert _table_header(logging_cost.TABLE_HEADER) in out
    assert "| on | 1 |" in out and "| off | 1 |" in out


def test_memory_in_process_smoke(capsys):
    assert memory.main(["--smoke", "--in-process"]) == 0
    assert "| trial | RSS (MiB) |" in capsys.readouterr().out


@pytest.mark.ray
def test_memory_smoke(ray_local, capsys):
    assert memory.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert _table_header(memory.TABLE_HEADER) in out
    assert "| off | 2 | 1 |" in out  # one reused worker ran both trials


@pytest.mark.ray
def test_driver_kills_smoke(capsys):
    assert driver_kills.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert _table_header(driver_kills.TABLE_HEADER) in out
    assert "1 kills, 0 with a trial lost, duplicated or left RUNNING" in out


@pytest.mark.ray
def test_search_efficiency_smoke(ray_local, capsys, tmp_path):
    # Each tuner runs in its own process, all four at once; the automl ones join the
    # session's Ray rather than start one each. Their rows may be empty: a 3 s budget.
    # automl-hypermodel runs the kt-* tuners' KerasTuner code: a child that fails
    # (a hypermodel automl refuses before Ray starts, or a trial error) fails here.
    import ray

    address = ray.get_runtime_context().gcs_address
    json_path = str(tmp_path / "search_efficiency.json")
    assert search_efficiency.main(["--smoke", "--jobs", "4", "--address", address, "--json", json_path]) == 0
    out = capsys.readouterr().out
    assert _table_header(search_efficiency.TABLE_HEADER) in out
    for tuner in ("automl", "automl-hypermodel", "kt-hyperband", "optuna"):
        assert f"| {tuner} | " in out
    assert "Goal (time to target" in out
    record = _report_reads(tmp_path, "search_efficiency.json")
    assert sorted((t["tuner"], t["seed"]) for t in record.data["traces"]) == [
        ("automl", 0),
        ("automl-hypermodel", 0),
        ("kt-hyperband", 0),
        ("optuna", 0),
    ]


def test_streaming_smoke(capsys, tmp_path):
    assert streaming.main(["--smoke", "--json", str(tmp_path / "streaming.json")]) == 0
    out = capsys.readouterr().out
    assert "| data | on disk MiB | files/records |" in out and "| files, disk cache |" in out
    assert _report_reads(tmp_path, "streaming.json").benchmark == "streaming"
