"""The report: ratios first, then the timings they come from, and each target met or missed."""

from __future__ import annotations

from typing import Any

GIB = 2**30
# The small volume the run's fixed cost is judged at (the demo's daily volume).
SMALL = "50k"


def _ratio(numerator: dict[str, Any], denominator: dict[str, Any]) -> float:
    return float(numerator["median"]) / float(denominator["median"])


def measured(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The volumes whose steps all completed (a failed one holds only its reason)."""
    return {name: v for name, v in report["volumes"].items() if "failed" not in v}


def volume_figures(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per volume: end-to-end / floor, generator / floor, seconds per 1M events, peak memory."""
    figures = {}
    for name, v in measured(report).items():
        pipeline, landing = v["pipeline"], v["landing"]
        million = v["events"] / 1_000_000
        figures[name] = {
            "end_to_end_s": pipeline["end_to_end"]["median"],
            "floor_s": pipeline["floor"]["median"],
            "end_to_end_over_floor": _ratio(pipeline["end_to_end"], pipeline["floor"]),
            "generator_s_per_1M": landing["generator"]["median"] / million,
            "generator_over_floor": _ratio(landing["generator"], landing["floor"]),
            "peak_memory_gib": pipeline["memory"]["total"] / GIB,
            "empty_day_s": pipeline["empty_day"]["median"] if "empty_day" in pipeline else None,
        }
    return figures


def scaling(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each volume against the next smaller one: time and memory growth per volume growth."""
    volumes = sorted(measured(report).items(), key=lambda item: item[1]["events"])
    steps = []
    for (small, a), (large, b) in zip(volumes, volumes[1:], strict=False):
        steps.append({
            "step": f"{large} / {small}",
            "volume": b["events"] / a["events"],
            "time": _ratio(b["pipeline"]["end_to_end"], a["pipeline"]["end_to_end"]),
            "memory": b["pipeline"]["memory"]["total"] / a["pipeline"]["memory"]["total"],
        })  # fmt: skip
    return steps


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value; a quick run is not judged."""
    judged = report["mode"] == "full"
    found: list[dict[str, Any]] = []

    def target(figure: str, value: float | None, limit: str, met: bool | None) -> None:
        found.append({"figure": figure, "value": value, "target": limit,
                      "met": met if judged and value is not None else None})  # fmt: skip

    for name, v in report["volumes"].items():
        if "failed" in v:  # out of memory, above all, is a finding: the target is missed
            found.append({"figure": f"{name}: the daily run completes", "value": None,
                          "target": "no failure", "met": False if judged else None})  # fmt: skip
    per_volume = volume_figures(report)
    small = per_volume.get(SMALL)
    if small is not None:
        target(f"a {SMALL} day: seconds", small["end_to_end_s"], "<= 10 s",
               small["end_to_end_s"] <= 10)  # fmt: skip
        target(f"a {SMALL} day: end-to-end / floor", small["end_to_end_over_floor"], "<= 3.0",
               small["end_to_end_over_floor"] <= 3.0)  # fmt: skip
    for name, limit in (("1M", 5.0), ("10M", 3.0)):
        figures = per_volume.get(name)
        ratio = figures["end_to_end_over_floor"] if figures else None
        target(f"end-to-end / floor at {name}", ratio, f"<= {limit}",
               ratio is not None and ratio <= limit)  # fmt: skip
    empty = [f["empty_day_s"] for f in per_volume.values() if f["empty_day_s"] is not None]
    if empty:  # the smallest volume's lake: the fixed cost with the least data behind it
        target("a day with no landing files: seconds", empty[0], "<= 4 s", empty[0] <= 4)
    one = per_volume.get("1M")
    depth = report.get("depth")
    if depth:
        ratio = _ratio(depth["depth_n"], depth["depth_1"])
        target(f"depth {depth['depth']} / depth 1", ratio, "<= 1.25", ratio <= 1.25)
    for name, q in report.get("queries", {}).items():
        if not isinstance(q, dict):
            continue
        seconds = q["cli"]["median"]
        target(f"query {name}: seconds", seconds, "< 1 s", seconds < 1.0)
        target(f"query {name}: / DuckDB", q["ratio"], "<= 2.0", q["ratio"] <= 2.0)
        target(f"query {name}: same answer as DuckDB", float(q["same_answer"]), "= 1",
               bool(q["same_answer"]))  # fmt: skip
    for step in scaling(report):
        if step["step"] == "10M / 1M":
            target("time 10M / 1M", step["time"], "<= 10", step["time"] <= 10)
    if one is not None:
        target("generator / floor at 1M", one["generator_over_floor"], "<= 2.0",
               one["generator_over_floor"] <= 2.0)  # fmt: skip
    return found


def _spread(samples: dict[str, Any]) -> str:
    return f"{samples['median']:.2f} ({samples['min']:.2f}–{samples['max']:.2f})"


def markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown (docs/performance.md quotes it)."""
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"# Benchmark report ({report['mode']} mode, {report['started']})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, {m['os']}; "
        f"Python {m['python']}, {m['java']}, PySpark {m['pyspark']}, "
        f"PyIceberg {m['pyiceberg']}, DuckDB {m['duckdb']}.",
        f"Every timing is the median of {s['repeat']} repetition(s) in seconds, "
        f"(min–max) beside it. The harness ran {report['seconds'] / 60:.1f} min.",
        "",
        "## Targets",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for t in report["targets"]:
        value = "—" if t["value"] is None else f"{t['value']:.2f}"
        met = {True: "yes", False: "**no**", None: "not judged"}[t["met"]]
        lines.append(f"| {t['figure']} | {value} | {t['target']} | {met} |")
    lines += [
        "",
        "## One arrival day, by volume",
        "",
        "| events/day | end-to-end s | floor s | end-to-end / floor | empty day s "
        "| generator s per 1M | generator / floor | driver peak GiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    per_volume = volume_figures(report)
    for name, v in report["volumes"].items():
        if "failed" in v:
            lines.append(f"| {name} | failed: {v['failed']} | | | | | | |")
            continue
        f = per_volume[name]
        empty = v["pipeline"].get("empty_day")
        lines.append(
            f"| {name} | {_spread(v['pipeline']['end_to_end'])} "
            f"| {_spread(v['pipeline']['floor'])} | {f['end_to_end_over_floor']:.2f} "
            f"| {_spread(empty) if empty else '—'} "
            f"| {f['generator_s_per_1M']:.1f} | {f['generator_over_floor']:.2f} "
            f"| {f['peak_memory_gib']:.2f} |"
        )
    steps = scaling(report)
    if steps:
        lines += ["", "## Scaling", "", "| step | volume × | time × | memory × |",
                  "|---|---|---|---|"]  # fmt: skip
        lines += [
            f"| {x['step']} | {x['volume']:.0f} | {x['time']:.2f} | {x['memory']:.2f} |"
            for x in steps
        ]
    phased = [(n, v["pipeline"]["phases"]) for n, v in measured(report).items()
              if v["pipeline"].get("phases")]  # fmt: skip
    if phased:
        name, marks = phased[-1]
        lines += [
            "",
            f"## Where the daily run's time goes ({name} events, last repetition)",
            "",
            "| seconds | phase, named by the progress line that ends it |",
            "|---|---|",
        ]
        lines += [f"| {m['seconds']:.1f} | {m['ends']} |" for m in marks]
    depth = report.get("depth")
    if depth:
        lines += [
            "",
            f"## History depth ({depth['events']:,} events a day)",
            "",
            "| history | daily run s |",
            "|---|---|",
            f"| 1 day | {_spread(depth['depth_1'])} |",
            f"| {depth['depth']} days | {_spread(depth['depth_n'])} |",
            f"| ratio | {_ratio(depth['depth_n'], depth['depth_1']):.2f} |",
        ]
    queries = report.get("queries")
    if queries:
        lines += [
            "",
            f"## Queries over {queries['days']} days at {s['query_events']:,} events a day",
            "",
            "| query | command line s | DuckDB s | ratio | same answer | rows |",
            "|---|---|---|---|---|---|",
        ]
        for name, q in queries.items():
            if isinstance(q, dict):
                lines.append(
                    f"| {name} | {_spread(q['cli'])} | {_spread(q['duckdb'])} "
                    f"| {q['ratio']:.2f} | {'yes' if q['same_answer'] else '**no**'} "
                    f"| {q['rows']} |"
                )
    return "\n".join(lines) + "\n"
