"""The query layer against hand-made gold and silver tables: every right answer is written out.

No Spark here: the data goes into real Iceberg tables through PyIceberg, so the module stays
JVM-free (it never requests the ``spark`` or ``lakehouse`` fixtures).
"""

from __future__ import annotations

import csv
import io
import json
import random
import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, BooleanExpression, EqualTo, In
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.types import StringType

from aggregates.daily_active_viewers import TABLE as ACTIVE_DAILY
from aggregates.signups import TABLE as SIGNUPS_DAILY
from jobs.registry import queries
from schemas.tables import SHOWS, USER_SHOW_DAILY, TableDef
from viewership import query
from viewership.catalog import load_catalog
from viewership.config import Settings, load_settings, prepare_sqlite_catalog
from viewership.errors import UsageError
from viewership.output import NO_ROWS, render

D0 = date(2024, 2, 29)  # before the period
D1 = date(2024, 3, 1)
D2 = date(2024, 3, 2)
D3 = date(2024, 3, 3)
D4 = date(2024, 3, 4)  # after the period
START, END = D1, D3

TOP_COLUMNS = ["rank", "show_id", "title", "viewers", "hours_viewed"]
GENRE_COLUMNS = ["region", "genre", "rank", "viewers", "hours_viewed"]

# (show_id, title, genres). s3 lists Comedy twice: it still counts once toward Comedy.
# s9 is watched but missing from silver.shows: no title, no genre.
SHOWS_ROWS = [
    ("s1", "Alpha", ["Drama", "Comedy"]),
    ("s2", "Beta", ["Drama"]),
    ("s3", "Gamma", ["Comedy", "Comedy"]),
    ("s4", "Delta", ["Documentary"]),
    ("s5", "Épsilon 映画", ["Drama", "Thriller"]),
    ("s6", "Zeta", ["Comedy"]),
    ("s7", "Eta", ["Horror"]),
    ("s8", "Theta", ["Horror"]),
    ("s10", "Iota", ["Animation"]),
]

# (event_date, user_id, show_id, region, watch_seconds): one gold row each.
FACT_ROWS = [
    (D1, "u1", "s1", "UCAN", 300),
    (D1, "u2", "s1", "UCAN", 200),
    (D2, "u3", "s1", "EMEA", 130),
    (D3, "u1", "s1", "UCAN", 200),  # u1 again on another day: still one viewer
    (D1, "u1", "s2", "UCAN", 150),
    (D2, "u2", "s2", "EMEA", 5150),  # u2 watched s1 on D1: a co-watch across days
    (D3, "u4", "s2", "EMEA", 100),  # not qualified: hours count, the viewer does not
    (D1, "u1", "s3", "UCAN", 500),
    (D3, "u5", "s3", "APAC", 500),
    (D2, "u1", "s4", "UCAN", 400),
    (D2, "u6", "s4", "LATAM", 600),
    (D2, "u6", "s10", "LATAM", 600),  # "s10" < "s4" as strings
    # 70 + 60 = 130 qualifies overall, neither region alone does.
    (D2, "u7", "s5", "UCAN", 70),
    (D2, "u7", "s5", "EMEA", 60),
    (D3, "u2", "s6", "APAC", 119),  # one second short: viewers 0
    (D1, "u8", "s9", "UCAN", 50),
    (D1, "u10", "s7", "APAC", 10),  # s7 and s8 both round to 0.0 hours,
    (D1, "u10", "s8", "APAC", 12),  # yet s8 ranks first on its exact seconds
    # Outside the period: each would change an answer if the boundary leaked.
    (D0, "u9", "s4", "UCAN", 10_000),
    (D4, "u9", "s9", "UCAN", 10_000),
    (D4, "u3", "s2", "EMEA", 500),
]

# (signup_date, region, plan, new_users)
SIGNUP_ROWS = [
    (D0, "UCAN", "basic", 5),
    (D1, "UCAN", "basic", 2),
    (D1, "EMEA", "premium", 1),
    (D2, "UCAN", "standard", 3),
    (D2, "APAC", "basic", 1),
    (D3, "EMEA", "basic", 4),
    (D3, "LATAM", "standard_with_ads", 0),  # a zero row makes no region or plan row
    (D4, "LATAM", "premium", 7),
]

TOP_SHOWS = [
    {"rank": 1, "show_id": "s1", "title": "Alpha", "viewers": 3, "hours_viewed": 0.23},
    {"rank": 2, "show_id": "s2", "title": "Beta", "viewers": 2, "hours_viewed": 1.5},
    # s3 and s4: same viewers, same seconds: show_id decides.
    {"rank": 3, "show_id": "s3", "title": "Gamma", "viewers": 2, "hours_viewed": 0.28},
    {"rank": 4, "show_id": "s4", "title": "Delta", "viewers": 2, "hours_viewed": 0.28},
    {"rank": 5, "show_id": "s10", "title": "Iota", "viewers": 1, "hours_viewed": 0.17},
    {"rank": 6, "show_id": "s5", "title": "Épsilon 映画", "viewers": 1, "hours_viewed": 0.04},
    {"rank": 7, "show_id": "s6", "title": "Zeta", "viewers": 0, "hours_viewed": 0.03},
    {"rank": 8, "show_id": "s9", "title": None, "viewers": 0, "hours_viewed": 0.01},
    {"rank": 9, "show_id": "s8", "title": "Theta", "viewers": 0, "hours_viewed": 0.0},
    {"rank": 10, "show_id": "s7", "title": "Eta", "viewers": 0, "hours_viewed": 0.0},
]

GENRES = [
    {"region": "APAC", "genre": "Comedy", "rank": 1, "viewers": 1, "hours_viewed": 0.17},
    {"region": "APAC", "genre": "Horror", "rank": 2, "viewers": 0, "hours_viewed": 0.01},
    {"region": "EMEA", "genre": "Drama", "rank": 1, "viewers": 2, "hours_viewed": 1.51},
    {"region": "EMEA", "genre": "Comedy", "rank": 2, "viewers": 1, "hours_viewed": 0.04},
    {"region": "EMEA", "genre": "Thriller", "rank": 3, "viewers": 0, "hours_viewed": 0.02},
    # Same viewers and seconds: the genre name decides.
    {"region": "LATAM", "genre": "Animation", "rank": 1, "viewers": 1, "hours_viewed": 0.17},
    {"region": "LATAM", "genre": "Documentary", "rank": 2, "viewers": 1, "hours_viewed": 0.17},
    # Same viewers: hours decide (Comedy 1200 s, Drama 920 s).
    {"region": "UCAN", "genre": "Comedy", "rank": 1, "viewers": 2, "hours_viewed": 0.33},
    {"region": "UCAN", "genre": "Drama", "rank": 2, "viewers": 2, "hours_viewed": 0.26},
    {"region": "UCAN", "genre": "Documentary", "rank": 3, "viewers": 1, "hours_viewed": 0.11},
    {"region": "UCAN", "genre": "Thriller", "rank": 4, "viewers": 0, "hours_viewed": 0.02},
]

CO_WATCH = [
    {"rank": 1, "show_a": "s1", "show_b": "s2", "co_viewers": 2},
    {"rank": 2, "show_a": "s1", "show_b": "s3", "co_viewers": 1},
    {"rank": 3, "show_a": "s1", "show_b": "s4", "co_viewers": 1},
    {"rank": 4, "show_a": "s10", "show_b": "s4", "co_viewers": 1},
    {"rank": 5, "show_a": "s2", "show_b": "s3", "co_viewers": 1},
    {"rank": 6, "show_a": "s2", "show_b": "s4", "co_viewers": 1},
    {"rank": 7, "show_a": "s3", "show_b": "s4", "co_viewers": 1},
]


def _arrow(table: TableDef, rows: list[dict[str, object]]) -> pa.Table:
    """Rows in the Arrow schema PyIceberg expects, required flags included."""
    return pa.Table.from_pylist(
        rows, schema=schema_to_pyarrow(table.schema, include_field_ids=False)
    )


def _fact_rows(
    fact: list[tuple[date, str, str, str, int]] = FACT_ROWS,
) -> list[dict[str, object]]:
    """Gold fact rows with both flags derived the way the gold job defines them."""
    totals: dict[tuple[date, str, str], int] = {}
    for day, user, show, _, seconds in fact:
        totals[(day, user, show)] = totals.get((day, user, show), 0) + seconds
    return [
        {
            "event_date": day,
            "user_id": user,
            "show_id": show,
            "region": region,
            "watch_seconds": seconds,
            "qualified": totals[(day, user, show)] >= 120,
            "qualified_in_region": seconds >= 120,
        }
        for day, user, show, region, seconds in fact
    ]


def _fresh_home(tmp_path: Path) -> tuple[Settings, Catalog]:
    """A new home with the tables the queries read, created empty through PyIceberg (no JVM)."""
    settings = load_settings(tmp_path / "home", env={})
    catalog = load_catalog(settings)
    for table in (SHOWS, USER_SHOW_DAILY, SIGNUPS_DAILY, ACTIVE_DAILY):
        catalog.create_namespace_if_not_exists(table.namespace)
        catalog.create_table(
            table.identifier,
            schema=table.schema,
            partition_spec=table.partition_spec,
            sort_order=table.sort_order,
            properties=table.properties,
        )
    return settings, catalog


@pytest.fixture()
def home(tmp_path: Path) -> Settings:
    """A fresh home holding the hand-made gold and silver data."""
    settings, catalog = _fresh_home(tmp_path)
    shows = [
        {
            "show_id": show,
            "title": title,
            "genres": genres,
            "type": "series",
            "release_year": 2020,
            "snapshot_date": D1,
            "run_id": "test",
        }
        for show, title, genres in SHOWS_ROWS
    ]
    signups = [
        {"signup_date": day, "region": region, "plan": plan, "new_users": n}
        for day, region, plan, n in SIGNUP_ROWS
    ]
    catalog.load_table(SHOWS.identifier).append(_arrow(SHOWS, shows))
    catalog.load_table(USER_SHOW_DAILY.identifier).append(_arrow(USER_SHOW_DAILY, _fact_rows()))
    catalog.load_table(SIGNUPS_DAILY.identifier).append(_arrow(SIGNUPS_DAILY, signups))
    return settings


# --- the four answers ----------------------------------------------------------------------


def test_every_declared_query_answers_an_empty_home_with_no_rows(tmp_path: Path) -> None:
    settings, _ = _fresh_home(tmp_path)
    for name, declared in queries().items():
        options = {o.dest: o.settings.get("default") for o in declared.options}
        rows = declared.answer(settings, START, END, **options)
        assert rows in ([], [{"new_users": 0}]), name


def test_binge_viewers_are_users_with_3_hours_of_a_show_on_a_day_of_the_period(
    tmp_path: Path,
) -> None:
    settings, catalog = _fresh_home(tmp_path)
    fact = [
        (D1, "u1", "s1", "UCAN", 6000),
        (D1, "u1", "s1", "EMEA", 4800),  # 3 hours over two regions
        (D2, "u1", "s1", "UCAN", 10_800),  # again another day: still one user
        (D2, "u2", "s1", "UCAN", 10_799),
        (D3, "u3", "s2", "APAC", 20_000),
        (D2, "u5", "s2", "LATAM", 11_000),
        (D1, "u6", "s3", "UCAN", 5400),
        (D2, "u6", "s3", "UCAN", 5400),  # 3 hours, but over two days
        (D4, "u4", "s1", "APAC", 20_000),  # after the period
    ]
    catalog.load_table(USER_SHOW_DAILY.identifier).append(_arrow(USER_SHOW_DAILY, _fact_rows(fact)))
    binge = queries()["binge-viewers"]
    assert binge.answer(settings, START, END) == [
        {"rank": 1, "show_id": "s2", "binge_viewers": 2},
        {"rank": 2, "show_id": "s1", "binge_viewers": 1},
    ]
    assert binge.answer(settings, START, END, limit=1) == [
        {"rank": 1, "show_id": "s2", "binge_viewers": 2}
    ]


def test_active_viewers_add_up_days_and_average_over_the_whole_period(tmp_path: Path) -> None:
    settings, catalog = _fresh_home(tmp_path)
    daily = [
        (D0, "UCAN", "tv", 50),  # before the period
        (D1, "UCAN", "tv", 3),
        (D3, "UCAN", "tv", 4),  # no row on D2: a day of zero
        (D2, "UCAN", "web", 1),
        (D1, "EMEA", "mobile", 2),
    ]
    rows = [{"event_date": d, "region": r, "device": v, "active_viewers": n,
             "watch_seconds": 60 * n} for d, r, v, n in daily]  # fmt: skip
    catalog.load_table(ACTIVE_DAILY.identifier).append(_arrow(ACTIVE_DAILY, rows))
    assert queries()["active-viewers"].answer(settings, START, END) == [
        {"region": "EMEA", "device": "mobile", "viewer_days": 2, "avg_daily_viewers": 0.67},
        {"region": "UCAN", "device": "tv", "viewer_days": 7, "avg_daily_viewers": 2.33},
        {"region": "UCAN", "device": "web", "viewer_days": 1, "avg_daily_viewers": 0.33},
    ]


def test_top_shows(home: Settings) -> None:
    assert query.top_shows(home, START, END) == TOP_SHOWS


def test_top_shows_limit(home: Settings) -> None:
    assert query.top_shows(home, START, END, limit=3) == TOP_SHOWS[:3]


def test_top_shows_single_day_boundary(home: Settings) -> None:
    assert query.top_shows(home, D4, D4) == [
        {"rank": 1, "show_id": "s9", "title": None, "viewers": 1, "hours_viewed": 2.78},
        {"rank": 2, "show_id": "s2", "title": "Beta", "viewers": 1, "hours_viewed": 0.14},
    ]


def test_top_shows_keys_in_contract_order(home: Settings) -> None:
    assert [list(row) for row in query.top_shows(home, START, END, limit=1)] == [TOP_COLUMNS]


def test_genres_every_region(home: Settings) -> None:
    rows = query.genres(home, START, END)
    assert rows == GENRES
    assert [list(row) for row in rows] == [GENRE_COLUMNS] * len(GENRES)


def test_genres_limit_counts_rows_per_region(home: Settings) -> None:
    assert query.genres(home, START, END, limit=1) == [row for row in GENRES if row["rank"] == 1]


@pytest.mark.parametrize("region", ["EMEA", "emea"])
def test_genres_one_region(home: Settings, region: str) -> None:
    assert query.genres(home, START, END, region=region) == [
        row for row in GENRES if row["region"] == "EMEA"
    ]


def test_genres_region_and_limit(home: Settings) -> None:
    assert query.genres(home, START, END, region="UCAN", limit=2) == GENRES[7:9]


def test_co_watch(home: Settings) -> None:
    assert query.co_watch(home, START, END) == CO_WATCH


def test_co_watch_limit(home: Settings) -> None:
    assert query.co_watch(home, START, END, limit=2) == CO_WATCH[:2]


def test_co_watch_across_days_needs_both_in_period(home: Settings) -> None:
    # u2 qualified on s1 (D1) and s2 (D2); u1 on s1 (D1) and s2 (D1); u3's s2 is on D4.
    assert query.co_watch(home, D2, D2) == [
        {"rank": 1, "show_a": "s10", "show_b": "s4", "co_viewers": 1},
    ]
    assert query.co_watch(home, D1, D4, limit=1) == [
        {"rank": 1, "show_a": "s1", "show_b": "s2", "co_viewers": 3},
    ]


def test_signups_total(home: Settings) -> None:
    assert query.signups(home, START, END) == [{"new_users": 11}]
    assert query.signups(home, START, END, by="total") == [{"new_users": 11}]


def test_signups_by_day(home: Settings) -> None:
    assert query.signups(home, START, END, by="day") == [
        {"date": "2024-03-01", "new_users": 3},
        {"date": "2024-03-02", "new_users": 4},
        {"date": "2024-03-03", "new_users": 4},
    ]


def test_signups_by_region(home: Settings) -> None:
    assert query.signups(home, START, END, by="region") == [
        {"region": "APAC", "new_users": 1},
        {"region": "EMEA", "new_users": 5},
        {"region": "UCAN", "new_users": 5},
    ]


def test_signups_by_plan(home: Settings) -> None:
    assert query.signups(home, START, END, by="plan") == [
        {"plan": "basic", "new_users": 7},
        {"plan": "premium", "new_users": 1},
        {"plan": "standard", "new_users": 3},
    ]


# --- empty answers -------------------------------------------------------------------------

EMPTY_START, EMPTY_END = date(2025, 1, 1), date(2025, 1, 7)


def _assert_empty(settings: Settings) -> None:
    assert query.top_shows(settings, EMPTY_START, EMPTY_END) == []
    assert query.genres(settings, EMPTY_START, EMPTY_END) == []
    assert query.genres(settings, EMPTY_START, EMPTY_END, region="APAC") == []
    assert query.co_watch(settings, EMPTY_START, EMPTY_END) == []
    assert query.signups(settings, EMPTY_START, EMPTY_END) == [{"new_users": 0}]
    for by in ("day", "region", "plan"):
        assert query.signups(settings, EMPTY_START, EMPTY_END, by=by) == []


def test_period_without_data_is_empty(home: Settings) -> None:
    _assert_empty(home)


def test_tables_created_but_empty(tmp_path: Path) -> None:
    settings, _ = _fresh_home(tmp_path)
    _assert_empty(settings)


def test_home_without_catalog_is_empty_and_left_untouched(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    _assert_empty(settings)
    assert list(tmp_path.iterdir()) == []


def test_a_catalog_file_with_no_table_yet_is_empty(tmp_path: Path) -> None:
    # Given the embedded catalog's file as a first Spark session leaves it before any table
    settings = load_settings(tmp_path, env={})
    prepare_sqlite_catalog(settings)
    # Then every answer is empty, and reading created nothing in it
    _assert_empty(settings)
    catalog_file = settings.catalog_uri.removeprefix("jdbc:sqlite:")
    with closing(sqlite3.connect(catalog_file)) as connection:
        assert connection.execute("SELECT name FROM sqlite_master").fetchall() == []


# --- bad arguments -------------------------------------------------------------------------


def test_missing_home_is_a_usage_error(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "nowhere", env={})
    with pytest.raises(UsageError, match="does not exist"):
        query.top_shows(settings, START, END)
    assert not (tmp_path / "nowhere").exists()


def test_a_region_reaches_sql_as_a_bound_value_never_as_text(
    home: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile = "UCAN' OR '1'='1"
    with pytest.raises(UsageError, match="unknown region"):
        query.genres(home, START, END, region=hostile)
    # Even a region list that held it would bind it as a value: it matches no row instead of
    # widening the answer to every region.
    monkeypatch.setattr(query, "regions", lambda: ("UCAN", hostile))
    assert query.genres(home, START, END, region=hostile) == []
    assert query.genres(home, START, END, region="UCAN") == GENRES[7:]


def test_unknown_region_lists_the_known_ones(home: Settings) -> None:
    with pytest.raises(UsageError) as caught:
        query.genres(home, START, END, region="MARS")
    message = str(caught.value)
    assert "MARS" in message and "\n" not in message
    for region in ("APAC", "EMEA", "LATAM", "UCAN"):
        assert region in message


def test_unknown_by_is_a_usage_error(home: Settings) -> None:
    with pytest.raises(UsageError, match="week"):
        query.signups(home, START, END, by="week")


def test_limit_below_one_is_a_usage_error(home: Settings) -> None:
    with pytest.raises(UsageError, match="limit"):
        query.co_watch(home, START, END, limit=0)


def test_end_before_start_is_a_usage_error(home: Settings) -> None:
    with pytest.raises(UsageError, match="before"):
        query.top_shows(home, END, START)


def test_duckdb_never_draws_a_progress_bar() -> None:
    # DuckDB prints it on standard output (even when not a terminal) for queries over 2 s.
    con = query.connect()
    assert con.execute("SELECT current_setting('enable_progress_bar')").fetchone() == (False,)
    con.close()


# --- output formats ------------------------------------------------------------------------


def test_json_round_trips() -> None:
    text = render(TOP_SHOWS, "json", TOP_COLUMNS)
    assert json.loads(text) == TOP_SHOWS
    assert [list(obj) for obj in json.loads(text)] == [TOP_COLUMNS] * len(TOP_SHOWS)
    assert '"hours_viewed": 1.5' in text  # a number, not a string
    assert text.count("\n") == 0


def test_json_keeps_column_order_and_empty_answer() -> None:
    rows = [{"new_users": 3, "date": "2024-03-01"}]
    assert render(rows, "json", ["date", "new_users"]) == '[{"date": "2024-03-01", "new_users": 3}]'
    assert render([], "json", TOP_COLUMNS) == "[]"
    assert render([{"new_users": 0}], "json", ["new_users"]) == '[{"new_users": 0}]'


def test_csv_has_header_and_rows() -> None:
    text = render(TOP_SHOWS, "csv", TOP_COLUMNS)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == TOP_COLUMNS
    assert parsed[1] == ["1", "s1", "Alpha", "3", "0.23"]
    assert parsed[8] == ["8", "s9", "", "0", "0.01"]  # a missing title is an empty field
    assert len(parsed) == 1 + len(TOP_SHOWS)
    assert render([], "csv", GENRE_COLUMNS) == ",".join(GENRE_COLUMNS)


def test_table_has_header_and_aligned_rows() -> None:
    lines = render(TOP_SHOWS, "table", TOP_COLUMNS).splitlines()
    assert lines[0].split() == TOP_COLUMNS
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + len(TOP_SHOWS)
    assert lines[2].split() == ["1", "s1", "Alpha", "3", "0.23"]
    assert lines[3].endswith("1.50")
    # Right-aligned numbers: every row's hours end in the same column as the header's.
    assert {len(line) for line in (lines[0], lines[2], lines[3], lines[10])} == {len(lines[0])}


def test_table_for_an_empty_answer() -> None:
    assert render([], "table", TOP_COLUMNS) == NO_ROWS


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="xml"):
        render(TOP_SHOWS, "xml", TOP_COLUMNS)


# --- cross-check against a plain-Python reference on random data ----------------------------


def _reference(
    facts: list[dict[str, object]], genres_of: dict[str, list[str]], start: date, end: date
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
    """Top shows, genres by region and co-watch computed the obvious way, every row."""
    seconds: dict[str, int] = {}
    viewers: dict[str, set[str]] = {}
    region_seconds: dict[tuple[str, str], int] = {}
    region_viewers: dict[tuple[str, str], set[str]] = {}
    watched: dict[str, set[str]] = {}
    for f in facts:
        day, user, show, region = f["event_date"], f["user_id"], f["show_id"], f["region"]
        ws = f["watch_seconds"]
        assert isinstance(day, date) and isinstance(ws, int)
        assert isinstance(user, str) and isinstance(show, str) and isinstance(region, str)
        if not start <= day <= end:
            continue
        seconds[show] = seconds.get(show, 0) + ws
        viewers.setdefault(show, set())
        if f["qualified"]:
            viewers[show].add(user)
            watched.setdefault(user, set()).add(show)
        for genre in set(genres_of.get(show, [])):
            key = (region, genre)
            region_seconds[key] = region_seconds.get(key, 0) + ws
            region_viewers.setdefault(key, set())
            if f["qualified_in_region"]:
                region_viewers[key].add(user)
    top = sorted(seconds, key=lambda s: (-len(viewers[s]), -seconds[s], s))
    top_rows: list[dict[str, object]] = [
        {"show_id": s, "viewers": len(viewers[s]), "hours_viewed": round(seconds[s] / 3600, 2)}
        for s in top
    ]
    genre_rows: list[dict[str, object]] = []
    for region in sorted({r for r, _ in region_seconds}):
        keys = sorted(
            (k for k in region_seconds if k[0] == region),
            key=lambda k: (-len(region_viewers[k]), -region_seconds[k], k[1]),
        )
        genre_rows += [
            {
                "region": region,
                "genre": k[1],
                "rank": rank,
                "viewers": len(region_viewers[k]),
                "hours_viewed": round(region_seconds[k] / 3600, 2),
            }
            for rank, k in enumerate(keys, 1)
        ]
    pairs: dict[tuple[str, str], int] = {}
    for shows in watched.values():
        for a in shows:
            for b in shows:
                if a < b:
                    pairs[(a, b)] = pairs.get((a, b), 0) + 1
    co_rows: list[dict[str, object]] = [
        {"show_a": a, "show_b": b, "co_viewers": n}
        for (a, b), n in sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    ]
    return top_rows, genre_rows, co_rows


def test_random_data_matches_a_python_reference(tmp_path: Path) -> None:
    rng = random.Random(20240301)
    settings, catalog = _fresh_home(tmp_path)
    shows = [f"s{i}" for i in range(14)]
    genre_names = ["Drama", "Comedy", "Horror", "Anime"]
    genres_of = {s: rng.sample(genre_names, rng.randint(1, 2)) for s in shows[:-1]}  # one untitled
    days = [D1, D2, D3, D4]
    cells: dict[tuple[date, str, str, str], int] = {}
    for _ in range(400):
        # Skewed popularity, so the co-watch bound prunes unpopular shows for small limits.
        show = shows[min(int(rng.expovariate(0.35)), len(shows) - 1)]
        key = (rng.choice(days), f"u{rng.randrange(40)}", show, rng.choice(["UCAN", "EMEA"]))
        cells[key] = cells.get(key, 0) + rng.choice([0, 30, 60, 90, 150, 400])
    totals: dict[tuple[date, str, str], int] = {}
    for (day, user, show, _), ws in cells.items():
        totals[(day, user, show)] = totals.get((day, user, show), 0) + ws
    facts: list[dict[str, object]] = [
        {
            "event_date": day,
            "user_id": user,
            "show_id": show,
            "region": region,
            "watch_seconds": ws,
            "qualified": totals[(day, user, show)] >= 120,
            "qualified_in_region": ws >= 120,
        }
        for (day, user, show, region), ws in cells.items()
    ]
    show_rows = [
        {
            "show_id": s,
            "title": s.upper(),
            "genres": g,
            "type": "film",
            "release_year": 2001,
            "snapshot_date": D1,
            "run_id": "test",
        }
        for s, g in genres_of.items()
    ]
    catalog.load_table(SHOWS.identifier).append(_arrow(SHOWS, show_rows))
    catalog.load_table(USER_SHOW_DAILY.identifier).append(_arrow(USER_SHOW_DAILY, facts))

    for start, end in [(D1, D4), (D2, D3)]:
        top, genre_rows, co_rows = _reference(facts, genres_of, start, end)
        got = query.top_shows(settings, start, end, limit=100)
        assert [{k: r[k] for k in ("show_id", "viewers", "hours_viewed")} for r in got] == top
        assert query.genres(settings, start, end, limit=100) == genre_rows
        assert len(co_rows) > 20
        for limit in (1, 2, 3, 5, 10, 1000):
            got_pairs = query.co_watch(settings, start, end, limit=limit)
            assert [r["rank"] for r in got_pairs] == list(range(1, len(got_pairs) + 1))
            assert [{k: r[k] for k in ("show_a", "show_b", "co_viewers")} for r in got_pairs] == (
                co_rows[:limit]
            )
        # Co-watch has no stored table to gate, so its invariants are checked here: pairs are
        # ordered, and no pair has more viewers than either of its shows.
        viewers = {r["show_id"]: r["viewers"] for r in got}
        for pair in query.co_watch(settings, start, end, limit=1000):
            assert pair["show_a"] < pair["show_b"]
            assert 1 <= pair["co_viewers"] <= min(viewers[pair["show_a"]], viewers[pair["show_b"]])


# --- how a scan is read ---------------------------------------------------------------------


def _sorted(rows: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return sorted(tuple(row.values()) for row in rows)


def test_duckdb_reads_the_planned_files_and_keeps_exactly_the_filtered_rows(
    home: Settings,
) -> None:
    """The files a partition filter keeps also hold rows the filter drops (here the unqualified
    ones): the SQL filter on DuckDB's scan must drop them exactly as PyIceberg's reader does."""
    reader = query.Reader.open(home)
    columns = ("event_date", "user_id", "show_id", "qualified")
    row_filter = And(query.period_filter("event_date", D2, D3), EqualTo("qualified", True))
    files = reader.relation(USER_SHOW_DAILY, columns, row_filter)
    assert isinstance(files, query.ParquetFiles)
    read = query.run_sql("SELECT * FROM facts", {"facts": files}, {})
    whole = query.run_sql("SELECT * FROM facts", {"facts": replace(files, where="true")}, {})
    assert _sorted(read) == _sorted(reader.scan(USER_SHOW_DAILY, columns, row_filter).to_pylist())
    assert read and len(whole) > len(read)
    assert {row["event_date"] for row in whole} == {D2, D3}  # other dates' files were pruned


def test_a_column_added_after_the_data_was_written_is_read_by_pyiceberg(home: Settings) -> None:
    """Older files lack a column added later; DuckDB would fail on it or misplace it, so the
    scan that selects it goes through PyIceberg (nulls for the old rows), and the scans that
    do not still go to DuckDB."""
    table = load_catalog(home).load_table(USER_SHOW_DAILY.identifier)
    with table.update_schema() as update:
        update.add_column("device", StringType())
    reader = query.Reader.open(home)
    added = reader.relation(USER_SHOW_DAILY, ("user_id", "device"))
    assert isinstance(added, pa.Table)
    assert added.num_rows == len(FACT_ROWS) and added.column("device").null_count == len(FACT_ROWS)
    assert isinstance(reader.relation(USER_SHOW_DAILY, ("user_id",)), query.ParquetFiles)
    assert query.top_shows(home, START, END) == TOP_SHOWS


@pytest.mark.parametrize(
    ("row_filter", "sql"),
    [
        (EqualTo("qualified", True), '"qualified" = true'),
        (EqualTo("region", "O'Hare"), "\"region\" = 'O''Hare'"),
        (
            query.period_filter("event_date", D1, D3),
            "(\"event_date\" >= '2024-03-01' AND \"event_date\" <= '2024-03-03')",
        ),
        (In("region", ["UCAN", "EMEA"]), None),  # not translated: PyIceberg reads the table
    ],
)
def test_scan_filters_in_sql(row_filter: BooleanExpression, sql: str | None) -> None:
    assert query._sql_filter(row_filter) == sql


def test_a_filter_not_translated_to_sql_is_read_by_pyiceberg(home: Settings) -> None:
    reader = query.Reader.open(home)
    relation = reader.relation(SHOWS, ("show_id",), In("show_id", ["s1", "s4"]))
    assert isinstance(relation, pa.Table)
    assert sorted(relation.column("show_id").to_pylist()) == ["s1", "s4"]


# --- an independent engine over the same files -----------------------------------------------


@pytest.mark.parametrize("name", ["top-shows", "genres", "co-watch", "signups"])
def test_duckdb_reading_the_data_files_agrees_with_each_answer(home: Settings, name: str) -> None:
    """The benchmark's baseline (DuckDB scanning the Parquet files PyIceberg plans) gives the
    command line's answer: the harness compares the two engines on answers that are equal."""
    from benchmarks.__main__ import QUERIES, same_answer
    from benchmarks.duckdb_answer import answer

    theirs = answer(home, name, START, END)
    words = QUERIES[name]
    ours = {
        "top-shows": lambda: query.top_shows(home, START, END, limit=int(words[-1])),
        "genres": lambda: query.genres(home, START, END, limit=int(words[-1])),
        "co-watch": lambda: query.co_watch(home, START, END, limit=int(words[-1])),
        "signups": lambda: query.signups(home, START, END, by=words[-1]),
    }[name]()
    assert ours and same_answer(name, ours, theirs)
    assert not same_answer(name, ours, theirs[1:] + theirs[:1]) or len(theirs) == 1
