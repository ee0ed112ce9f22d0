"""Binge viewers: users who watched one show for at least 3 hours on one day, by show and region.

The 3 hours are the user's seconds of the show that day over all regions (as qualification
counts a view split across two countries once); the binge is counted in each region where
the user watched the show that day, so the regions of one show can add up to more than its
binge viewers worldwide. Viewers are distinct users: a period's figure must be answered from
the user-show fact, not by adding days.
"""

from __future__ import annotations

from pathlib import Path

from pyiceberg.types import DateType, LongType, StringType
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from data_quality.suites import Check, between, region_known, rows_where
from jobs.registry import Aggregate
from schemas.tables import USER_SHOW_DAILY, daily_table
from viewership.queries import LIMIT, Query, sql_answer

BINGE_SECONDS = 3 * 3600

TABLE = daily_table(
    "gold.binge_viewers_daily",
    [
        ("event_date", DateType()),
        ("show_id", StringType()),
        ("region", StringType()),
        ("binge_viewers", LongType()),
        ("binge_seconds", LongType()),
    ],
    key=("event_date", "show_id", "region"),
    doc="Gold: users with 3 hours or more of one show in a day, per event date, show and region.",
)


def _binges(fact: DataFrame) -> DataFrame:
    """The fact's rows of users whose seconds of the show that day reach the threshold."""
    user_show_day = Window.partitionBy("event_date", "user_id", "show_id")
    total = F.sum("watch_seconds").over(user_show_day)
    return fact.select("*", total.alias("show_day_seconds")).where(
        F.col("show_day_seconds") >= BINGE_SECONDS
    )


def transform(fact: DataFrame) -> DataFrame:
    """Binge viewers and the seconds they watched, per event date, show and region."""
    return (
        _binges(fact)
        .groupBy("event_date", "show_id", "region")
        .agg(
            F.count_distinct("user_id").alias("binge_viewers"),
            F.sum("watch_seconds").cast("long").alias("binge_seconds"),
        )
    )


def audit_batch(staged: DataFrame, fact: DataFrame) -> DataFrame:
    """Staged rows beside the show's qualified viewers that day (from the fact) and the show's
    binge seconds and largest regional binge count over all its regions."""
    viewers = fact.groupBy("event_date", "show_id").agg(
        F.count_distinct(F.when(F.col("qualified"), F.col("user_id"))).alias("show_viewers")
    )
    all_regions = Window.partitionBy("event_date", "show_id")
    with_totals = staged.select(
        "*",
        F.sum("binge_seconds").over(all_regions).alias("show_binge_seconds"),
        F.max("binge_viewers").over(all_regions).alias("most_regional_binge_viewers"),
    )
    return with_totals.join(viewers, ["event_date", "show_id"], "left")


def checks() -> list[Check]:
    return [
        region_known(),
        between("binge_viewers_positive", "binge_viewers", min_value=1),
        rows_where("binges_are_views", "binge_viewers > coalesce(show_viewers, 0)",
                   "every binge viewer of a show is one of its qualified viewers that day"),
        # Each binge viewer watched the show 3 hours over all regions, and the show has at
        # least as many binge viewers worldwide as in any one region.
        rows_where("binge_hours_reached",
                   f"show_binge_seconds < most_regional_binge_viewers * {BINGE_SECONDS}",
                   "a show's binge seconds cover 3 hours for each of its binge viewers"),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="binge_viewers",
    table=TABLE,
    reads=("fact",),
    transform=transform,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "binge-viewers",
        sql_answer(Path(__file__).with_suffix(".sql"), {"facts": USER_SHOW_DAILY}),
        ("rank", "show_id", "binge_viewers"),
        (LIMIT,),
        help="shows by users who watched one for 3 hours or more in a day of the period",
    ),
    doc=__doc__ or "",
)
