"""The run job against real Iceberg tables: dedup, late data, quarantine, reruns, refusal."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from aggregates import signups, top_shows
from jobs.audit import day_range
from jobs.registry import aggregate_tables
from schemas import tables as T
from tests.lake_kit import main_snapshots, rows, run
from tests.landing_kit import SHOWS, catalog, ev, signup, write_lines
from viewership import pseudonyms
from viewership.catalog import load_catalog
from viewership.config import Settings
from viewership.errors import LandingError, PublicationRefused

D1, D2, D3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)


def test_duplicates_collapse_within_a_file_across_files_and_across_days(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given an event repeated in one file, in a gzip file of the same day, and on the next day
    landing = lakehouse.landing
    catalog(landing, D1)
    e1 = ev("e1", "u1", "s1", "2026-11-01T10:00:00Z", 100)
    write_lines(
        landing, "viewing_events", D1, [e1, e1, ev("e2", "u1", "s2", "2026-11-01T11:00:00Z", 50)]
    )
    write_lines(landing, "viewing_events", D1, [e1], name="part-1.jsonl.gz")
    write_lines(
        landing, "viewing_events", D2, [e1, ev("e3", "u2", "s1", "2026-11-02T09:00:00Z", 10)]
    )
    # When both days run
    first, second = run(spark, lakehouse, D1), run(spark, lakehouse, D2)
    # Then each event is stored once, and the counts reconcile
    assert rows(spark, T.VIEWING_EVENTS, "event_id", "arrival_date") == [
        ("e1", D1),
        ("e2", D1),
        ("e3", D2),
    ]
    ev1, ev2 = first.feeds["viewing_events"], second.feeds["viewing_events"]
    assert (ev1.lines_read, ev1.accepted, ev1.duplicates, ev1.quarantined) == (4, 2, 2, 0)
    assert (ev2.lines_read, ev2.accepted, ev2.duplicates, ev2.quarantined) == (2, 1, 1, 0)
    # and the run log says so (each run also logged "publishing" before its first table)
    logged = rows(
        spark,
        T.RUN_LOG,
        "logical_date",
        "feed",
        "status",
        "lines_read",
        "accepted",
        "duplicates",
        "quarantined",
        "reconciled",
    )
    assert [r[2] for r in logged].count("publishing") == 6
    feeds = [r for r in logged if not r[1].startswith("aggregate:")]
    assert [r for r in feeds if r[2] != "publishing"] == [
        (D1, "catalog", "published", 3, 3, 0, 0, True),
        (D1, "signups", "published", 0, 0, 0, 0, True),
        (D1, "viewing_events", "published", 4, 2, 2, 0, True),
        (D2, "catalog", "published", 0, 0, 0, 0, True),
        (D2, "signups", "published", 0, 0, 0, 0, True),
        (D2, "viewing_events", "published", 2, 1, 1, 0, True),
    ]


def test_quarantine_keeps_bad_lines_byte_for_byte_with_reasons(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    bad = [b"\xff\xfe not utf-8", b'{"event_id": "x", "watch_seconds": "120"}', b"[1]"]
    good = [ev(f"e{i}", "u1", "s1", "2026-11-01T10:00:00Z", 60) for i in range(60)]
    path = write_lines(landing, "viewing_events", D1, [*good, *bad])
    run(spark, lakehouse, D1)
    quarantined = rows(
        spark, T.QUARANTINE, "feed", "source_file", "line_number", "raw_line", "reason"
    )
    assert quarantined == [
        (
            "viewing_events",
            "viewing_events/dt=2026-11-01/part-0.jsonl",
            61,
            bytearray(bad[0]),
            "invalid_utf8",
        ),
        (
            "viewing_events",
            "viewing_events/dt=2026-11-01/part-0.jsonl",
            62,
            bytearray(bad[1]),
            "missing_field",
        ),
        (
            "viewing_events",
            "viewing_events/dt=2026-11-01/part-0.jsonl",
            63,
            bytearray(bad[2]),
            "not_an_object",
        ),
    ]
    raw = rows(spark, T.VIEWING_EVENTS_RAW, "line_number", "raw_line")
    assert [bytes(line) for _, line in raw] == path.read_bytes().splitlines()


def test_unknown_show_is_judged_by_the_catalog_in_effect(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given s4 appears only in the snapshot of D2
    landing = lakehouse.landing
    catalog(landing, D1)
    s4 = {
        "show_id": "s4",
        "title": "Delta",
        "genres": ["drama"],
        "type": "film",
        "release_year": 2026,
    }
    from tests.landing_kit import SHOWS

    catalog(landing, D2, [*SHOWS, s4])
    good = [ev(f"g{i}", "u1", "s1", "2026-11-01T10:00:00Z", 60) for i in range(40)]
    write_lines(
        landing, "viewing_events", D1, [*good, ev("a", "u1", "s4", "2026-11-01T10:00:00Z", 300)]
    )
    write_lines(landing, "viewing_events", D3, [ev("b", "u1", "s4", "2026-11-01T10:00:00Z", 300)])
    run(spark, lakehouse, D1)
    run(spark, lakehouse, D3)  # no catalog folder on D3: the D2 snapshot is in effect
    assert rows(spark, T.QUARANTINE, "feed", "reason", "field") == [
        ("viewing_events", "unknown_show", "show_id")
    ]
    assert ("b", "s4") in rows(spark, T.VIEWING_EVENTS, "event_id", "show_id")


def test_a_catalog_merged_already_is_taken_from_silver_unless_its_files_changed(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    snapshot = catalog(landing, D1)
    day2 = [ev("a", "u1", "s1", "2026-11-02T10:00:00Z", 200),
            ev("b", "u1", "s4", "2026-11-02T11:00:00Z", 200)]  # fmt: skip
    write_lines(landing, "viewing_events", D2, day2)
    run(spark, lakehouse, D1)
    shows_before = main_snapshots(lakehouse)[T.SHOWS.identifier]
    # When D2 runs under the D1 snapshot that silver.shows merged last, byte for byte
    run(spark, lakehouse, D2, ratio=1.0)
    # Then silver.shows is not written again, and the snapshot's shows still judge the events
    assert main_snapshots(lakehouse)[T.SHOWS.identifier] == shows_before
    assert rows(spark, T.QUARANTINE, "reason", "field") == [("unknown_show", "show_id")]
    # and once the snapshot's file is corrected in place, the next run merges it again
    snapshot.unlink()
    catalog(landing, D1, [*SHOWS, {**SHOWS[0], "show_id": "s4", "title": "Delta"}])
    write_lines(landing, "viewing_events", D3, [ev("c", "u1", "s4", "2026-11-03T10:00:00Z", 200)])
    run(spark, lakehouse, D3)
    assert main_snapshots(lakehouse)[T.SHOWS.identifier] != shows_before
    assert ("s4", "Delta") in rows(spark, T.SHOWS, "show_id", "title")
    assert ("c", "s4") in rows(spark, T.VIEWING_EVENTS, "event_id", "show_id")


def test_a_missing_catalog_is_an_error_and_a_missing_feed_is_zero_rows(
    spark: SparkSession, lakehouse: Settings
) -> None:
    write_lines(
        lakehouse.landing, "viewing_events", D1, [ev("e", "u", "s1", "2026-11-01T10:00:00Z", 1)]
    )
    with pytest.raises(LandingError, match="no catalog snapshot"):
        run(spark, lakehouse, D1)
    catalog(lakehouse.landing, D1)
    result = run(spark, lakehouse, D1)
    assert result.feeds["signups"].lines_read == 0 and result.published


def test_a_day_when_nothing_arrived_is_judged_by_the_run_log_and_changes_no_table(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(landing, "viewing_events", D1, [ev("a", "u1", "s1", "2026-11-01T10:00:00Z", 200)])
    run(spark, lakehouse, D1, aggregates=["top_shows"])
    before = main_snapshots(lakehouse)
    # When no feed has a file for D2 and nothing of D2 was ever stored
    result = run(spark, lakehouse, D2, aggregates=["top_shows"])
    # Then the run publishes, with every count 0, and no table's main moved
    assert result.published == [] and not result.gate.errors
    assert {f: c.lines_read for f, c in result.feeds.items()} == {
        "catalog": 0, "viewing_events": 0, "signups": 0
    }  # fmt: skip
    assert main_snapshots(lakehouse) == before
    # and the run log's suite alone judged it, on the log's real counts
    judged = spark.sql(
        f"SELECT DISTINCT table_name FROM {T.AUDIT_RESULTS.spark_name} "
        f"WHERE logical_date = DATE'{D2}'"
    ).collect()
    assert [r[0] for r in judged] == [T.RUN_LOG.identifier]
    assert rows(spark, T.RUN_LOG, "logical_date", "feed", "status", "lines_read")[-3:] == [
        (D2, "catalog", "published", 0),
        (D2, "signups", "published", 0),
        (D2, "viewing_events", "published", 0),
    ]


def test_a_date_whose_files_were_taken_back_or_whose_catalog_came_late_is_staged_in_full(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    day2 = write_lines(
        landing, "viewing_events", D2, [ev("a", "u1", "s1", "2026-11-02T10:00:00Z", 200)]
    )
    run(spark, lakehouse, D1)
    run(spark, lakehouse, D2, aggregates=["top_shows"])
    # When D2's file is taken back and D2 runs again, its stored events go with it
    day2.unlink()
    result = run(spark, lakehouse, D2, run_id="again", aggregates=["top_shows"])
    assert result.event_dates == [D2] and T.VIEWING_EVENTS.identifier in result.published
    assert rows(spark, T.VIEWING_EVENTS, "event_id") == []
    assert rows(spark, top_shows.TABLE, "show_id") == []
    # and once a run has published D2 empty, running D2 again changes no table
    before = main_snapshots(lakehouse)
    assert run(spark, lakehouse, D2, run_id="third").published == []
    assert main_snapshots(lakehouse) == before
    # and a catalog snapshot that landed after a later date's run is merged by the next run
    catalog(landing, D2, [{**SHOWS[0], "show_id": "s9", "title": "Late"}])
    run(spark, lakehouse, D3)
    assert ("s9", "Late") in rows(spark, T.SHOWS, "show_id", "title")


def test_late_event_corrects_its_day_and_leaves_other_days_untouched(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(landing, "viewing_events", D1, [ev("a", "u1", "s1", "2026-11-01T10:00:00Z", 100)])
    write_lines(landing, "viewing_events", D2, [ev("b", "u2", "s1", "2026-11-02T10:00:00Z", 500)])
    run(spark, lakehouse, D1, aggregates=["top_shows"])
    run(spark, lakehouse, D2, aggregates=["top_shows"])
    files_d2_before = _gold_files(spark, D2)
    # When a late event for D1 arrives on D3
    write_lines(landing, "viewing_events", D3, [ev("c", "u1", "s1", "2026-11-01T22:00:00Z", 30)])
    result = run(spark, lakehouse, D3, aggregates=["top_shows"])
    # Then only D1 is recomputed: u1 now qualifies there (100 + 30 >= 120)
    assert result.event_dates == [D1]
    assert rows(spark, top_shows.TABLE, "event_date", "show_id", "viewers", "watch_seconds") == [
        (D1, "s1", 1, 130),
        (D2, "s1", 1, 500),
    ]
    # and D2's gold files are the very same files (nothing rewrote them)
    assert _gold_files(spark, D2) == files_d2_before


def _gold_files(spark: SparkSession, day: date) -> set[str]:
    files = spark.sql(
        f"SELECT file_path FROM {T.USER_SHOW_DAILY.spark_name}.files "
        f"WHERE partition.event_date = DATE'{day}'"
    ).collect()
    assert files, "expected data files for the day"
    return {r[0] for r in files}


def test_rerunning_a_day_changes_nothing(spark: SparkSession, lakehouse: Settings) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(
        landing,
        "viewing_events",
        D1,
        [
            ev("a", "u1", "s1", "2026-11-01T10:00:00Z", 200),
            ev("b", "u2", "s2", "2026-10-30T10:00:00Z", 300),
        ],
    )
    write_lines(landing, "signups", D1, [signup("u1", "2026-11-01T01:00:00Z")])
    run(spark, lakehouse, D1, aggregates="all")
    tables = T.AUDITED_TABLES + aggregate_tables()
    before = {t.identifier: rows(spark, t, *_data_columns(t)) for t in tables}
    run(spark, lakehouse, D1, aggregates="all")
    after = {t.identifier: rows(spark, t, *_data_columns(t)) for t in tables}
    assert after == before
    secret = pseudonyms.key(lakehouse)  # gold knows users by pseudonym only
    assert before["gold.user_show_daily"] == [
        (date(2026, 10, 30), pseudonyms.pseudonym("u2", secret), "s2", "UCAN", 300, True, True),
        (D1, pseudonyms.pseudonym("u1", secret), "s1", "UCAN", 200, True, True),
    ]


def _data_columns(table: T.TableDef) -> list[str]:
    return [f.name for f in table.schema.fields if f.name != "run_id"]


def test_signups_keep_the_earliest_per_user_even_when_it_arrives_late(
    spark: SparkSession, lakehouse: Settings
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(
        landing,
        "signups",
        D1,
        [
            signup("u1", "2026-11-01T05:00:00Z", plan="Premium"),
            signup("u1", "2026-11-01T06:00:00Z"),
        ],
    )
    write_lines(landing, "signups", D2, [signup("u1", "2026-10-31T23:00:00Z", "mx", "basic")])
    first, second = (run(spark, lakehouse, day, aggregates=["signups"]) for day in (D1, D2))
    assert (first.feeds["signups"].accepted, first.feeds["signups"].duplicates) == (1, 1)
    assert second.signup_dates == [date(2026, 10, 31), D1]
    assert rows(spark, T.SIGNUPS, "user_id", "plan", "region") == [("u1", "basic", "LATAM")]
    assert rows(spark, signups.TABLE, "signup_date", "region", "plan", "new_users") == [
        (date(2026, 10, 31), "LATAM", "basic", 1)
    ]


def test_too_many_bad_lines_publish_nothing(spark: SparkSession, lakehouse: Settings) -> None:
    # Given a published day
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(landing, "viewing_events", D1, [ev("a", "u1", "s1", "2026-11-01T10:00:00Z", 200)])
    run(spark, lakehouse, D1)
    before = main_snapshots(lakehouse)
    # When the next day has 1 bad line in 10 (10% > 5%)
    lines = [ev(f"b{i}", "u1", "s1", "2026-11-02T10:00:00Z", 200) for i in range(9)]
    write_lines(landing, "viewing_events", D2, [*lines, "oops"])
    with pytest.raises(PublicationRefused, match=r"viewing_events: 10.0% of lines quarantined"):
        run(spark, lakehouse, D2)
    # Then every published table is exactly as it was, and the refusal is logged
    assert main_snapshots(lakehouse) == before
    assert [r for r in rows(spark, T.RUN_LOG, "logical_date", "feed", "status") if r[0] == D2] == [
        (D2, "catalog", "refused"),
        (D2, "signups", "refused"),
        (D2, "viewing_events", "refused"),
    ]
    # and a higher threshold lets the same day through
    assert run(spark, lakehouse, D2, ratio=0.2).published


def test_staged_writes_stay_off_main_until_published(
    spark: SparkSession, lakehouse: Settings, tmp_path: Path
) -> None:
    landing = lakehouse.landing
    catalog(landing, D1)
    write_lines(landing, "viewing_events", D1, ["bad"] * 3)
    with pytest.raises(PublicationRefused):
        run(spark, lakehouse, D1)
    # PyIceberg readers of main see nothing; the audit branch holds the staged rows
    table = load_catalog(lakehouse).load_table(T.QUARANTINE.identifier)
    assert table.scan().to_arrow().num_rows == 0
    assert "audit_20261101_t01" in table.metadata.refs
    assert (
        table.scan(snapshot_id=table.metadata.refs["audit_20261101_t01"].snapshot_id)
        .to_arrow()
        .num_rows
        == 3
    )


def test_a_gz_file_that_is_not_gzip_is_quarantined_whole(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given a real gzip file and a plain-text file that only claims to be gzip
    landing = lakehouse.landing
    catalog(landing, D1)
    good = [ev(f"g{i}", "u1", "s1", "2026-11-01T10:00:00Z", 60) for i in range(30)]
    write_lines(landing, "viewing_events", D1, good, name="part-0.jsonl.gz")
    fake = write_lines(landing, "viewing_events", D1, [], name="part-1.jsonl")
    fake = fake.rename(fake.with_name("part-1.jsonl.gz"))
    fake.write_bytes(b'{"event_id": "x"}\n')
    # When the day runs
    result = run(spark, lakehouse, D1)
    # Then the fake file is one quarantined record holding its exact bytes, the rest accepted
    counts = result.feeds["viewing_events"]
    assert (counts.lines_read, counts.accepted, counts.quarantined) == (31, 30, 1)
    assert rows(spark, T.QUARANTINE, "source_file", "raw_line", "reason") == [
        ("viewing_events/dt=2026-11-01/part-1.jsonl.gz", bytearray(b'{"event_id": "x"}\n'),
         "unreadable_file"),
    ]  # fmt: skip


def test_a_day_range_keeps_exactly_the_given_utc_days(spark: SparkSession) -> None:
    stamps = ["2026-10-30T23:59:59Z", "2026-10-31T00:00:00Z", "2026-11-01T23:59:59Z",
              "2026-11-02T00:00:00Z", "2026-11-03T12:00:00Z", "2026-11-04T00:00:00Z"]  # fmt: skip
    frame = spark.createDataFrame([(t,) for t in stamps], "t string").selectExpr(
        "t", "to_timestamp(t) AS ts"
    )
    days = [date(2026, 11, 3), date(2026, 10, 31), date(2026, 11, 1)]  # two runs, unordered
    kept = sorted(r.t for r in frame.where(day_range("ts", days)).collect())
    assert kept == ["2026-10-31T00:00:00Z", "2026-11-01T23:59:59Z", "2026-11-03T12:00:00Z"]
    assert frame.where(day_range("ts", [])).count() == 0
