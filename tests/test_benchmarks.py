"""The benchmark harness: its arithmetic on hand-made reports, and its quick mode end to end.

Nothing here times anything or judges a figure: the quick mode only proves that every figure
is measured and reported (a full run's figures are in docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import StepFailed, failure, label, volume, worker
from benchmarks.report import markdown, scaling, targets

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "events"),
    [
        ("100k", 100_000),
        ("1M", 1_000_000),
        ("10m", 10_000_000),
        ("2.5k", 2_500),
        ("5000", 5_000),
    ],  # fmt: skip
)
def test_volumes_are_read_and_labelled(text: str, events: int) -> None:
    assert volume(text) == events
    assert volume(label(events)) == events


@pytest.mark.parametrize("text", ["", "k", "lots", "1x", "999"])
def test_a_bad_volume_is_one_clear_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        volume(text)


def _samples(*values: float) -> dict[str, Any]:
    return {"median": sorted(values)[len(values) // 2], "min": min(values),
            "max": max(values), "n": len(values), "values": list(values)}  # fmt: skip


def _report(mode: str) -> dict[str, Any]:
    def volume_entry(
        events: int, run: float, floor: float, memory: int, empty: float = 3.0
    ) -> dict[str, Any]:
        return {
            "events": events,
            "landing": {"floor": _samples(floor), "generator": _samples(floor * 1.5)},
            "pipeline": {"floor": _samples(floor, floor), "end_to_end": _samples(run),
                         "memory": {"python": 1, "jvm": memory - 1, "total": memory},
                         "empty_day": _samples(empty)},
        }  # fmt: skip

    return {
        "mode": mode,
        "started": "2026-11-25T10:00:00+00:00",
        "seconds": 600.0,
        "machine": {
            "cpu": "test cpu",
            "cores": 2,
            "memory_gib": 24,
            "os": "linux",
            "python": "3.11",
            "java": "17",
            "pyspark": "4",
            "pyiceberg": "0.12",
            "duckdb": "1",
        },  # fmt: skip
        "settings": {"repeat": 2, "query_events": 1_000_000},
        "volumes": {
            "50k": volume_entry(50_000, 12.0, 1.0, 2**30, empty=3.5),
            "1M": volume_entry(1_000_000, 40.0, 10.0, 2 * 2**30, empty=5.0),
            "10M": volume_entry(10_000_000, 300.0, 80.0, 3 * 2**30),
        },
        "depth": {
            "depth": 30,
            "events": 100_000,
            "depth_1": _samples(10.0),
            "depth_n": _samples(11.0),
        },  # fmt: skip
        "queries": {
            "days": 7,
            "top-shows": {
                "cli": _samples(0.8),
                "duckdb": _samples(0.5),
                "ratio": 1.6,
                "same_answer": True,
                "rows": 10,
            },  # fmt: skip
        },
    }


def test_a_full_run_is_judged_against_each_target() -> None:
    verdicts = {t["figure"]: t["met"] for t in targets(_report("full"))}
    assert verdicts == {
        "a 50k day: seconds": False,  # 12 > 10
        "a 50k day: end-to-end / floor": False,  # 12 / 1 = 12 > 3
        "end-to-end / floor at 1M": True,  # 40 / 10 = 4.0 <= 5.0
        "end-to-end / floor at 10M": False,  # 300 / 80 = 3.75 > 3.0
        "a day with no landing files: seconds": True,  # the smallest volume's: 3.5 <= 4
        "depth 30 / depth 1": True,  # 1.1
        "query top-shows: seconds": True,
        "query top-shows: / DuckDB": True,
        "query top-shows: same answer as DuckDB": True,
        "time 10M / 1M": True,  # 300 / 40 = 7.5
        "generator / floor at 1M": True,  # 1.5
    }


def test_a_quick_run_reports_the_figures_without_judging_them() -> None:
    report = _report("quick")
    assert {t["met"] for t in targets(report)} == {None}
    assert scaling(report)[-1] == {"step": "10M / 1M", "volume": 10.0, "time": 7.5, "memory": 1.5}
    report["targets"] = targets(report)
    text = markdown(report)
    assert "| end-to-end / floor at 1M | 4.00 | <= 5.0 | not judged |" in text
    assert "| a day with no landing files: seconds | 3.50 | <= 4 s | not judged |" in text
    assert "| 1M | 40.00 (40.00–40.00) | 10.00 (10.00–10.00) | 4.00 | 5.00 (5.00–5.00) |" in text
    assert "| 10M / 1M | 10 | 7.50 | 1.50 |" in text
    assert "| top-shows | 0.80 (0.80–0.80) | 0.50 (0.50–0.50) | 1.60 | yes | 10 |" in text


def test_a_volume_that_failed_misses_its_target_and_the_others_still_report() -> None:
    report = _report("full")
    reason = "the pipeline step failed: out of memory: java.lang.OutOfMemoryError (log: x.log)"
    report["volumes"]["10M"] = {"events": 10_000_000, "failed": reason}
    verdicts = {t["figure"]: t["met"] for t in targets(report)}
    assert verdicts["10M: the daily run completes"] is False
    assert "time 10M / 1M" not in verdicts  # nothing to divide
    assert verdicts["end-to-end / floor at 1M"] is True  # 1M is still judged
    assert verdicts["end-to-end / floor at 10M"] is None  # its failure above is the finding
    assert [s["step"] for s in scaling(report)] == ["1M / 50k"]
    report["targets"] = targets(report)
    text = markdown(report)
    assert f"| 10M | failed: {reason} |" in text
    assert "| 1M | 40.00 (40.00–40.00) |" in text


def test_a_failed_step_is_named_by_its_out_of_memory_error(tmp_path: Path) -> None:
    log = tmp_path / "10M-pipeline.log"
    log.write_text(
        "26/12/05 11:02:01 ERROR Executor: Exception in task 3.0\n"
        "java.lang.OutOfMemoryError: Java heap space\n"
        "ConnectionRefusedError: [Errno 111] Connection refused\n"
    )
    assert failure(log) == "out of memory: java.lang.OutOfMemoryError: Java heap space"
    log.write_text("Traceback (most recent call last):\nValueError: no landing files\n")
    assert failure(log) == "ValueError: no landing files"


def test_a_step_that_fails_raises_with_its_reason_and_keeps_its_log(tmp_path: Path) -> None:
    home = tmp_path / "benchmarks" / "work" / "2k"
    home.parent.mkdir(parents=True)
    with pytest.raises(StepFailed, match="invalid choice") as failed:
        worker("no-such-step", home, days=2, events=2_000, repeat=1)
    log = tmp_path / "benchmarks" / "logs" / "2k-no-such-step.log"
    assert str(log) in str(failed.value) and "usage:" in log.read_text()


@pytest.mark.slow
def test_quick_mode_measures_and_saves_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--home", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    saved = tmp_path / "benchmarks"
    report = json.loads((saved / "latest.json").read_text())
    assert (saved / "latest.md").read_text() == done.stdout
    assert len(list((saved / "runs").glob("*.json"))) == 1
    assert not (saved / "work").exists()  # the generated data is gone
    assert len(report["volumes"]) == 2
    for figures in report["volumes"].values():
        pipeline = figures["pipeline"]
        assert pipeline["end_to_end"]["n"] == pipeline["floor"]["n"] == 1
        assert pipeline["end_to_end"]["median"] > 0 and pipeline["floor"]["median"] > 0
        assert pipeline["memory"]["jvm"] > 0 and pipeline["memory"]["python"] > 0
        assert any(m["ends"].startswith("published") for m in pipeline["phases"])
        assert figures["landing"]["generator"]["median"] > 0
        assert figures["landing"]["floor_rows"] > figures["events"]  # events, signups, shows
        assert pipeline["empty_day"]["n"] == 1 and pipeline["empty_day"]["median"] > 0
    queries = {k: v for k, v in report["queries"].items() if isinstance(v, dict)}
    assert sorted(queries) == ["co-watch", "genres", "signups", "top-shows"]
    assert all(q["same_answer"] and q["rows"] > 0 for q in queries.values())
    assert report["depth"]["depth_n"]["median"] > 0
    # The quick mode maintains after every day of history: the deployment's weekly path runs.
    assert report["volumes"]["2k"]["pipeline"]["maintained"] == ["2026-11-01"]
    assert {t["met"] for t in report["targets"]} == {None}
    for heading in ("## Targets", "## One arrival day", "## Scaling", "## Where the daily run",
                    "## History depth", "## Queries"):  # fmt: skip
        assert heading in done.stdout
