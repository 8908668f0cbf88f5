"""benchmarks.backbone at its smallest: both parts run, print their tables, and write a record the report reads.

Timings are never asserted here; `benchmarks/LOG.md` holds measured figures.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

from benchmarks import backbone, memory, report

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def _header(columns) -> str:
    return "| " + " | ".join(columns) + " |"


def test_backbone_smoke(ray_local, capsys, tmp_path):
    assert backbone.main(["--smoke", "--json", str(tmp_path / "backbone.json")]) == 0
    out = capsys.readouterr().out
    assert _header(backbone.EPOCH_HEADER) in out and _header(memory.TABLE_HEADER) in out
    assert "- goal automl ≤ 1.10× hand per epoch (steady epochs): measured " in out

    (record,) = json.loads((tmp_path / "backbone.json").read_text())["records"]
    epoch = record["epoch"]
    (only,) = epoch["rounds"]
    assert only["order"] == ["automl", "hand"]
    for contender in backbone.CONTENDERS:  # each epoch of both phases timed, none twice
        times = only[contender]["epochs_s"]
        assert len(times) == epoch["epochs"] and all(t > 0 for t in times)
    # One round: one ratio each; phase 1 of one epoch has no steady epoch to compare.
    assert {k: len(v) for k, v in epoch["ratios"].items()} == {
        "steady": 1,
        "steady_phase2": 1,
        "first": 1,
        "switch": 1,
        "last": 1,
        "total": 1,
    }
    assert all(math.isfinite(v) and v > 0 for values in epoch["ratios"].values() for v in values)

    (policy,) = record["memory"]["policies"]  # the smoke run: recycling on, as by default
    assert policy["recycling"].startswith("on") and policy["trials"] == len(policy["rss_mib"]) == 2
    assert all(
        rss > 100 for rss in policy["rss_mib"]
    )  # a worker that imported TensorFlow and built a backbone

    # The report reads the record in place of the committed one; one policy only: no memory row.
    results = tmp_path / "results"
    shutil.copytree(report.RESULTS_DIR, results)
    for old in results.glob("backbone*.json"):
        old.unlink()
    shutil.copyfile(tmp_path / "backbone.json", results / "backbone.json")
    rows = report.headline(report.load_results(results)).splitlines()
    (row,) = [line for line in rows if "Backbone fine-tuning" in line]
    assert f"**{epoch['ratios']['steady'][0]:.2f}× (1 round)** a hand-written two-phase fit" in row
    assert "memory growth of a reused worker over" not in "\n".join(rows)
