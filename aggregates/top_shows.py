"""Top shows: viewers and hours per show and day (contract section 2).

Viewers are distinct users, so a period's ranking is answered from the user-show fact
(viewership/sql/top_shows.sql); this daily table serves dashboards of one day at a time.
"""

from __future__ import annotations

from pyiceberg.types import DateType, DoubleType, LongType, StringType
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from data_quality.suites import Check, hours_from_seconds, rows_where
from jobs.registry import Aggregate
from schemas.tables import daily_table
from viewership import query
from viewership.queries import LIMIT, Query

TABLE = daily_table(
    "gold.top_shows_daily",
    [
        ("event_date", DateType()),
        ("show_id", StringType()),
        ("viewers", LongType()),
        ("watch_seconds", LongType()),
        ("hours_viewed", DoubleType()),
    ],
    key=("event_date", "show_id"),
    doc="Gold: viewers and hours per show and event date.",
)


def transform(fact: DataFrame) -> DataFrame:
    """Viewers (qualified) and hours (all seconds) per show and event date."""
    per_show = fact.groupBy("event_date", "show_id").agg(
        F.count_distinct(F.when(F.col("qualified"), F.col("user_id"))).alias("viewers"),
        F.sum("watch_seconds").alias("watch_seconds"),
    )
    return per_show.select(
        "event_date",
        "show_id",
        "viewers",
        "watch_seconds",
        (F.col("watch_seconds") / 3600.0).alias("hours_viewed"),
    )


def audit_batch(staged: DataFrame, fact: DataFrame) -> DataFrame:
    """Staged rows beside the viewers and seconds recounted straight from the fact."""
    recount = fact.groupBy("event_date", "show_id").agg(
        F.count_distinct(F.when(F.col("qualified"), F.col("user_id"))).alias("fact_viewers"),
        F.sum("watch_seconds").alias("fact_seconds"),
    )
    return staged.join(recount, ["event_date", "show_id"], "full_outer")


def checks() -> list[Check]:
    return [
        rows_where("viewers_match_fact", "NOT (viewers <=> fact_viewers)",
                   "viewers per show and day equal the fact's qualified users"),
        rows_where("seconds_match_fact", "NOT (watch_seconds <=> fact_seconds)",
                   "seconds per show and day equal the fact's"),
        hours_from_seconds(),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="top_shows",
    table=TABLE,
    reads=("fact",),
    transform=transform,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "top-shows",
        query.top_shows,
        ("rank", "show_id", "title", "viewers", "hours_viewed"),
        (LIMIT,),
        help="shows by distinct viewers over the period (contract section 2)",
    ),
    doc=__doc__ or "",
)
