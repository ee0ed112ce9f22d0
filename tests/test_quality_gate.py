"""The gate's suites on crafted batches: a clean batch passes, and every check catches its break.

Each case starts from a small batch that passes its table's suite and breaks one rule; real GX
validates it (the same file context and checkpoints a run uses), and exactly the checks named
must fail, at their configured severity.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession

from aggregates import (
    binge_viewers,
    co_watch,
    daily_active_viewers,
    genres_by_region,
    signups,
    top_shows,
)
from data_quality import batches as B
from data_quality import gate
from data_quality.suites import DEFAULT_WARN, Parameters, check_names
from jobs.registry import all_suites
from schemas import tables as T
from viewership.config import Settings
from viewership.errors import UsageError

SUITES = all_suites()
TOP, GENRES, SIGNUPS_DAILY, ACTIVE, BINGE, CO_WATCH = (
    a.TABLE.identifier
    for a in (top_shows, genres_by_region, signups, daily_active_viewers, binge_viewers, co_watch)
)
D = date(2026, 11, 2)
TS = datetime(2026, 11, 2, 10, tzinfo=UTC)
PARAMS = Parameters(
    arrival_date=D.isoformat(),
    max_bad_ratio=0.05,
    volume_low=0.5,
    volume_high=2.0,
    freshness_hours=24.0,
)

Row = dict[str, Any]

RAW = "arrival_date date, source_file string, line_number long, raw_line binary, run_id string"
GOOD: dict[str, tuple[str, list[Row]]] = {
    "raw": (RAW, [
        {"arrival_date": D, "source_file": "a.jsonl", "line_number": 1, "raw_line": b"{}",
         "run_id": "r"},
        {"arrival_date": D, "source_file": "a.jsonl", "line_number": 2, "raw_line": b"x",
         "run_id": "r"},
    ]),
    T.QUARANTINE.identifier: (
        "feed string, arrival_date date, source_file string, line_number long, raw_line binary,"
        " reason string, field string, detail string, run_id string",
        [{"feed": "signups", "arrival_date": D, "source_file": "a.jsonl", "line_number": 2,
          "raw_line": b"x", "reason": "invalid_json", "field": None, "detail": "not JSON",
          "run_id": "r"}],
    ),
    T.SHOWS.identifier: (
        "show_id string, title string, genres array<string>, type string, release_year long,"
        " snapshot_date date, run_id string, genre_count int",
        [{"show_id": "s1", "title": "Alpha", "genres": ["drama"], "type": "film",
          "release_year": 2020, "snapshot_date": D, "run_id": "r", "genre_count": 1},
         {"show_id": "s2", "title": "Beta", "genres": ["kids", "drama"], "type": "series",
          "release_year": 2021, "snapshot_date": D, "run_id": "r", "genre_count": 2}],
    ),
    T.VIEWING_EVENTS.identifier: (
        "event_id string, user_id string, show_id string, event_ts timestamp, watch_seconds int,"
        " device string, country string, region string, arrival_date date, source_file string,"
        " run_id string, arrival_lag_days int, show_in_catalog boolean",
        [{"event_id": f"e{i}", "user_id": "u1", "show_id": "s1", "event_ts": TS,
          "watch_seconds": 300, "device": "tv", "country": "US", "region": "UCAN",
          "arrival_date": D, "source_file": "a.jsonl", "run_id": "r", "arrival_lag_days": 0,
          "show_in_catalog": True} for i in range(2)],
    ),
    T.SIGNUPS.identifier: (
        "user_id string, signup_ts timestamp, country string, region string, plan string,"
        " arrival_date date, source_file string, run_id string, arrival_lag_days int",
        [{"user_id": "u1", "signup_ts": TS, "country": "FR", "region": "EMEA", "plan": "basic",
          "arrival_date": D, "source_file": "a.jsonl", "run_id": "r", "arrival_lag_days": 0}],
    ),
    T.USER_SHOW_DAILY.identifier: (
        "event_date date, user_id string, show_id string, region string, watch_seconds long,"
        " qualified boolean, qualified_in_region boolean, silver_seconds long",
        [{"event_date": D, "user_id": "u1", "show_id": "s1", "region": "UCAN",
          "watch_seconds": 100, "qualified": True, "qualified_in_region": False,
          "silver_seconds": 100},
         {"event_date": D, "user_id": "u1", "show_id": "s1", "region": "EMEA",
          "watch_seconds": 130, "qualified": True, "qualified_in_region": True,
          "silver_seconds": 130}],
    ),
    TOP: (
        "event_date date, show_id string, viewers long, watch_seconds long, hours_viewed double,"
        " fact_viewers long, fact_seconds long",
        [{"event_date": D, "show_id": "s1", "viewers": 1, "watch_seconds": 230,
          "hours_viewed": 230 / 3600, "fact_viewers": 1, "fact_seconds": 230}],
    ),
    GENRES: (
        "event_date date, genre string, region string, viewers long, watch_seconds long,"
        " hours_viewed double, genre_seconds long, shows_seconds long, genre_show_viewers long",
        [{"event_date": D, "genre": "drama", "region": "UCAN", "viewers": 0,
          "watch_seconds": 100, "hours_viewed": 100 / 3600, "genre_seconds": 230,
          "shows_seconds": 230, "genre_show_viewers": 1},
         {"event_date": D, "genre": "drama", "region": "EMEA", "viewers": 1,
          "watch_seconds": 130, "hours_viewed": 130 / 3600, "genre_seconds": 230,
          "shows_seconds": 230, "genre_show_viewers": 1}],
    ),
    SIGNUPS_DAILY: (
        "signup_date date, region string, plan string, new_users long, silver_new_users long",
        [{"signup_date": D, "region": "EMEA", "plan": "basic", "new_users": 1,
          "silver_new_users": 1}],
    ),
    ACTIVE: (
        "event_date date, region string, device string, active_viewers long,"
        " watch_seconds long, devices_seconds long, events_seconds long, region_users long",
        [{"event_date": D, "region": "UCAN", "device": "tv", "active_viewers": 1,
          "watch_seconds": 200, "devices_seconds": 300, "events_seconds": 300,
          "region_users": 2},
         {"event_date": D, "region": "UCAN", "device": "mobile", "active_viewers": 2,
          "watch_seconds": 100, "devices_seconds": 300, "events_seconds": 300,
          "region_users": 2}],
    ),
    BINGE: (
        "event_date date, show_id string, region string, binge_viewers long,"
        " binge_seconds long, show_binge_seconds long, most_regional_binge_viewers long,"
        " show_viewers long",
        [{"event_date": D, "show_id": "s1", "region": "UCAN", "binge_viewers": 1,
          "binge_seconds": 7000, "show_binge_seconds": 12000,
          "most_regional_binge_viewers": 1, "show_viewers": 2},
         {"event_date": D, "show_id": "s1", "region": "EMEA", "binge_viewers": 1,
          "binge_seconds": 5000, "show_binge_seconds": 12000,
          "most_regional_binge_viewers": 1, "show_viewers": 2}],
    ),
    CO_WATCH: (
        "event_date date, show_a string, show_b string, co_viewers long, viewers_a long,"
        " viewers_b long",
        [{"event_date": D, "show_a": "s1", "show_b": "s2", "co_viewers": 2, "viewers_a": 3,
          "viewers_b": 2}],
    ),
    T.RUN_LOG.identifier: (
        B.RUN_SCHEMA.simpleString().removeprefix("struct<").removesuffix(">").replace(":", " "),
        [{"feed": "viewing_events", "lines_read": 100, "accepted": 90, "duplicates": 5,
          "quarantined": 5, "raw_rows": 100, "quarantine_rows": 5, "silver_rows": 90,
          "bad_ratio": 0.05, "volume_ratio": 1.0, "newest_event_lag_hours": 1.0},
         {"feed": "signups", "lines_read": 0, "accepted": 0, "duplicates": 0,
          "quarantined": 0, "raw_rows": 0, "quarantine_rows": 0, "silver_rows": 0,
          "bad_ratio": 0.0, "volume_ratio": None, "newest_event_lag_hours": None}],
    ),
}  # fmt: skip


def _set(index: int = 0, **changes: Any) -> Callable[[list[Row]], list[Row]]:
    """Break a batch by changing some columns of one of its rows."""
    return lambda rows: [{**r, **changes} if i == index else r for i, r in enumerate(rows)]


def _copy_row(rows: list[Row]) -> list[Row]:
    return [*rows, dict(rows[0])]


def _nulls(*columns: str) -> Callable[[list[Row]], list[Row]]:
    return _set(**dict.fromkeys(columns))


RAW_BREAKS = {
    "source_file_not_null, line_number_not_null, raw_line_not_null, run_id_not_null": _nulls(
        "source_file", "line_number", "raw_line", "run_id"
    ),
    "arrival_date": _set(arrival_date=date(2026, 11, 1)),
    "line_number_positive": _set(line_number=0),
    "line_unique": _set(1, line_number=1),
}

# (table, the checks a break must fail, the break)
BREAKS: list[tuple[str, str, Callable[[list[Row]], list[Row]]]] = [
    *((raw.identifier, checks, broken) for raw in T.RAW_TABLES.values()
      for checks, broken in RAW_BREAKS.items()),
    (T.QUARANTINE.identifier,
     "source_file_not_null, line_number_not_null, raw_line_not_null, reason_not_null, "
     "detail_not_null",
     _nulls("source_file", "line_number", "raw_line", "reason", "detail")),
    (T.QUARANTINE.identifier, "feed_known", _set(feed="clicks")),
    (T.QUARANTINE.identifier, "reason_known", _set(reason="looked_odd")),
    (T.QUARANTINE.identifier, "arrival_date", _set(arrival_date=date(2026, 11, 3))),
    (T.QUARANTINE.identifier, "line_unique", _copy_row),
    (T.SHOWS.identifier, "title_not_null, type_not_null, release_year_not_null, "
     "snapshot_date_not_null", _nulls("title", "type", "release_year",
                                                  "snapshot_date")),
    (T.SHOWS.identifier, "show_id_length", _set(show_id="")),
    (T.SHOWS.identifier, "show_id_unique", _set(1, show_id="s1")),
    (T.SHOWS.identifier, "type_known", _set(type="podcast")),
    (T.SHOWS.identifier, "has_a_genre", _set(genres=[], genre_count=0)),
    (T.VIEWING_EVENTS.identifier, "event_ts_not_null, watch_seconds_not_null, device_not_null, "
     "country_not_null, arrival_date_not_null",
     _nulls("event_ts", "watch_seconds", "device", "country", "arrival_date",
            "arrival_lag_days")),
    (T.VIEWING_EVENTS.identifier, "event_id_length, user_id_length, show_id_length",
     _set(event_id="e" * 65, user_id="", show_id="")),
    (T.VIEWING_EVENTS.identifier, "event_id_unique", _set(1, event_id="e0")),
    (T.VIEWING_EVENTS.identifier, "watch_seconds_range", _set(watch_seconds=86_401)),
    (T.VIEWING_EVENTS.identifier, "watch_seconds_range", _set(watch_seconds=-1)),
    (T.VIEWING_EVENTS.identifier, "device_known", _set(device="TV")),
    (T.VIEWING_EVENTS.identifier, "country_code", _set(country="usa")),
    (T.VIEWING_EVENTS.identifier, "region_known", _set(region="MARS")),
    (T.VIEWING_EVENTS.identifier, "arrival_window", _set(arrival_lag_days=31)),
    (T.VIEWING_EVENTS.identifier, "arrival_window", _set(arrival_lag_days=-2)),
    (T.VIEWING_EVENTS.identifier, "show_in_catalog", _set(show_in_catalog=False)),
    (T.SIGNUPS.identifier, "signup_ts_not_null, country_not_null, arrival_date_not_null",
     _nulls("signup_ts", "country", "arrival_date", "arrival_lag_days")),
    (T.SIGNUPS.identifier, "user_id_length", _set(user_id="u" * 65)),
    (T.SIGNUPS.identifier, "user_id_unique", _copy_row),
    (T.SIGNUPS.identifier, "plan_known", _set(plan="gold")),
    (T.SIGNUPS.identifier, "region_known", _set(region="")),
    (T.SIGNUPS.identifier, "arrival_window", _set(arrival_lag_days=45)),
    (T.USER_SHOW_DAILY.identifier, "event_date_not_null, user_id_not_null, show_id_not_null, "
     "region_not_null, watch_seconds_not_null, seconds_match_silver",
     _nulls("event_date", "user_id", "show_id", "region", "watch_seconds")),
    (T.USER_SHOW_DAILY.identifier, "key_unique", _set(1, region="UCAN")),
    (T.USER_SHOW_DAILY.identifier, "watch_seconds_positive, seconds_match_silver",
     _set(watch_seconds=-5)),
    (T.USER_SHOW_DAILY.identifier, "region_known", _set(region="NOWHERE")),
    (T.USER_SHOW_DAILY.identifier, "qualified_consistent", _set(1, qualified=False)),
    (T.USER_SHOW_DAILY.identifier, "seconds_match_silver", _set(silver_seconds=None)),
    (TOP, "event_date_not_null, show_id_not_null", _nulls("event_date", "show_id")),
    (TOP, "key_unique", _copy_row),
    (TOP, "viewers_match_fact", _set(viewers=2)),
    (TOP, "viewers_match_fact", _set(fact_viewers=None)),
    (TOP, "seconds_match_fact", _set(fact_seconds=229)),
    (TOP, "hours_from_seconds", _set(hours_viewed=0.07)),
    (GENRES, "event_date_not_null, region_not_null, genre_not_null",
     _nulls("event_date", "region", "genre")),
    (GENRES, "key_unique", _set(1, region="UCAN")),
    (GENRES, "region_known", _set(region="MOON")),
    (GENRES, "viewers_range", _set(viewers=-1)),
    (GENRES, "hours_add_up", _set(shows_seconds=231)),
    (GENRES, "hours_add_up", _set(genre_seconds=None)),
    (GENRES, "viewers_within_shows", _set(1, viewers=2)),
    (GENRES, "hours_from_seconds", _set(hours_viewed=1.0)),
    (SIGNUPS_DAILY, "signup_date_not_null, region_not_null, plan_not_null",
     _nulls("signup_date", "region", "plan")),
    (SIGNUPS_DAILY, "key_unique", _copy_row),
    (SIGNUPS_DAILY, "new_users_positive, new_users_match_silver",
     _set(new_users=0)),
    (SIGNUPS_DAILY, "new_users_match_silver", _set(silver_new_users=None)),
    (SIGNUPS_DAILY, "plan_known", _set(plan="platinum")),
    (SIGNUPS_DAILY, "region_known", _set(region="ATLANTIS")),
    (ACTIVE, "event_date_not_null, region_not_null, device_not_null",
     _nulls("event_date", "region", "device")),
    (ACTIVE, "key_unique", _set(1, device="tv")),
    (ACTIVE, "region_known", _set(region="MARS")),
    (ACTIVE, "device_known", _set(device="TV")),
    (ACTIVE, "active_viewers_positive", _set(active_viewers=0)),
    (ACTIVE, "seconds_add_up", _set(events_seconds=299)),
    (ACTIVE, "seconds_add_up", _set(devices_seconds=None)),
    (ACTIVE, "viewers_within_region", _set(1, active_viewers=3)),
    (BINGE, "event_date_not_null, show_id_not_null, region_not_null",
     _nulls("event_date", "show_id", "region")),
    (BINGE, "key_unique", _set(1, region="UCAN")),
    (BINGE, "region_known", _set(region="MOON")),
    (BINGE, "binge_viewers_positive", _set(binge_viewers=0)),
    (BINGE, "binges_are_views", _set(binge_viewers=3)),
    (BINGE, "binges_are_views", _set(show_viewers=None)),
    (BINGE, "binge_hours_reached", _set(show_binge_seconds=10000)),
    (CO_WATCH, "event_date_not_null, show_a_not_null, show_b_not_null",
     _nulls("event_date", "show_a", "show_b")),
    (CO_WATCH, "key_unique", _copy_row),
    (CO_WATCH, "pair_ordered", _set(show_a="s3")),
    (CO_WATCH, "pair_ordered", _set(show_b="s1")),
    (CO_WATCH, "co_viewers_positive", _set(co_viewers=0)),
    (CO_WATCH, "co_viewers_within_shows", _set(viewers_b=1)),
    (CO_WATCH, "co_viewers_within_shows", _set(viewers_a=None)),
    (T.RUN_LOG.identifier, "reconciled", _set(duplicates=4)),
    (T.RUN_LOG.identifier, "raw_matches_lines_read", _set(raw_rows=99)),
    (T.RUN_LOG.identifier, "quarantine_matches", _set(quarantine_rows=4)),
    (T.RUN_LOG.identifier, "silver_matches_accepted", _set(silver_rows=91)),
    (T.RUN_LOG.identifier, "quarantine_share", _set(bad_ratio=0.0501)),
    (T.RUN_LOG.identifier, "volume", _set(volume_ratio=0.49)),
    (T.RUN_LOG.identifier, "volume", _set(volume_ratio=2.01)),
    (T.RUN_LOG.identifier, "freshness", _set(newest_event_lag_hours=24.5)),
]  # fmt: skip


def _good(table: str) -> tuple[str, list[Row]]:
    return GOOD["raw" if table in {t.identifier for t in T.RAW_TABLES.values()} else table]


def _validate(
    spark: SparkSession,
    home: Settings,
    table: str,
    rows: list[Row],
    explain: bool = True,
    **overrides: str,
) -> gate.GateReport:
    schema, _ = _good(table)
    batch = spark.createDataFrame(rows, schema)
    graded = dataclasses.replace(home, severity_overrides=overrides)
    return gate.validate(
        graded,
        {table: batch},
        PARAMS,
        run_name="test",
        render=False,
        explain=explain,
        suites=SUITES,
    )


@pytest.fixture(scope="module")
def home(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's settings with a home of the module's own, for its GX project."""
    return dataclasses.replace(settings, home=tmp_path_factory.mktemp("gate"))


@pytest.mark.parametrize("table", list(SUITES))
def test_a_clean_batch_passes_its_whole_suite(
    spark: SparkSession, home: Settings, table: str
) -> None:
    report = _validate(spark, home, table, _good(table)[1])
    assert [o.line() for o in report.outcomes if not o.success] == []
    assert {o.check for o in report.outcomes} == {
        e.meta["check"] for e in gate.build_suite(table, suites=SUITES).expectations if e.meta
    }


@pytest.mark.parametrize(
    ("table", "checks", "broken"), BREAKS, ids=[f"{t}:{c}" for t, c, _ in BREAKS]
)
def test_each_check_catches_its_break(
    spark: SparkSession,
    home: Settings,
    table: str,
    checks: str,
    broken: Callable[[list[Row]], list[Row]],
) -> None:
    # (the counting pass alone: the examples pass is tested once, below)
    report = _validate(spark, home, table, broken(_good(table)[1]), explain=False)
    failed = {o.check: o for o in report.outcomes if not o.success}
    assert sorted(failed) == sorted(checks.split(", "))
    for check, outcome in failed.items():
        assert outcome.severity == ("warn" if check in DEFAULT_WARN else "error")


def test_a_failure_is_explained_with_examples(spark: SparkSession, home: Settings) -> None:
    rows = _set(1, event_id="e0", device="VCR")(GOOD[T.VIEWING_EVENTS.identifier][1])
    report = _validate(spark, home, T.VIEWING_EVENTS.identifier, rows)
    observed = {o.check: o.observed for o in report.outcomes if not o.success}
    assert observed == {
        "event_id_unique": '2 of 2 rows unexpected, e.g. "e0", "e0"',
        "device_known": '1 of 2 rows unexpected, e.g. "VCR"',
    }
    share = _set(bad_ratio=0.25)(GOOD[T.RUN_LOG.identifier][1])
    (outcome,) = _validate(spark, home, T.RUN_LOG.identifier, share).errors
    assert outcome.line() == "ops.run_log quarantine_share: 1 of 2 rows unexpected, e.g. 0.25"


def test_every_check_of_every_suite_has_a_break() -> None:
    broken = {c for _, checks, _ in BREAKS for c in checks.split(", ")}
    assert check_names(SUITES) <= broken


def test_severity_is_configurable_per_check(spark: SparkSession, home: Settings) -> None:
    rows = _set(volume_ratio=3.0, bad_ratio=0.06)(GOOD[T.RUN_LOG.identifier][1])
    report = _validate(
        spark, home, T.RUN_LOG.identifier, rows, volume="error", quarantine_share="warn"
    )
    assert [o.check for o in report.errors] == ["volume"]
    assert [o.check for o in report.warnings] == ["quarantine_share"]


def test_an_unknown_check_in_the_configuration_is_refused(home: Settings) -> None:
    with pytest.raises(UsageError, match="no_such_check"):
        strict = dataclasses.replace(home, severity_overrides={"no_such_check": "error"})
        gate.validate(strict, {}, PARAMS, run_name="x")


def test_validations_render_into_data_docs(spark: SparkSession, home: Settings) -> None:
    batch = spark.createDataFrame(*reversed(GOOD[SIGNUPS_DAILY]))
    gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="docs", suites=SUITES)
    index = home.data_docs_index
    assert index.is_file()
    assert "gold.signups_daily" in index.read_text(encoding="utf-8")


# -- the batches that line facts up for the suites ---------------------------------------


def _assert_rows(frame: DataFrame, expected: list[tuple[Any, ...]]) -> None:
    """Whole-frame equality, ignoring row order (pyspark.testing needs pandas-on-Spark)."""
    assert sorted(map(tuple, frame.collect()), key=repr) == sorted(expected, key=repr)


def test_events_are_judged_by_the_catalog_of_their_own_arrival(spark: SparkSession) -> None:
    events = spark.createDataFrame(
        [("e1", "s1", TS, D), ("e2", "s9", TS, D), ("e3", "s9", TS, date(2026, 11, 1)),
         ("e4", "s7", TS, date(2026, 11, 1))],
        "event_id string, show_id string, event_ts timestamp, arrival_date date",
    )  # fmt: skip
    listed = spark.createDataFrame([("s1",), ("s9",)], "show_id string")
    in_effect = spark.createDataFrame([("s1",)], "show_id string")
    batch = B.events_batch(events, listed, in_effect, D)
    _assert_rows(
        batch.select("event_id", "arrival_lag_days", "show_in_catalog"),
        [("e1", 0, True), ("e2", 0, False), ("e3", -1, True), ("e4", -1, False)],
    )


def test_a_fact_row_missing_on_either_side_leaves_a_null_to_catch(
    spark: SparkSession,
) -> None:
    fact = spark.createDataFrame(
        [(D, "u1", "s1", "UCAN", 100, False, False)],
        "event_date date, user_id string, show_id string, region string, watch_seconds long,"
        " qualified boolean, qualified_in_region boolean",
    )
    events = spark.createDataFrame(
        [("u1", "s1", TS, "UCAN", 60), ("u1", "s1", TS, "UCAN", 40), ("u2", "s1", TS, "UCAN", 7)],
        "user_id string, show_id string, event_ts timestamp, region string, watch_seconds int",
    )
    batch = B.user_show_batch(fact, events)
    _assert_rows(
        batch.select("user_id", "watch_seconds", "silver_seconds"),
        [("u1", 100, 100), ("u2", None, 7)],
    )


def test_genre_totals_come_from_the_shows_that_carry_the_genre(spark: SparkSession) -> None:
    genres = spark.createDataFrame(
        [(D, "UCAN", "drama", 1, 100), (D, "EMEA", "drama", 1, 200), (D, "EMEA", "kids", 0, 5)],
        "event_date date, region string, genre string, viewers long, watch_seconds long",
    )
    fact = spark.createDataFrame(
        [(D, "u1", "s1", 200, True), (D, "u1", "s1", 100, True), (D, "u2", "s2", 5, False),
         (D, "u3", "s2", 0, True)],
        "event_date date, user_id string, show_id string, watch_seconds long, qualified boolean",
    )  # fmt: skip
    shows = spark.createDataFrame(
        [("s1", ["drama"]), ("s2", ["kids", "drama"])], "show_id string, genres array<string>"
    )
    batch = genres_by_region.audit_batch(genres, fact, shows)
    _assert_rows(
        batch.select("region", "genre", "genre_seconds", "shows_seconds", "genre_show_viewers"),
        [("UCAN", "drama", 300, 305, 2), ("EMEA", "drama", 300, 305, 2),
         ("EMEA", "kids", 5, 5, 1)],
    )  # fmt: skip


def test_the_gate_documentation_names_every_check() -> None:
    text = (Path(__file__).parents[1] / "docs" / "quality-gate.md").read_text(encoding="utf-8")
    missing = [
        check
        for check in sorted(check_names(SUITES))
        if f"`{check}`" not in text and f"`{check.removesuffix('_not_null')}`" not in text
    ]
    assert missing == []


def test_gx_files_a_killed_run_left_half_written_are_removed_and_written_again(
    spark: SparkSession,
    settings: Settings,
    tmp_path: Path,
    logs: pytest.LogCaptureFixture,
) -> None:
    # Given a GX project that has validated a batch
    home = dataclasses.replace(settings, home=tmp_path)
    batch = spark.createDataFrame(*reversed(GOOD[SIGNUPS_DAILY]))
    gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="first", suites=SUITES)
    root = home.gx_root
    # and a run killed while GX rewrote its files in place: a suite cut to nothing, the newest
    # validation result cut in half, the project file emptied
    suite = root / "expectations" / "gold" / "signups_daily.json"
    result = max((root / "uncommitted" / "validations").rglob("*.json"),
                 key=lambda p: p.stat().st_mtime)  # fmt: skip
    project = root / "great_expectations.yml"
    suite.write_text("")
    result.write_text(result.read_text()[: result.stat().st_size // 2])
    project.write_text("")
    # When the next process opens the project and validates
    gate._context.cache_clear()
    with logs.at_level(logging.WARNING, logger="viewership.gate"):
        report = gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="next",
                               suites=SUITES)  # fmt: skip
    # Then the broken files were removed, said so, and the gate ran on a project written again
    assert "removed 4 GX file(s) an interrupted run left half written" in logs.text
    assert report.outcomes and not report.errors
    assert json.loads(suite.read_text())["name"] == SIGNUPS_DAILY
    assert not result.exists() and "config_version" in project.read_text()
    assert gate.repair_project(root) == []


def test_a_new_process_keeps_the_stored_checkpoints_unless_they_differ_from_the_code(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    # Given a GX project that has validated a batch
    home = dataclasses.replace(settings, home=tmp_path)
    batch = spark.createDataFrame(*reversed(GOOD[SIGNUPS_DAILY]))
    gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="first", suites=SUITES)
    stored = {
        name: home.gx_root / "checkpoints" / f"{SIGNUPS_DAILY}.{name}.json" for name in gate._PASSES
    }
    written = {name: path.stat().st_mtime_ns for name, path in stored.items()}
    # When a new process validates again, it reads the stored checkpoints instead of writing them
    gate._context.cache_clear()
    report = gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="again", suites=SUITES)
    assert report.outcomes and not report.errors
    assert {name: path.stat().st_mtime_ns for name, path in stored.items()} == written
    # But a checkpoint unlike the code's (say, an older version's result format) is rewritten,
    # and a failure is still explained with examples
    older = json.loads(stored["detail"].read_text())
    older["result_format"] = {"result_format": "COMPLETE"}
    stored["detail"].write_text(json.dumps(older))
    gate._context.cache_clear()
    broken = spark.createDataFrame(GOOD[SIGNUPS_DAILY][1] * 2, GOOD[SIGNUPS_DAILY][0])
    report = gate.validate(home, {SIGNUPS_DAILY: broken}, PARAMS, run_name="3rd", suites=SUITES)
    assert json.loads(stored["detail"].read_text())["result_format"] == gate._PASSES["detail"]
    assert report.errors and all("e.g." in o.observed for o in report.errors)
    # And a checkpoint whose validation definition is gone (removed as half written) is too
    definition = home.gx_root / "validation_definitions" / f"{SIGNUPS_DAILY}.json"
    definition.unlink()
    gate._context.cache_clear()
    report = gate.validate(home, {SIGNUPS_DAILY: batch}, PARAMS, run_name="4th", suites=SUITES)
    assert report.outcomes and not report.errors and definition.is_file()
