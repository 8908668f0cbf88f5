"""benchmarks/report.py: the plots and tables of benchmarks/README.md, made from benchmarks/results/*.json."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import report

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def results(tmp_path):
    """A copy of the committed results, to break one file at a time."""
    directory = tmp_path / "results"
    shutil.copytree(report.RESULTS_DIR, directory)
    return directory


def _readme_with_markers(path, names):
    path.write_text(
        "".join(f"# {name}\n<!-- report:{name} -->\nSTALE TABLE\n<!-- /report -->\n" for name in names)
    )
    return path


def test_the_report_on_the_committed_results_writes_the_plots_and_the_tables(tmp_path):
    readme = _readme_with_markers(tmp_path / "README.md", ["headline", "search", "hypermodel", "plots"])
    plots = tmp_path / "plots"

    assert report.main(["--plots", str(plots), "--readme", str(readme)]) == 0

    written = sorted(path.name for path in plots.iterdir())
    assert written == ["scale.png", "search_efficiency.png"]
    for name in written:
        content = (plots / name).read_bytes()
        assert content.startswith(_PNG_SIGNATURE), name
        assert 10_000 < len(content) < 150_000, (name, len(content))
    text = readme.read_text()
    assert "STALE TABLE" not in text
    blocks = report.blocks(text)
    assert blocks == report.tables(report.load_results(report.RESULTS_DIR))
    for label in (
        "two-process floor",
        "plain Ray Tune",
        "kt-hyperband",
        "optuna",
        "1,000",
        "50 trials",
        "MLflow",
    ):
        assert label in blocks["headline"], label
    assert blocks["search"].startswith("| tuner |")


def test_the_committed_plots_are_small_pngs():
    for name in ("search_efficiency.png", "scale.png"):
        content = (report.PLOTS_DIR / name).read_bytes()
        assert content.startswith(_PNG_SIGNATURE) and 10_000 < len(content) <= 100_000, (name, len(content))


def test_the_readme_tables_are_those_the_committed_results_give():
    # Fails when results/*.json changed and `python -m benchmarks.report` was not re-run.
    committed = report.blocks(report.README.read_text(encoding="utf-8"))
    assert committed == report.tables(report.load_results(report.RESULTS_DIR))


def test_check_reports_a_stale_readme_without_writing(tmp_path, capsys):
    readme = _readme_with_markers(tmp_path / "README.md", ["headline", "search", "hypermodel", "plots"])
    before = readme.read_text()

    assert report.main(["--check", "--readme", str(readme), "--plots", str(tmp_path / "plots")]) == 1
    assert "differ" in capsys.readouterr().out
    assert readme.read_text() == before and not (tmp_path / "plots").exists()


def test_a_marker_without_a_table_is_named():
    with pytest.raises(report.ResultsError, match="report:nosuch names no table"):
        report.fill("<!-- report:nosuch -->\n<!-- /report -->\n", {})


def _edit(results, name, change):
    path = results / name
    content = json.loads(path.read_text())
    change(content)
    path.write_text(json.dumps(content))


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "overhead.json",
            lambda c: c["records"][0]["variants"]["d2"].update(wall_s="fast"),
            r"overhead\.json: records\[0\]\.variants\.d2\.wall_s: expected a number, got 'fast'",
        ),
        (
            "memory.json",
            lambda c: c["records"][0].pop("date"),
            r"memory\.json: records\[0\]\.date: missing \(expected a string\)",
        ),
        (
            "search_efficiency_log.json",
            lambda c: c["records"][1]["per_seed"][3].update(best=None),
            r"search_efficiency_log\.json: records\[1\]\.per_seed\[3\]\.best: expected a number, got None",
        ),
        (
            "search_efficiency.json",
            lambda c: c["records"][0]["traces"][0].update(epochs=[[1.0]]),
            r"search_efficiency\.json: records\[0\]\.traces\[0\]\.epochs: expected a list of \[seconds, value\]",
        ),
        (
            "scale_log.json",
            lambda c: c["records"][0]["rows"][0].pop(),
            r"scale_log\.json: records\[0\]\.rows\[0\]: expected 9 cells",
        ),
        (
            "logging_cost.json",
            lambda c: c.update(benchmark="logging"),
            r"logging_cost\.json: benchmark: expected one of .*, got 'logging'",
        ),
    ],
)
def test_a_malformed_results_file_is_named_with_its_field(results, name, change, message):
    _edit(results, name, change)
    with pytest.raises(report.ResultsError, match=message):
        report.load_results(results)


def test_a_file_that_is_not_json_is_named(results, tmp_path, capsys):
    (results / "memory.json").write_text("{not json")
    readme = _readme_with_markers(tmp_path / "README.md", ["headline", "search", "hypermodel", "plots"])

    assert report.main(["--results", str(results), "--readme", str(readme), "--plots", str(tmp_path)]) == 2
    assert "memory.json: not JSON" in capsys.readouterr().err


def test_a_benchmark_without_results_is_named(results):
    (results / "memory.json").unlink()
    with pytest.raises(report.ResultsError, match="no results for memory"):
        report.load_results(results)


def _hypermodel_run(results):
    """A run of automl-hypermodel and kt-hyperband, 2 seeds, 60 s, newer than every other record."""
    traces = [
        {"tuner": "kt-hyperband", "seed": 0, "fits": 5, "epochs": [[2.0, 0.5], [9.0, 0.7]]},
        {
            "tuner": "automl-hypermodel",
            "seed": 0,
            "fits": 9,
            "epochs": [[20.0, 0.6], [50.0, 0.8], [61.0, 0.9]],
        },
        {"tuner": "kt-hyperband", "seed": 1, "fits": 7, "epochs": [[3.0, 0.65]]},
        {"tuner": "automl-hypermodel", "seed": 1, "fits": 11, "epochs": []},
    ]
    record = {
        "source": "a run of benchmarks.search_efficiency with --json",
        "date": "2099-01-01 00:00 UTC",
        "command": "python -m benchmarks.search_efficiency --tuners automl-hypermodel,kt-hyperband",
        "machine": "2 cores (nproc); load average 3.10 2.00 1.00",
        "versions": "Python 3",
        "data": "synthetic",
        "budget_s": 60.0,
        "traces": traces,
    }
    (results / "hypermodel.json").write_text(
        json.dumps({"benchmark": "search_efficiency", "records": [record]})
    )


def test_the_hypermodel_table_compares_the_same_code_under_both_tools(results):
    before = report.tables(report.load_results(results))
    _hypermodel_run(results)
    loaded = report.load_results(results)
    table = report.hypermodel_table(loaded["search_efficiency"])
    rows = table.splitlines()
    assert rows[0].startswith("| tuner | problem, budget | seeds | fits (median) |")
    source = "results/hypermodel.json, 2099-01-01, load 3.10"
    # Seed 1 of automl-hypermodel scored nothing in its 60 s: 0 in the median, no first score;
    # seed 0's 0.9 came after the budget.
    assert (
        rows[2]
        == f"| automl-hypermodel | synthetic, 60 s | 2 | 10 | 40.0 (0.0–80.0) | 20.0 (20.0–20.0), 1/2 | {source} |"
    )
    assert (
        rows[3]
        == f"| kt-hyperband | synthetic, 60 s | 2 | 6 | 67.5 (65.0–70.0) | 2.5 (2.0–3.0), 2/2 | {source} |"
    )
    assert len(rows) == 4
    # A run without automl on its Space leaves the search table, headline and plot as they were.
    after = report.tables(loaded)
    assert {k: v for k, v in after.items() if k != "hypermodel"} == {
        k: v for k, v in before.items() if k != "hypermodel"
    }
