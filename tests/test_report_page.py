"""``viewership report`` opened in headless Chromium: every chart drew the right numbers.

The page's own script, once Plotly has drawn, writes into ``<script id="drawn-summary">`` what
each chart holds (trace types, x, y and z as Plotly keeps them) and the SVG marks it drew
(bars, heat-map images, line paths, markers); ``--dump-dom`` hands that back, and each chart is
compared with answers worked out by hand for tests/test_query.py's tables and
tests/test_dashboard.py's run log and audit results. ``scripts/setup_browser.sh`` installs
Chromium (the test calls it). The screenshot of the drawn page is kept as a test artifact at
``.home/artifacts/report.png`` (``.home`` is ignored by git).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests import test_dashboard, test_query
from tests.test_dashboard import GATE, QUARANTINE, RUN_TIMES, SIGNUPS
from tests.test_query import CO_WATCH, END, GENRES, START, TOP_SHOWS
from viewership.cli import main
from viewership.config import REPO_ROOT, Settings

pytestmark = pytest.mark.slow  # Chromium starts and draws a 5 MB page: several seconds

home = test_query.home
ops_home = test_dashboard.ops_home

ARTIFACTS = REPO_ROOT / ".home" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
_SUMMARY = re.compile(r'<script type="application/json" id="drawn-summary">(.*?)</script>', re.S)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path, installed by the project's script when missing (as CI's fresh machine)."""
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "setup_browser.sh")],
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"scripts/setup_browser.sh failed: {done.stderr[-2000:]}")
    path = shutil.which("chromium")
    assert path is not None, done.stderr
    return path


def draw(chromium: str, page: Path, profile: Path, screenshot: Path) -> dict[str, Any]:
    """Open the page headless, keep a screenshot, and return what its charts drew."""
    done = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,4400",
         "--hide-scrollbars", "--virtual-time-budget=20000", f"--screenshot={screenshot}",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'data-rendered="true"' in done.stdout, "the page's script did not finish"
    found = _SUMMARY.search(done.stdout)
    assert found is not None
    summary: dict[str, Any] = json.loads(found.group(1))
    return summary


def report(settings: Settings, start: date, end: date, out: Path) -> None:
    """Write the period's page through the command line, as a person would."""
    argv = ["--home", str(settings.home), "report", "--start", start.isoformat(), "--end",
            end.isoformat(), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0


def traces(chart: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A chart's drawn traces by name (a region, a feed, a verdict, a part of a run)."""
    return {t["name"]: t for t in chart["traces"]}


def test_every_chart_draws_the_periods_answers(
    ops_home: Settings, tmp_path: Path, chromium: str
) -> None:
    """Screenshot: .home/artifacts/report.png."""
    # Given the hand-made tables and the report of the period
    page = tmp_path / "report.html"
    report(ops_home, START, END, page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)

    # When Chromium draws it
    drawn = draw(chromium, page, tmp_path / "profile", shot)

    # Then every chart drew, with the numbers the queries answer
    assert set(drawn) == {"top_shows", "genres", "co_watch", "signups", "quarantine", "gate",
                          "run_times"}  # fmt: skip
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000

    (bars,) = drawn["top_shows"]["traces"]
    assert bars["type"] == "bar"
    assert bars["x"] == [r["viewers"] for r in TOP_SHOWS]
    assert bars["y"] == [
        "Alpha (s1)", "Beta (s2)", "Gamma (s3)", "Delta (s4)", "Iota (s10)", "Épsilon 映画 (s5)",
        "Zeta (s6)", "s9", "Theta (s8)", "Eta (s7)",
    ]  # fmt: skip
    assert drawn["top_shows"]["marks"]["bars"] == len(TOP_SHOWS)

    (grid,) = drawn["genres"]["traces"]
    assert grid["type"] == "heatmap"
    cells = {(region, genre): grid["z"][i][j] for i, region in enumerate(grid["y"])
             for j, genre in enumerate(grid["x"]) if grid["z"][i][j] is not None}  # fmt: skip
    assert cells == {(r["region"], r["genre"]): r["viewers"] for r in GENRES}
    assert grid["y"] == ["APAC", "EMEA", "LATAM", "UCAN"]
    assert drawn["genres"]["marks"]["heatmaps"] == 1

    (matrix,) = drawn["co_watch"]["traces"]
    assert matrix["type"] == "heatmap" and matrix["x"] == matrix["y"]
    shows, z = matrix["x"], matrix["z"]
    assert all(z[i][j] == z[j][i] for i in range(len(shows)) for j in range(len(shows)))
    pairs = {tuple(sorted((shows[i], shows[j]))): z[i][j] for i in range(len(shows))
             for j in range(i + 1, len(shows)) if z[i][j] is not None}  # fmt: skip
    assert pairs == {(r["show_a"], r["show_b"]): r["co_viewers"] for r in CO_WATCH}
    assert drawn["co_watch"]["marks"]["heatmaps"] == 1

    period = ["2024-03-01", "2024-03-02", "2024-03-03"]
    lines = traces(drawn["signups"])
    assert {name: t["y"] for name, t in lines.items()} == SIGNUPS
    assert all(t["type"] == "scatter" and t["x"] == period for t in lines.values())
    assert drawn["signups"]["marks"] == {"bars": 0, "heatmaps": 0, "lines": 3, "points": 9}

    shares = traces(drawn["quarantine"])
    drawn_shares = {feed: dict(zip(t["x"], t["y"], strict=True)) for feed, t in shares.items()}
    assert drawn_shares == QUARANTINE
    assert drawn["quarantine"]["marks"]["points"] == 9

    gate = traces(drawn["gate"])
    assert list(gate) == ["passed", "failed", "warned"]
    for verdict, t in gate.items():
        assert t["type"] == "bar" and t["x"] == period
        assert t["y"] == [getattr(counts, verdict) for counts in GATE]
    assert drawn["gate"]["marks"]["bars"] == 9

    times = traces(drawn["run_times"])
    assert list(times) == ["publication", "aggregates"]
    for part, t in times.items():
        assert t["x"] == ["2024-03-01", "2024-03-02"]  # 2024-03-03 never finished publishing
        assert t["y"] == [getattr(run, part) for run in RUN_TIMES]
    assert drawn["run_times"]["marks"]["bars"] == 4


def test_an_empty_period_draws_a_page_that_names_each_empty_chart(
    ops_home: Settings, tmp_path: Path, chromium: str
) -> None:
    page = tmp_path / "empty.html"
    report(ops_home, date(2025, 1, 1), date(2025, 1, 31), page)
    drawn = draw(chromium, page, tmp_path / "profile", tmp_path / "empty.png")
    assert drawn == {key: {"empty": True} for key in ("top_shows", "genres", "co_watch",
                     "signups", "quarantine", "gate", "run_times")}  # fmt: skip
