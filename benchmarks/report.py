"""The benchmark report: plots and Markdown tables made from the stored results.

Reads every ``benchmarks/results/*.json`` (written by a benchmark's ``--json``
option, or transcribed from ``benchmarks/LOG.md``), writes
``benchmarks/plots/*.png`` and puts the tables into ``benchmarks/README.md``
between ``<!-- report:NAME -->`` and ``<!-- /report -->`` markers, so the page
cannot drift from the data.

    python -m benchmarks.report             # plots and README tables
    python -m benchmarks.report --check     # exit 1 if README's tables differ from the JSON's; writes nothing

Every results file is ``{"benchmark": NAME, "records": [...]}``; a record is
one run (or a set of runs pooled), with ``source``, ``date``, ``command``,
``machine`` and ``versions`` as the run printed them, then its figures.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import markdown_table

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
PLOTS_DIR = HERE / "plots"
README = HERE / "README.md"

BENCHMARKS = (
    "overhead",
    "search_efficiency",
    "scale",
    "memory",
    "logging_cost",
    "streaming",
    "startup",
    "backbone",
    "tracking_load",
)
HEADER_FIELDS = ("source", "date", "command", "machine", "versions")
_MARKER = re.compile(r"(<!-- report:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /report -->)", re.DOTALL)
_LOAD = re.compile(r"load average ([0-9.]+(?:[-–][0-9.]+)?)")  # the first figure: at the run's start
_SCALE_WINDOW = 50  # trials per point of the time-per-trial curve
_SEARCH_HEADLINE_RECORDS = 2  # the newest; the search table lists them all
_TUNER_ORDER = ("automl", "automl-hypermodel", "kt-hyperband", "kt-random", "kt-bayesian", "optuna")
_HYPERMODEL = "automl-hypermodel"  # automl.tune(hypermodel=...) on the kt-* tuners' KerasTuner code


class ResultsError(ValueError):
    """A results file that cannot be read: names the file and the field."""


# Reading and checking the results ---------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One record of a results file, with where it came from for error messages."""

    benchmark: str
    data: Mapping[str, Any]
    file: Path
    index: int

    def where(self, field: str) -> str:
        return f"{self.file.name}: records[{self.index}].{field}"

    def get(self, field: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        """The field's value, checked to be of ``kind`` (a dotted ``field`` reads nested objects)."""
        value: Any = self.data
        for part in field.split("."):
            if not isinstance(value, Mapping) or part not in value:
                if optional:
                    return None
                raise ResultsError(f"{self.where(field)}: missing (expected {_kind_name(kind)})")
            value = value[part]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind):
            raise ResultsError(f"{self.where(field)}: expected {_kind_name(kind)}, got {value!r}")
        return value

    def number(self, field: str) -> float:
        return float(self.get(field, (int, float)))

    @property
    def date(self) -> str:
        return str(self.data["date"])


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a number", float: "a number", str: "a string", list: "a list", dict: "an object"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in _kinds(kind)))


def _items(
    record: Record, field: str, keys: Mapping[str, type | tuple[type, ...]]
) -> list[Mapping[str, Any]]:
    """A list of objects, each checked to hold ``keys`` of their kinds."""
    items = record.get(field, list)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ResultsError(f"{record.where(f'{field}[{i}]')}: expected an object, got {item!r}")
        for key, kind in keys.items():
            value = item.get(key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ResultsError(
                    f"{record.where(f'{field}[{i}].{key}')}: expected {_kind_name(kind)}, got {value!r}"
                )
    return items


def _check(record: Record) -> None:
    """Reads every field the report uses, so a malformed record fails here, by name."""
    for field in HEADER_FIELDS:
        record.get(field, str)
    if record.benchmark == "overhead":
        variants = record.get("variants", dict)
        for name in variants:
            record.number(f"variants.{name}.wall_s")
            record.number(f"variants.{name}.wall_incl_ray_init_s")
            record.get(f"variants.{name}.label", str)
        record.number("variants.d2.wall_s")
    elif record.benchmark == "search_efficiency":
        record.get("data", str)
        record.number("budget_s")
        if "traces" in record.data:
            for i, trace in enumerate(_items(record, "traces", {"tuner": str, "seed": int, "fits": int})):
                epochs = trace.get("epochs")
                if not isinstance(epochs, list) or not all(
                    isinstance(e, list) and len(e) == 2 and all(isinstance(x, (int, float)) for x in e)
                    for e in epochs
                ):
                    raise ResultsError(
                        f"{record.where(f'traces[{i}].epochs')}: expected a list of [seconds, value] pairs"
                    )
        else:
            _items(record, "per_seed", {"tuner": str, "seed": int, "best": (int, float), "fits": int})
    elif record.benchmark == "scale":
        columns = record.get("columns", list)
        for name in ("trials", "ms / trial"):
            if name not in columns:
                raise ResultsError(f"{record.where('columns')}: no {name!r} column in {columns!r}")
        for i, row in enumerate(record.get("rows", list)):
            if not isinstance(row, list) or len(row) != len(columns):
                raise ResultsError(
                    f"{record.where(f'rows[{i}]')}: expected {len(columns)} cells, got {row!r}"
                )
            for name in ("trials", "ms / trial"):
                cell = row[columns.index(name)]
                try:
                    float(cell)
                except (TypeError, ValueError):
                    raise ResultsError(
                        f"{record.where(f'rows[{i}]')}: {name!r}: expected a number, got {cell!r}"
                    ) from None
        starts = record.get("trial_starts_s", dict, optional=True) or {}
        for count, values in starts.items():
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) for v in values):
                raise ResultsError(f"{record.where(f'trial_starts_s.{count}')}: expected a list of seconds")
    elif record.benchmark == "memory":
        record.number("trials")
        keys = {"recycling": str, "workers": int, "growth_pct": (int, float), "wall_s": (int, float)}
        _items(record, "policies", keys)
    elif record.benchmark == "streaming":
        # Its figures are in benchmarks/LOG.md, section 10; the report only checks the record.
        if "driver" in record.data:
            _items(record, "driver", {"kind": str, "size": str, "peak_rss_mb": (int, float)})
        if "throughput" in record.data:
            _items(record, "throughput", {"variant": str, "epoch_s": list})
        if "worker" in record.data:
            record.get("worker.states", list)
    elif record.benchmark == "startup":
        record.get("job", str)
        _items(record, "runs", {"round": int, "contender": str, "load": str, "wall": (int, float)})
    elif record.benchmark == "backbone":
        record.get("backbone", str)
        if "epoch" in record.data:
            for field in ("image_size", "threads", "epoch.head_epochs"):
                record.number(field)
            for i, entry in enumerate(record.get("epoch.rounds", list)):
                for contender in ("automl", "hand"):
                    times = entry.get(contender, {}).get("epochs_s") if isinstance(entry, Mapping) else None
                    if (
                        not isinstance(times, list)
                        or not times
                        or not all(isinstance(t, (int, float)) for t in times)
                    ):
                        raise ResultsError(
                            f"{record.where(f'epoch.rounds[{i}].{contender}.epochs_s')}: expected a list of seconds"
                        )
            steady = record.get("epoch.ratios.steady", list)
            if not steady or not all(isinstance(v, (int, float)) for v in steady):
                raise ResultsError(
                    f"{record.where('epoch.ratios.steady')}: expected a non-empty list of ratios"
                )
        if "memory" in record.data:
            record.number("memory.trials")
            keys = {"recycling": str, "workers": int, "growth_pct": (int, float), "wall_s": (int, float)}
            _items(record, "memory.policies", keys)
    elif record.benchmark == "tracking_load":
        record.get("store", str)
        record.get("specs", list)
        record.get("problems", list)
        for field in ("writes_per_s", "write_p50_ms", "write_p99_ms", "queue_peak", "idle_call_ms", "wall_s"):
            record.number(field)
    elif record.benchmark == "logging_cost":
        for side in ("on", "off"):
            values = record.get(f"wall_s.{side}", list)
            if not values or not all(isinstance(v, (int, float)) for v in values):
                raise ResultsError(f"{record.where(f'wall_s.{side}')}: expected a non-empty list of seconds")


def load_results(directory: Path) -> dict[str, list[Record]]:
    """Every record of every ``*.json`` in ``directory``, by benchmark, newest first.

    Raises:
        ResultsError: a file is not JSON or a field is missing or of the wrong kind;
            the message names the file and the field.
    """
    files = sorted(directory.glob("*.json"))
    if not files:
        raise ResultsError(f"{directory}: no *.json results files")
    by_benchmark: dict[str, list[Record]] = {}
    for path in files:
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ResultsError(f"{path.name}: not JSON ({exc})") from None
        if not isinstance(content, dict):
            raise ResultsError(
                f"{path.name}: expected an object with 'benchmark' and 'records', got {content!r:.80}"
            )
        benchmark = content.get("benchmark")
        if benchmark not in BENCHMARKS:
            raise ResultsError(
                f"{path.name}: benchmark: expected one of {', '.join(BENCHMARKS)}, got {benchmark!r}"
            )
        records = content.get("records")
        if not isinstance(records, list) or not records:
            raise ResultsError(f"{path.name}: records: expected a non-empty list, got {records!r:.80}")
        for index, data in enumerate(records):
            if not isinstance(data, dict):
                raise ResultsError(f"{path.name}: records[{index}]: expected an object, got {data!r:.80}")
            record = Record(benchmark, data, path, index)
            _check(record)
            by_benchmark.setdefault(benchmark, []).append(record)
    missing = [name for name in BENCHMARKS if name not in by_benchmark]
    if missing:
        raise ResultsError(f"{directory}: no results for {', '.join(missing)}")
    for records in by_benchmark.values():
        records.sort(key=lambda record: record.date[:16], reverse=True)
    return by_benchmark


# Figures ---------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{value * 100:.1f}"


def _label(record: Record) -> str:
    """A record's short name: its ``label``, else its file (the raw results of a ``--json`` run)."""
    return record.get("label", str, optional=True) or f"results/{record.file.name}"


def _from(record: Record) -> str:
    """Where a figure comes from: the record's short name, day and load average at its start."""
    load = _LOAD.search(record.get("machine", str))
    return f"{_label(record)}, {record.date[:10]}" + (f", load {load[1]}" if load else "")


def _best_per_seed(record: Record) -> dict[str, list[tuple[float, int]]]:
    """Per tuner: (best value within the budget, fits) per seed, in the record's order."""
    budget = record.number("budget_s")
    out: dict[str, list[tuple[float, int]]] = {}
    if "traces" in record.data:
        for trace in record.data["traces"]:
            values = [value for when, value in trace["epochs"] if when <= budget]
            out.setdefault(trace["tuner"], []).append((max(values) if values else 0.0, trace["fits"]))
    else:
        for row in record.data["per_seed"]:
            out.setdefault(row["tuner"], []).append((float(row["best"]), row["fits"]))
    return dict(sorted(out.items(), key=lambda item: _tuner_rank(item[0])))


def _tuners(record: Record) -> set[str]:
    rows = record.data["traces"] if "traces" in record.data else record.data["per_seed"]
    return {row["tuner"] for row in rows}


def _search_records(records: Sequence[Record]) -> list[Record]:
    """The search runs of automl on its `Space` (those without one compare only KerasTuner code)."""
    return [record for record in records if "automl" in _tuners(record)]


def _first_results(record: Record) -> dict[str, list[float]]:
    """Per tuner: seconds from each run's start to its first epoch's score, for runs that scored in budget."""
    budget = record.number("budget_s")
    out: dict[str, list[float]] = {}
    for trace in record.data.get("traces", []):
        times = [when for when, _ in trace["epochs"] if when <= budget]
        if times:
            out.setdefault(trace["tuner"], []).append(min(times))
    return out


def _tuner_rank(tuner: str) -> tuple[int, str]:
    return (_TUNER_ORDER.index(tuner) if tuner in _TUNER_ORDER else len(_TUNER_ORDER), tuner)


def _spread(values: Sequence[float]) -> str:
    return f"{_pct(statistics.median(values))} ({_pct(min(values))}–{_pct(max(values))})"


def _scale_ms(record: Record, trials: str) -> float | None:
    columns = record.data["columns"]
    for row in record.data["rows"]:
        if row[columns.index("trials")] == trials:
            return float(row[columns.index("ms / trial")])
    return None


def _overhead_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    rows = []
    floor = next((r for r in records if "b" in r.data["variants"]), None)
    if floor is not None:
        d2, b = floor.number("variants.d2.wall_s"), floor.number("variants.b.wall_s")
        d2_init = floor.number("variants.d2.wall_incl_ray_init_s")
        rows.append(
            (
                "Orchestration overhead: 12 digits MLPs, 2 at a time",
                f"automl {d2:.1f} s = **{d2 / b:.2f}×** the two-process floor ({d2_init / b:.2f}× counting ray.init)",
                f"2 plain Keras processes {b:.1f} s",
                _from(floor),
            )
        )
    tune = next((r for r in records if "c" in r.data["variants"]), None)
    if tune is not None:
        d2, c = tune.number("variants.d2.wall_s"), tune.number("variants.c.wall_s")
        d2_init, c_init = (tune.number(f"variants.{v}.wall_incl_ray_init_s") for v in ("d2", "c"))
        rows.append(
            (
                "… against hand-written Ray Tune",
                f"automl {d2:.1f} s = **{d2 / c:.2f}×** plain Ray Tune ({d2_init / c_init:.2f}× both counting ray.init)",
                f"Ray Tune, default settings {c:.1f} s",
                _from(tune),
            )
        )
    return rows


def _startup_pairs(runs: Sequence[Mapping[str, Any]], baseline: str) -> list[tuple[Mapping[str, Any], float]]:
    """Each automl run with its round's ``baseline`` process time (the ratios are taken within a round)."""
    rounds: dict[Any, dict[str, Mapping[str, Any]]] = {}
    for run in runs:
        rounds.setdefault((run.get("invocation", 0), run["round"]), {})[run["contender"]] = run
    return [
        (pair["automl"], pair[baseline]["wall"])
        for pair in rounds.values()
        if {"automl", baseline} <= set(pair)
    ]


def _median_spread(values: Sequence[float], unit: str) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.2f}{unit} (1 round)"
    return f"{middle:.2f}{unit} ({min(values):.2f}–{max(values):.2f}, {len(values)} rounds)"


def _loads(records: Sequence[Record], runs: Sequence[Mapping[str, Any]]) -> str:
    loads = sorted(float(run["load"]) for run in runs)
    return f"{_label(records[0])}, {records[0].date[:10]}, load {loads[0]:.1f}-{loads[-1]:.1f}"


def _startup_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    """Whole-process times of the smallest jobs against their baselines, pooled over a job's records."""
    rows = []
    for job, baseline in (("one", "kt-random"), ("12", "plain2"), ("48", "plain2")):
        mine = [r for r in records if r.get("job", str) == job]
        runs = [{**run, "invocation": i} for i, r in enumerate(mine) for run in r.data["runs"]]
        pairs = _startup_pairs(runs, baseline)
        if not pairs:
            continue
        ratios = [automl["wall"] / base for automl, base in pairs]
        bases = [base for _, base in pairs]
        if job == "one":
            firsts = [a["marks"]["first_epoch"] - a["marks"]["tune.begin"] for a, _ in pairs]
            warm = [(a["marks"]["warm.tune.end"] - a["marks"]["warm.tune.begin"]) / b for a, b in pairs]
            rows += [
                (
                    "Fixed costs: a one-trial, one-epoch digits job, whole process",
                    f"automl **{_median_spread(ratios, '×')}** KerasTuner's",
                    f"KerasTuner RandomSearch, max_trials=1: {statistics.median(bases):.1f} s",
                    _loads(mine, runs),
                ),
                (
                    "… a second `automl.tune` in the same process",
                    f"**{_median_spread(warm, '×')}** KerasTuner's whole process",
                    "the same KerasTuner processes",
                    _loads(mine, runs),
                ),
                (
                    "… first epoch after `tune()` is called",
                    f"**{_median_spread(firsts, ' s')}**",
                    "–",
                    _loads(mine, runs),
                ),
            ]
        else:
            rows.append(
                (
                    f"Fixed costs: {job} digits MLPs, 2 at a time, whole process (Ray start included)",
                    f"automl **{_median_spread(ratios, '×')}** the two-process floor",
                    f"2 plain Keras processes {statistics.median(bases):.1f} s",
                    _loads(mine, runs),
                )
            )
    return rows


def _search_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    rows = []
    for record in _search_records(records)[:_SEARCH_HEADLINE_RECORDS]:
        bests = _best_per_seed(record)
        seeds = len(bests["automl"])
        others = "; ".join(
            f"{tuner} {_spread([b for b, _ in values])}"
            for tuner, values in bests.items()
            if tuner != "automl"
        )
        rows.append(
            (
                f"Search efficiency: best val_accuracy % at {record.number('budget_s'):.0f} s, "
                f"{record.get('data', str)} problem, median (min–max) of {seeds} seeds",
                f"automl **{_spread([b for b, _ in bests['automl']])}**",
                others,
                _from(record),
            )
        )
    return rows


def _scale_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    measured = [(r, ms) for r in records if (ms := _scale_ms(r, "1000")) is not None]
    if not measured:
        return []
    newest, ms = measured[0]
    values = [value for _, value in measured]
    return [
        (
            "Orchestration cost per trial at 1,000 trivial trials (TPE)",
            f"**{ms:.1f} ms** per trial",
            f"{min(values):.1f}–{max(values):.1f} ms over the {len(values)} recorded runs",
            _from(newest),
        )
    ]


def _memory_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    record = records[0]
    policies = {p["recycling"].split(" ")[0]: p for p in record.data["policies"]}
    on, off = policies.get("on"), policies.get("off")
    if on is None or off is None:
        return []
    return [
        (
            f"Memory growth of a reused worker over {record.number('trials'):.0f} trials",
            f"**+{on['growth_pct']:.1f}%** with worker recycling (the default; {on['workers']} workers)",
            f"+{off['growth_pct']:.1f}% with recycling off (1 worker)",
            _from(record),
        )
    ]


def _logging_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    record = records[0]
    on = statistics.median(record.data["wall_s"]["on"])
    off = statistics.median(record.data["wall_s"]["off"])
    return [
        (
            "MLflow logging cost (the overhead run, writes on vs discarded)",
            f"**{(on / off - 1) * 100:+.1f}%** wall time (medians of {len(record.data['wall_s']['on'])} runs each)",
            f"run-to-run noise here ±{record.number('noise_pct'):.0f}%"
            if "noise_pct" in record.data
            else "writes discarded",
            _from(record),
        )
    ]


def _backbone_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    """The newest epoch-time ratio, and the newest worker-memory figures of each recycling policy."""
    rows = []
    timed = next((r for r in records if "epoch" in r.data), None)
    if timed is not None:
        epoch = timed.data["epoch"]
        steady = epoch["ratios"]["steady"]
        from benchmarks.backbone import groups  # imports nothing heavy

        head = int(epoch["head_epochs"])
        hand = [t for entry in epoch["rounds"] for t in groups(entry["hand"]["epochs_s"], head)["steady_s"]]
        rows.append(
            (
                f"Backbone fine-tuning: {timed.get('backbone', str)} on {timed.number('image_size'):.0f}×"
                f"{timed.number('image_size'):.0f} images, time per steady epoch (not the first, "
                "phase 2's first or the last)",
                f"**{_median_spread(steady, '×')}** a hand-written two-phase fit",
                f"the same model by hand, {timed.number('threads'):.0f} TF thread(s): "
                f"{statistics.median(hand):.2f} s per steady epoch",
                _from(timed),
            )
        )
    policies: dict[str, tuple[Mapping[str, Any], Record]] = {}
    for record in records:
        for policy in record.data.get("memory", {}).get("policies", []):
            policies.setdefault(policy["recycling"].split(" ")[0], (policy, record))
    if {"on", "off"} <= set(policies):
        (on, on_record), (off, off_record) = policies["on"], policies["off"]
        sources = dict.fromkeys(_from(r) for r in (on_record, off_record))
        rows.append(
            (
                f"… memory growth of a reused worker over {on['trials']} backbone trials",
                f"**{on['growth_pct']:+.1f}%** with worker recycling (the default; {on['workers']} workers)",
                f"{off['growth_pct']:+.1f}% with recycling off ({off['workers']} worker)",
                "; ".join(sources),
            )
        )
    return rows


_STORE_LABELS = {
    "postgres": "the team server (PostgreSQL, basic auth)",
    "postgres-noauth": "PostgreSQL without auth",
    "sqlite-server": "a server on sqlite",
    "sqlite": "a sqlite file",
}


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _load_rows(records: Sequence[Record]) -> list[tuple[str, str, str, str]]:
    """The newest record of each store: the drivers' write rate and latency, and one call's cost alone."""
    newest: dict[tuple[str, bool], Record] = {}
    for record in records:
        newest.setdefault((record.data["store"], bool(record.data.get("auth_cache_s"))), record)
    rows = []
    for (store, cached), record in newest.items():
        specs = record.data["specs"]
        short = [s for s in specs if s["kind"] == "short"]
        keras = [s for s in specs if s["kind"] == "keras"]
        studies = f"{len(short)} studies × {short[0]['trials']} short trials" if short else ""
        if keras:
            studies += f"{' + ' if studies else ''}{len(keras)} × {keras[0]['trials']} Keras trials"
        problems = record.data["problems"]
        rows.append(
            (
                f"Concurrent tracking load on {_STORE_LABELS.get(store, store)}"
                + (f" with MLflow's credential cache ({record.number('auth_cache_s'):.0f} s)" if cached else "")
                + f": {studies} at once"
                + (", the server restarted mid-load" if record.data.get("restart") else ""),
                f"**{record.number('writes_per_s'):.1f} writes/s**, a write's p50 "
                f"{_duration(record.number('write_p50_ms'))}, p99 {_duration(record.number('write_p99_ms'))}; "
                + ("store complete" if not problems else f"store check: {problems[0]}")
                + (f" after `automl sync` of {left:.0f} writes" if (left := record.data.get("left_to_sync")) else ""),
                f"one write alone: {record.number('idle_call_ms'):.0f} ms",
                _from(record),
            )
        )
    return rows


def headline(results: Mapping[str, Sequence[Record]]) -> str:
    """The one table a reader needs: each benchmark's newest figures against their reference."""
    makers: dict[str, Callable[[Sequence[Record]], list[tuple[str, str, str, str]]]] = {
        "overhead": _overhead_rows,
        "search_efficiency": _search_rows,
        "scale": _scale_rows,
        "memory": _memory_rows,
        "logging_cost": _logging_rows,
        "startup": _startup_rows,
        "backbone": _backbone_rows,
        "tracking_load": _load_rows,
    }
    rows = [row for name, make in makers.items() for row in make(results[name])]
    return markdown_table(("measure", "automl", "compared with", "from"), rows)


def _tuner_table(records: Sequence[Record], *, first_score: bool = False) -> str:
    """Per tuner and record: seeds, fits and best at budget (median and min–max over seeds).

    With ``first_score``, also the seconds from each run's start to its first scored epoch.
    """
    rows = []
    for record in records:
        firsts = _first_results(record)
        for tuner, values in _best_per_seed(record).items():
            first = firsts.get(tuner, [])
            timing = (
                f"{statistics.median(first):.1f} ({min(first):.1f}–{max(first):.1f}), {len(first)}/{len(values)}"
                if first
                else f"– (0/{len(values)})"
            )
            rows.append(
                (
                    tuner,
                    f"{record.get('data', str)}, {record.number('budget_s'):.0f} s",
                    len(values),
                    f"{statistics.median(f for _, f in values):g}",
                    _spread([b for b, _ in values]),
                    *((timing,) if first_score else ()),
                    _from(record),
                )
            )
    header = (
        "tuner",
        "problem, budget",
        "seeds",
        "fits (median)",
        "best val_accuracy %: median (min–max)",
        *(("first score, s: median (min–max), seeds",) if first_score else ()),
        "from",
    )
    return markdown_table(header, rows)


def search_table(records: Sequence[Record]) -> str:
    """Per tuner and record: seeds, fits and best at budget (median and min–max over seeds)."""
    return _tuner_table(records)


def hypermodel_table(records: Sequence[Record]) -> str:
    """The runs with automl-hypermodel: per tuner, best at budget and time to its first score, over seeds."""
    runs = [record for record in records if _HYPERMODEL in _tuners(record)]
    return _tuner_table(runs, first_score=True) if runs else "No run with automl-hypermodel is stored."


def _raw_search(results: Mapping[str, Sequence[Record]]) -> Record | None:
    return next((r for r in _search_records(results["search_efficiency"]) if "traces" in r.data), None)


def _raw_scale(results: Mapping[str, Sequence[Record]]) -> Record | None:
    return next((r for r in results["scale"] if r.data.get("trial_starts_s")), None)


def plot_sources(results: Mapping[str, Sequence[Record]]) -> str:
    """What each plot was made from: the run's command, date, machine and versions."""
    lines = []
    for plot, record in (("search_efficiency.png", _raw_search(results)), ("scale.png", _raw_scale(results))):
        if record is None:
            continue
        lines.append(
            f"- `plots/{plot}` (`results/{record.file.name}`): `{record.get('command', str)}`, "
            f"{record.date}; {record.get('machine', str)}; {record.get('versions', str)}."
        )
    return "\n".join(lines) if lines else "No raw results to plot."


def tables(results: Mapping[str, Sequence[Record]]) -> dict[str, str]:
    """README's tables by marker name."""
    return {
        "headline": headline(results),
        "search": search_table(_search_records(results["search_efficiency"])),
        "hypermodel": hypermodel_table(results["search_efficiency"]),
        "plots": plot_sources(results),
    }


# Plots -----------------------------------------------------------------------------


def _curves(record: Record, grid: Sequence[float]) -> dict[str, list[list[float]]]:
    """Per tuner, per seed: the best value so far at each grid time (NaN before the first epoch)."""
    out: dict[str, list[list[float]]] = {}
    for trace in record.data["traces"]:
        epochs = sorted((float(t), float(v)) for t, v in trace["epochs"])
        curve, best, i = [], -math.inf, 0
        for t in grid:
            while i < len(epochs) and epochs[i][0] <= t:
                best = max(best, epochs[i][1])
                i += 1
            curve.append(best * 100 if best > -math.inf else math.nan)
        out.setdefault(trace["tuner"], []).append(curve)
    return dict(sorted(out.items(), key=lambda item: _tuner_rank(item[0])))


def _median_and_band(curves: Sequence[Sequence[float]]) -> tuple[list[float], list[float], list[float]]:
    """Median over seeds (a seed with nothing yet counts as lowest), and the min–max band where all have a value."""
    median, low, high = [], [], []
    for column in zip(*curves, strict=True):
        ranked = [-math.inf if math.isnan(v) else v for v in column]
        middle = statistics.median(ranked)
        median.append(math.nan if math.isinf(middle) else middle)
        complete = not any(math.isnan(v) for v in column)
        low.append(min(column) if complete else math.nan)
        high.append(max(column) if complete else math.nan)
    return median, low, high


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_search(record: Record, path: Path) -> Path:
    """Best-so-far val_accuracy against wall time per tuner: median line and min–max band over seeds."""
    plt = _pyplot()
    budget = record.number("budget_s")
    grid = [budget * i / 240 for i in range(241)]
    curves = _curves(record, grid)
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for tuner, per_seed in curves.items():
        median, low, high = _median_and_band(per_seed)
        (line,) = ax.plot(grid, median, label=f"{tuner} ({len(per_seed)} seeds)", linewidth=1.8)
        ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xlabel("wall time since the run's start (s)")
    ax.set_ylabel("best validation accuracy so far (%)")
    lows = [
        v for per_seed in curves.values() for curve in per_seed for v in curve[len(grid) // 4 :] if v == v
    ]
    if lows:
        ax.set_ylim(max(0.0, min(lows) - 2), min(100.0, max(lows) + 2))
    ax.set_xlim(0, budget)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(
        f"{record.get('data', str)} problem, {budget:.0f} s per run: median and min–max over seeds",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _windowed_ms(starts: Sequence[float]) -> tuple[list[int], list[float]]:
    """ms per trial over consecutive windows of trial starts, at each window's last trial number."""
    starts = sorted(starts)
    counts, ms = [], []
    for end in range(_SCALE_WINDOW, len(starts), _SCALE_WINDOW):
        first = end - _SCALE_WINDOW
        counts.append(end + 1)
        ms.append(1000 * (starts[end] - starts[first]) / _SCALE_WINDOW)
    return counts, ms


def plot_scale(records: Sequence[Record], path: Path) -> Path:
    """Orchestration ms per trial against the trial count: each run's average, and the newest raw run's curve."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    raw = next((r for r in records if r.data.get("trial_starts_s")), None)  # the newest
    colors: dict[int, str] = {}
    if raw is not None:
        starts = raw.data["trial_starts_s"]
        largest = max(starts, key=lambda count: len(starts[count]))
        counts, ms = _windowed_ms(starts[largest])
        (line,) = ax.plot(
            counts,
            ms,
            label=f"{_from(raw)}: ms per trial over each {_SCALE_WINDOW} trials of its {largest}",
            linewidth=1.5,
        )
        colors[id(raw)] = line.get_color()
    for record in records:
        columns = record.data["columns"]
        points = [
            (int(row[columns.index("trials")]), float(row[columns.index("ms / trial")]))
            for row in record.data["rows"]
        ]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            linestyle="none",
            color=colors.get(id(record)),
            label=f"{_from(record)}: whole run's average",
        )
    ax.set_xlabel("trials (the line: trial number within one run; a dot: a run of that many trials)")
    ax.set_ylabel("orchestration time per trial (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title("automl.tune with trivial trials (no TensorFlow), TPE, 2 cores", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plots(results: Mapping[str, Sequence[Record]], directory: Path) -> list[Path]:
    """Writes the plots the results hold data for; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    raw = _raw_search(results)
    if raw is not None:
        written.append(plot_search(raw, directory / "search_efficiency.png"))
    written.append(plot_scale(results["scale"], directory / "scale.png"))
    return written


# README ----------------------------------------------------------------------------


def fill(text: str, generated: Mapping[str, str], *, source: str = "README") -> str:
    """``text`` with each marked block replaced by the table of its name.

    Raises:
        ResultsError: a marker names no table, or a table has no marker.
    """
    seen: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in generated:
            raise ResultsError(
                f"{source}: marker report:{name} names no table; tables: {', '.join(generated)}"
            )
        seen.append(name)
        return f"{match[1]}{generated[name]}\n{match[4]}"

    out = _MARKER.sub(replace, text)
    unplaced = [name for name in generated if name not in seen]
    if unplaced:
        raise ResultsError(f"{source}: no <!-- report:NAME --> marker for {', '.join(unplaced)}")
    return out


def blocks(text: str) -> dict[str, str]:
    """The marked blocks of a README, by name (what `fill` wrote, without its last newline)."""
    return {match["name"]: match["body"].removesuffix("\n") for match in _MARKER.finditer(text)}


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--results", type=Path, default=RESULTS_DIR, help="the *.json results (default %(default)s)"
    )
    parser.add_argument(
        "--plots", type=Path, default=PLOTS_DIR, help="where the PNGs go (default %(default)s)"
    )
    parser.add_argument("--readme", type=Path, default=README, help="the page whose tables are filled")
    parser.add_argument("--check", action="store_true", help="only compare README's tables with the results")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        results = load_results(args.results)
        generated = tables(results)
        text = args.readme.read_text(encoding="utf-8")
        updated = fill(text, generated, source=str(args.readme))
    except ResultsError as exc:
        print(f"benchmarks.report: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if updated != text:
            print(f"{args.readme}: its tables differ from {args.results}; run python -m benchmarks.report")
            return 1
        print(f"{args.readme}: tables match {args.results}")
        return 0
    for path in plots(results, args.plots):
        print(f"wrote {path}")
    if updated != text:
        args.readme.write_text(updated, encoding="utf-8")
    print(f"wrote the tables of {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
