"""Maintenance through Iceberg procedures: fewer files and snapshots, the same answers."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from pyspark.sql import SparkSession

from aggregates import signups
from jobs.maintenance import maintain
from jobs.registry import aggregate_tables
from schemas import tables as T
from tests.lake_kit import rows, run
from tests.landing_kit import catalog, ev, signup, write_lines
from viewership import query
from viewership.config import Settings

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def _history(settings: Settings) -> None:
    """Three days in two regions, with late events so that old partitions get more files."""
    catalog(settings.landing, D1)
    for day in (D1, D2, D3):
        events = [
            ev(
                f"{day:%d}-{i}",
                f"u{i % 4}",
                ("s1", "s2", "s3")[i % 3],
                f"{day}T1{i}:00:00Z",
                150,
                country=("US", "FR")[i % 2],
            )
            for i in range(6)
        ] + [ev(f"{day:%d}-late", "u9", "s1", "2026-10-30T12:00:00Z", 200, country="FR")]
        # Quarantined: one whose region the line still tells, one that tells nothing
        bad = [{**ev(f"{day:%d}-bad", "u8", "s1", f"{day}T10:00:00Z", -5), "country": " fr"}]
        write_lines(settings.landing, "viewing_events", day, events + bad + [b"\xff{not json"])
        write_lines(
            settings.landing,
            "signups",
            day,
            [signup(f"n{day:%d}", f"{day}T08:00:00Z", country=("US", "FR")[day.day % 2])],
        )
    # fmt: skip


def _keep(settings: Settings, snapshot_days: int, **regions: int) -> Settings:
    """The settings with a snapshot retention and per-region retention of user rows."""
    return dataclasses.replace(
        settings, snapshot_retention_days=snapshot_days, region_retention=regions
    )


def _answers(settings: Settings) -> list[object]:
    start, end = date(2026, 10, 30), D3
    return [
        query.top_shows(settings, start, end, limit=100),
        query.genres(settings, start, end, limit=100),
        query.co_watch(settings, start, end, limit=100),
        query.signups(settings, start, end, "region"),
    ]


def _data_files(spark: SparkSession) -> int:
    return sum(
        spark.sql(f"SELECT count(*) FROM {t.spark_name}.files").first()[0]
        for t in T.ALL_TABLES + aggregate_tables()
    )


RAW = (T.VIEWING_EVENTS_RAW, T.SIGNUPS_RAW)


def _raw_lines(spark: SparkSession, table: T.TableDef) -> list[tuple[date, bytes]]:
    return sorted((d, bytes(b)) for d, b in rows(spark, table, "arrival_date", "raw_line"))


def _snapshots(spark: SparkSession, table: T.TableDef) -> int:
    return spark.sql(f"SELECT count(*) FROM {table.spark_name}.snapshots").first()[0]


def test_maintenance_compacts_expires_and_applies_region_retention(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given three published days (late events add files to an old partition each day)
    _history(lakehouse)
    for day in (D1, D2, D3):
        run(spark, lakehouse, day, ratio=0.3, aggregates=["signups", "top_shows"])
    answers, files = _answers(lakehouse), _data_files(spark)
    assert _snapshots(spark, T.VIEWING_EVENTS) > 3
    # When maintenance runs with a retention that lets every older snapshot go
    tomorrow = date.today() + timedelta(days=1)
    report = maintain(spark, _keep(lakehouse, 0), as_of=tomorrow)
    # Then the answers are the same from fewer files and a single snapshot per table
    assert _answers(lakehouse) == answers
    assert _data_files(spark) < files
    assert sum(report.rewritten_files.values()) > 0
    assert _snapshots(spark, T.VIEWING_EVENTS) == 1
    assert report.retention_deleted == {}
    # When EMEA keeps one day of user-level history as of D3
    ucan_before = rows(spark, T.VIEWING_EVENTS, "event_id", "region")
    raw_before = [(t, _raw_lines(spark, t)) for t in RAW]
    report = maintain(spark, _keep(lakehouse, 30, EMEA=1), as_of=D3)
    # Then EMEA rows before D2 are gone from silver and gold; UCAN keeps everything
    assert report.retention_deleted == {"EMEA": f"before {D2}"}
    events = rows(spark, T.VIEWING_EVENTS, "event_id", "region", "event_ts")
    assert {r[:2] for r in events if r[1] == "UCAN"} == {r for r in ucan_before if r[1] == "UCAN"}
    assert all(r[2].date() >= D2 for r in events if r[1] == "EMEA")
    assert [r for r in rows(spark, T.USER_SHOW_DAILY, "region", "event_date")
            if r[0] == "EMEA" and r[1] < D2] == []  # fmt: skip
    assert [r for r in rows(spark, signups.TABLE, "region", "signup_date")
            if r[0] == "EMEA" and r[1] < D2] == []  # fmt: skip
    assert query.genres(lakehouse, D1, D1, region="EMEA") == []
    assert query.genres(lakehouse, D1, D1, region="UCAN") != []
    # and so are the raw and quarantined lines of EMEA users that arrived before D2, and the
    # lines with no readable region (they may be anyone's); every other line stays
    for table, before in raw_before:
        kept = [(day, line) for day, line in before
                if day >= D2 or b'"country": "US"' in line]  # fmt: skip
        assert _raw_lines(spark, table) == kept, table.identifier
        assert len(kept) < len(before)
    assert {day for day, _ in _raw_lines(spark, T.QUARANTINE)} == {D2, D3}
