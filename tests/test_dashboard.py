"""``viewership report``: the charts' data shaped from tiny inputs, and the command's errors.

No JVM: the shaping functions take rows and Arrow tables written out here; the command reads
the hand-made Iceberg tables of tests/test_query.py plus the hand-made ops.run_log and
ops.audit_results rows below (``ops_home``), which tests/test_report_page.py renders in a
browser.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from plotly.offline import get_plotlyjs
from pyiceberg.io.pyarrow import schema_to_pyarrow

from schemas import tables as T
from tests import test_query
from tests.test_query import D0, D1, D2, D3, D4, END, START, _arrow
from viewership import dashboard as dash
from viewership.catalog import load_catalog
from viewership.cli import main
from viewership.config import Settings
from viewership.dashboard_io import read_inputs

home = test_query.home

T0 = datetime(2024, 3, 6, tzinfo=UTC)
RunLogRow = tuple[str, date, str, str, int, int, int]
AuditRow = tuple[str, date, str, str, bool, str, int, int]

# (run_id, logical_date, feed, status, lines_read, quarantined, seconds after T0)
RUN_LOG_ROWS: list[RunLogRow] = [
    ("r0", D0, "viewing_events", "published", 100, 50, 0),  # before the period
    # D1: published (publishing at 100 s, published at 130 s), then two aggregates.
    ("r1", D1, "viewing_events", "publishing", 200, 4, 100),
    ("r1", D1, "signups", "publishing", 10, 1, 100),
    ("r1", D1, "catalog", "publishing", 5, 0, 100),
    ("r1", D1, "viewing_events", "published", 200, 4, 130),
    ("r1", D1, "signups", "published", 10, 1, 130),
    ("r1", D1, "catalog", "published", 5, 0, 130),
    ("r1", D1, "aggregate:top_shows", "published", 9, 0, 150),
    ("r1", D1, "aggregate:signups", "published", 3, 0, 175),
    # D2: the same run id (run --through) published; a rerun was refused, a task failed.
    ("r1", D2, "viewing_events", "publishing", 80, 0, 1000),
    ("r1", D2, "signups", "publishing", 6, 0, 1000),
    ("r1", D2, "catalog", "publishing", 5, 0, 1000),
    ("r1", D2, "viewing_events", "published", 80, 0, 1012),
    ("r1", D2, "signups", "published", 6, 0, 1012),
    ("r1", D2, "catalog", "published", 5, 0, 1012),
    ("r1", D2, "aggregate:signups", "published", 1, 0, 1020),
    ("r2b", D2, "viewing_events", "refused", 100, 10, 2000),
    ("r2b", D2, "signups", "refused", 0, 0, 2000),  # nothing arrived: a share of 0
    ("r2b", D2, "catalog", "refused", 5, 0, 2000),
    ("r2b", D2, "*", "failed", 0, 0, 2100),  # a failed task: no feed
    # D3: killed mid-publication: counts, but no published run to time.
    ("r3", D3, "viewing_events", "publishing", 50, 1, 3000),
    ("r3", D3, "signups", "publishing", 4, 2, 3000),
    ("r3", D3, "catalog", "publishing", 5, 0, 3000),
    ("r4", D4, "viewing_events", "published", 10, 5, 4000),  # after the period
    ("r4", D4, "aggregate:top_shows", "published", 1, 0, 4100),
]

# (run_id, logical_date, table_name, severity, success, branch, seconds after T0, repeat)
AUDIT_ROWS: list[AuditRow] = [
    ("r0", D0, "silver.viewing_events", "error", False, "b0", 0, 3),  # before the period
    ("r1", D1, "silver.viewing_events", "error", True, "b1", 99, 3),
    ("r1", D1, "silver.viewing_events", "warn", False, "b1", 99, 1),
    ("r1", D1, "gold.user_show_daily", "error", True, "b1", 99, 2),
    ("r1", D1, "gold.top_shows_daily", "error", True, "b1__top_shows", 149, 1),
    ("r1", D2, "silver.viewing_events", "error", True, "b2", 999, 4),
    ("r1", D2, "gold.signups_daily", "error", True, "b2__signups", 1019, 1),
    # The refused rerun audited silver.viewing_events last: its verdicts are in force.
    ("r2b", D2, "silver.viewing_events", "error", True, "b2b", 1999, 2),
    ("r2b", D2, "silver.viewing_events", "error", False, "b2b", 1999, 1),
    ("r2b", D2, "silver.viewing_events", "warn", False, "b2b", 1999, 1),
    ("r3", D3, "silver.signups", "error", True, "b3", 2999, 2),
    ("r4", D4, "silver.signups", "error", False, "b4", 3999, 5),  # after the period
]

# What the period's operations charts must show, worked out by hand from the rows above.
QUARANTINE = {
    "viewing_events": {"2024-03-01": 0.02, "2024-03-02": 0.1, "2024-03-03": 0.02},
    "signups": {"2024-03-01": 0.1, "2024-03-02": 0.0, "2024-03-03": 0.5},
    "catalog": {"2024-03-01": 0.0, "2024-03-02": 0.0, "2024-03-03": 0.0},
}
GATE = [
    dash.GateCounts(D1, passed=6, failed=0, warned=1),
    dash.GateCounts(D2, passed=3, failed=1, warned=1),
    dash.GateCounts(D3, passed=2, failed=0, warned=0),
]
RUN_TIMES = [
    dash.RunTime(D1, "r1", publication=30.0, aggregates=45.0),
    dash.RunTime(D2, "r1", publication=12.0, aggregates=8.0),
]
# gold.signups_daily of tests/test_query.py, per region over D1..D3 (the zero row makes none).
SIGNUPS = {"APAC": [0, 1, 0], "EMEA": [1, 0, 4], "UCAN": [2, 3, 0]}


def run_log_table(rows: list[RunLogRow] = RUN_LOG_ROWS) -> pa.Table:
    """ops.run_log rows in its Arrow schema, with the columns the report does not read filled."""
    return _arrow(T.RUN_LOG, [
        {"run_id": run, "logical_date": day, "feed": feed, "status": status, "lines_read": read,
         "accepted": read - bad, "duplicates": 0, "quarantined": bad, "reconciled": True,
         "branch": None, "message": None, "recorded_at": T0 + timedelta(seconds=at)}
        for run, day, feed, status, read, bad, at in rows
    ])  # fmt: skip


def audit_table(rows: list[AuditRow] = AUDIT_ROWS) -> pa.Table:
    """ops.audit_results rows, each tuple repeated as many times as its last item says."""
    return _arrow(T.AUDIT_RESULTS, [
        {"run_id": run, "logical_date": day, "table_name": table, "check_name": f"check_{n}",
         "expectation": "expect_x", "severity": severity, "success": success, "observed": "",
         "unexpected": None, "details": "{}", "branch": branch,
         "recorded_at": T0 + timedelta(seconds=at)}
        for run, day, table, severity, success, branch, at, repeat in rows
        for n in range(repeat)
    ])  # fmt: skip


@pytest.fixture()
def ops_home(home: Settings) -> Settings:
    """tests/test_query.py's home plus the hand-made run log and audit results."""
    catalog = load_catalog(home)
    for table, rows in ((T.RUN_LOG, run_log_table()), (T.AUDIT_RESULTS, audit_table())):
        catalog.create_namespace_if_not_exists(table.namespace)
        created = catalog.create_table(
            table.identifier,
            schema=table.schema,
            partition_spec=table.partition_spec,
            properties=table.properties,
        )
        created.append(rows)
    return home


def _empty(table: T.TableDef) -> pa.Table:
    return schema_to_pyarrow(table.schema, include_field_ids=False).empty_table()


# --- the shaping, on tiny inputs -----------------------------------------------------------------


def test_top_shows_are_bars_of_viewers_labelled_by_title_and_id() -> None:
    rows = [
        {"rank": 1, "show_id": "s1", "title": "Alpha", "viewers": 3, "hours_viewed": 0.23},
        {"rank": 2, "show_id": "s9", "title": None, "viewers": 0, "hours_viewed": 0.01},
    ]
    chart = dash.top_shows_chart(rows)
    assert chart.figure is not None
    (bar,) = chart.figure.data
    assert bar.type == "bar" and bar.orientation == "h"
    assert list(bar.x) == [3, 0]
    assert list(bar.y) == ["Alpha (s1)", "s9"]
    assert list(bar.text) == ["3 viewers, 0.23 h", "0 viewers, 0.01 h"]


def test_genres_are_a_region_by_genre_grid_with_blanks_outside_a_regions_top() -> None:
    rows = [
        {"region": "UCAN", "genre": "Drama", "rank": 1, "viewers": 2, "hours_viewed": 0.5},
        {"region": "EMEA", "genre": "Comedy", "rank": 1, "viewers": 4, "hours_viewed": 1.0},
        {"region": "EMEA", "genre": "Drama", "rank": 2, "viewers": 1, "hours_viewed": 0.25},
    ]
    (heatmap,) = dash.genres_chart(rows).figure.data  # type: ignore[union-attr]
    # Genres by viewers over every region (Comedy 4, Drama 3), regions by name.
    assert list(heatmap.x) == ["Comedy", "Drama"]
    assert list(heatmap.y) == ["EMEA", "UCAN"]
    assert [list(r) for r in heatmap.z] == [[4, 1], [None, 2]]
    assert [list(r) for r in heatmap.customdata] == [[1.0, 0.25], [None, 0.5]]


def test_co_watch_pairs_fill_a_mirrored_matrix_in_rank_order() -> None:
    rows = [
        {"rank": 1, "show_a": "s2", "show_b": "s3", "co_viewers": 5},
        {"rank": 2, "show_a": "s1", "show_b": "s3", "co_viewers": 2},
    ]
    shows, z = dash.co_watch_matrix(rows)
    assert shows == ["s2", "s3", "s1"]
    assert z == [[None, 5, None], [5, None, 2], [None, 2, None]]


def test_signups_have_a_point_on_every_day_of_the_period() -> None:
    rows = [
        {"date": "2024-03-01", "region": "UCAN", "new_users": 2},
        {"date": "2024-03-03", "region": "UCAN", "new_users": 1},
        {"date": "2024-03-02", "region": "APAC", "new_users": 7},
    ]
    assert dash.signups_series(rows, D1, D3) == {"APAC": [0, 7, 0], "UCAN": [2, 0, 1]}
    chart = dash.signups_chart(rows, D1, D3)
    assert [t.name for t in chart.figure.data] == ["APAC", "UCAN"]  # type: ignore[union-attr]
    assert list(chart.figure.data[1].x) == ["2024-03-01", "2024-03-02", "2024-03-03"]  # type: ignore[union-attr]


def test_the_quarantine_share_is_the_latest_run_of_each_date_and_feed() -> None:
    assert dash.quarantine_shares(run_log_table()) == {
        **QUARANTINE,
        "viewing_events": {"2024-02-29": 0.5, **QUARANTINE["viewing_events"], "2024-03-04": 0.5},
    }


def test_gate_counts_take_each_tables_latest_audit_of_a_date() -> None:
    counts = dash.gate_counts(audit_table())
    assert counts == [dash.GateCounts(D0, failed=3), *GATE, dash.GateCounts(D4, failed=5)]


def test_run_times_span_the_latest_published_runs_rows() -> None:
    assert dash.run_times(run_log_table()) == [
        dash.RunTime(D0, "r0", 0.0, 0.0),  # one row: no span to show
        *RUN_TIMES,
        dash.RunTime(D4, "r4", 0.0, 100.0),
    ]


def test_a_rerun_that_publishes_later_is_the_one_timed() -> None:
    rows: list[RunLogRow] = [
        ("a", D1, "signups", "publishing", 1, 0, 0),
        ("a", D1, "signups", "published", 1, 0, 5),
        ("a", D1, "aggregate:signups", "published", 1, 0, 9),
        ("b", D1, "signups", "publishing", 1, 0, 100),
        ("b", D1, "signups", "published", 1, 0, 102),
        ("b", D1, "aggregate:signups", "published", 1, 0, 110),
    ]
    assert dash.run_times(run_log_table(rows)) == [dash.RunTime(D1, "b", 2.0, 8.0)]


def test_the_run_time_chart_says_what_it_measures() -> None:
    chart = dash.run_times_chart(run_log_table())
    assert "Approximate" in chart.caption and "not recorded" in chart.caption
    assert "recorded_at" in chart.caption
    assert [t.name for t in chart.figure.data] == ["publication", "aggregates"]  # type: ignore[union-attr]


def test_no_rows_make_charts_without_figures_and_a_page_that_names_them() -> None:
    inputs = dash.Inputs(D1, D3, [], [], [], [], _empty(T.RUN_LOG), _empty(T.AUDIT_RESULTS))
    assert [c.figure for c in dash.charts(inputs)] == [None] * 7
    page = dash.render_page(inputs)
    assert "No data in this period for: Top shows, Genres by region, Co-watch, " in page
    assert page.count('data-empty="true"') == 7


def test_the_page_carries_plotly_and_loads_nothing_from_the_network() -> None:
    inputs = dash.Inputs(
        D1, D3, [{"rank": 1, "show_id": "s1", "title": "</script><b>", "viewers": 1,
                  "hours_viewed": 0.1}], [], [], [], run_log_table(), audit_table(),
    )  # fmt: skip
    page = dash.render_page(inputs)
    assert "Plotly.newPlot" in page and len(page) > 3_000_000  # plotly.js itself, inline
    assert get_plotlyjs() in page
    assert not re.search(r"<(script|link|img)\b[^>]*\b(src|href)=", page)
    assert "://" not in page.replace(get_plotlyjs(), "")  # no address outside plotly.js
    assert page.count("</script>") == page.count("<script")  # a title cannot close a script
    assert 'id="no-data"' in page and "Genres by region, Co-watch, Signups" in page


# --- the command, without a browser --------------------------------------------------------------


def test_the_report_reads_the_same_numbers_as_the_queries(ops_home: Settings) -> None:
    inputs = read_inputs(ops_home, START, END)
    assert inputs.top_shows == test_query.TOP_SHOWS
    assert inputs.genres == test_query.GENRES
    assert inputs.co_watch == test_query.CO_WATCH
    assert dash.signups_series(inputs.signups, START, END) == SIGNUPS
    assert dash.quarantine_shares(inputs.run_log) == QUARANTINE
    assert dash.gate_counts(inputs.audit_results) == GATE
    assert dash.run_times(inputs.run_log) == RUN_TIMES


def test_the_command_writes_the_page_and_says_where(
    ops_home: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    code = main(["--home", str(ops_home.home), "report", "--start", str(START), "--end",
                 str(END), "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"report of {START}..{END} written to {out}"
    page = out.read_text(encoding="utf-8")
    assert page.count('class="figure"') == 7 and 'id="no-data"' not in page
    # No temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "report.html"]


def test_an_empty_period_still_renders_and_names_the_empty_charts(
    ops_home: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "empty.html"
    code = main(["--home", str(ops_home.home), "report", "--start", "2025-01-01", "--end",
                 "2025-01-31", "--out", str(out)])  # fmt: skip
    assert code == 0
    page = out.read_text(encoding="utf-8")
    assert page.count('data-empty="true"') == 7
    assert (
        "No data in this period for: Top shows, Genres by region, Co-watch, Signups by day and "
        "region, Quarantine share per feed, Quality gate results, Pipeline run times." in page
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--start", "2024-02-30", "--end", "2024-03-03"], "YYYY-MM-DD"),
        (["--start", "2024-03-03", "--end", "yesterday"], "YYYY-MM-DD"),
        (["--start", "2024-03-03", "--end", "2024-03-01", "--out", "{tmp}/r.html"],
         "--end 2024-03-01 is before --start 2024-03-03"),
        (["--start", "2024-03-01", "--end", "2024-03-03"], "required"),  # no --out
        (["--start", "2024-03-01", "--end", "2024-03-03", "--out", "{tmp}/no/such/r.html"],
         "does not exist"),
        (["--start", "2024-03-01", "--end", "2024-03-03", "--out", "{tmp}"], "is a folder"),
    ],
)  # fmt: skip
def test_bad_arguments_are_one_line_and_write_nothing(
    args: list[str], message: str, ops_home: Settings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    before = _files(tmp_path)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["--home", str(ops_home.home), "report", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("viewership: error: ") and message in err, err
    assert "Traceback" not in err
    assert _files(tmp_path) == before


def _files(root: Path) -> list[Path]:
    """Every file and folder under root but SQLite's write-ahead log and shared-memory files,
    which come and go with the catalog's connections (the fixture's own close when it is
    garbage-collected), whatever the command did."""
    return sorted(p for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm")))


def test_a_failed_write_is_one_line_and_leaves_no_partial_file(
    ops_home: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def full_disk(self: Path, *args: object, **kwargs: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    out = tmp_path / "report.html"
    code = main(["--home", str(ops_home.home), "report", "--start", "2024-03-01", "--end",
                 "2024-03-03", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "cannot write --out" in err and "No space left on device" in err
    assert not out.exists()


def test_a_missing_home_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path / "nope"), "report", "--start", "2024-03-01", "--end",
                 "2024-03-03", "--out", str(tmp_path / "r.html")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err
