"""The aggregates beyond the interview's four, on small hand-made frames: exact rows out."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pyspark.sql import DataFrame, SparkSession

from aggregates import binge_viewers, co_watch, daily_active_viewers
from jobs.registry import registry

D, D2 = date(2026, 11, 2), date(2026, 11, 3)
FACT = (
    "event_date date, user_id string, show_id string, region string, watch_seconds long,"
    " qualified boolean, qualified_in_region boolean"
)


def _rows(frame: DataFrame) -> list[tuple[object, ...]]:
    return sorted(tuple(r) for r in frame.collect())


def _fact(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    """Fact rows (date, user, show, region, seconds); qualification as gold.user_show_daily."""
    frame = spark.createDataFrame([(*r, False, r[4] >= 120) for r in rows], FACT).drop("qualified")
    totals = frame.groupBy("event_date", "user_id", "show_id").sum("watch_seconds")
    return frame.join(totals, ["event_date", "user_id", "show_id"]).selectExpr(
        "event_date", "user_id", "show_id", "region", "watch_seconds",
        "`sum(watch_seconds)` >= 120 AS qualified", "qualified_in_region",
    )  # fmt: skip


def test_the_new_aggregates_are_registered() -> None:
    found = registry()
    assert found.problems == {}
    assert {"co_watch", "daily_active_viewers", "binge_viewers"} <= set(found.aggregates)


def test_daily_active_viewers_count_each_user_once_per_day_region_and_device(
    spark: SparkSession,
) -> None:
    def at(day: int, hour: int) -> datetime:
        return datetime(2026, 11, day, hour, tzinfo=UTC)

    events = spark.createDataFrame(
        [
            ("u1", at(2, 1), 100, "tv", "UCAN"),
            ("u1", at(2, 5), 50, "tv", "UCAN"),
            ("u1", at(2, 6), 30, "mobile", "UCAN"),
            ("u2", at(2, 7), 10, "tv", "UCAN"),
            ("u2", at(2, 23), 40, "tv", "EMEA"),
            ("u1", at(3, 0), 5, "tv", "UCAN"),
        ],
        "user_id string, event_ts timestamp, watch_seconds int, device string, region string",
    )
    assert _rows(daily_active_viewers.transform(events=events)) == [
        (D, "EMEA", "tv", 1, 40),
        (D, "UCAN", "mobile", 1, 30),
        (D, "UCAN", "tv", 2, 160),
        (D2, "UCAN", "tv", 1, 5),
    ]


def test_a_binge_is_three_hours_of_one_show_in_a_day_over_all_regions(
    spark: SparkSession,
) -> None:
    fact = _fact(spark, [
        (D, "u1", "s1", "UCAN", 6000),
        (D, "u1", "s1", "EMEA", 5000),  # 11,000 s in two regions: a binge in both
        (D, "u2", "s1", "UCAN", 10_799),  # a second short
        (D, "u3", "s2", "APAC", 10_800),  # exactly three hours
        (D2, "u2", "s1", "UCAN", 1),  # with yesterday's 10,799: another day
        (D, "u4", "s1", "UCAN", 5400),
        (D, "u4", "s2", "UCAN", 5400),  # three hours, but of two shows
    ])  # fmt: skip
    assert _rows(binge_viewers.transform(fact)) == [
        (D, "s1", "EMEA", 1, 5000),
        (D, "s1", "UCAN", 1, 6000),
        (D, "s2", "APAC", 1, 10_800),
    ]


def test_co_watch_pairs_need_qualified_views_of_both_shows_on_the_same_day(
    spark: SparkSession,
) -> None:
    fact = _fact(spark, [
        *((D, "u1", show, "UCAN", 600) for show in ("s1", "s2", "s3")),
        (D, "u2", "s1", "UCAN", 600),
        (D, "u2", "s2", "EMEA", 60),
        (D, "u2", "s2", "UCAN", 60),  # qualified over its two regions
        (D, "u2", "s3", "UCAN", 119),  # not qualified
        (D2, "u3", "s1", "UCAN", 600),
        (D2, "u3", "s1", "EMEA", 600),  # one show in two regions is not a pair
    ])  # fmt: skip
    assert _rows(co_watch.transform(fact)) == [
        (D, "s1", "s2", 2),
        (D, "s1", "s3", 1),
        (D, "s2", "s3", 1),
    ]
