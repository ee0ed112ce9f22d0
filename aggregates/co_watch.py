"""Co-watch: pairs of shows the same users had qualified views of on the same day.

The daily table counts, per event date and unordered pair (show_a < show_b as strings), the
distinct users with a qualified view of both that day: what a "watched together" dashboard of
one day shows. The contract's period answer counts users who watched both on *any* days of the
period, which no sum of days gives, so ``viewership query co-watch`` answers it from the
user-show fact (viewership/sql/co_watch.sql).
"""

from __future__ import annotations

from pyiceberg.types import DateType, LongType, StringType
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from data_quality.suites import Check, between, rows_where
from jobs.registry import Aggregate
from schemas.tables import daily_table
from viewership import query
from viewership.queries import LIMIT, Query

TABLE = daily_table(
    "gold.co_watch_daily",
    [
        ("event_date", DateType()),
        ("show_a", StringType()),
        ("show_b", StringType()),
        ("co_viewers", LongType()),
    ],
    key=("event_date", "show_a", "show_b"),
    doc="Gold: distinct users with qualified views of both shows of a pair, per event date.",
)


def _watched(fact: DataFrame) -> DataFrame:
    """One row per (event date, user, show) with a qualified view."""
    return fact.where(F.col("qualified")).select("event_date", "user_id", "show_id").distinct()


def transform(fact: DataFrame) -> DataFrame:
    """Co-viewers per event date and show pair, from a self-join of each day's viewings."""
    watched = _watched(fact)
    a, b = watched.alias("a"), watched.alias("b")
    pairs = a.join(
        b,
        (F.col("a.event_date") == F.col("b.event_date"))
        & (F.col("a.user_id") == F.col("b.user_id"))
        & (F.col("a.show_id") < F.col("b.show_id")),
    )
    return pairs.groupBy(
        F.col("a.event_date").alias("event_date"),
        F.col("a.show_id").alias("show_a"),
        F.col("b.show_id").alias("show_b"),
    ).agg(F.count("*").alias("co_viewers"))


def audit_batch(staged: DataFrame, fact: DataFrame) -> DataFrame:
    """Staged pairs beside each show's qualified viewers that day, from the fact."""
    viewers = _watched(fact).groupBy("event_date", "show_id").agg(F.count("*").alias("viewers"))
    of_a = viewers.select(
        "event_date", F.col("show_id").alias("show_a"), F.col("viewers").alias("viewers_a")
    )
    of_b = viewers.select(
        "event_date", F.col("show_id").alias("show_b"), F.col("viewers").alias("viewers_b")
    )
    return staged.join(of_a, ["event_date", "show_a"], "left").join(
        of_b, ["event_date", "show_b"], "left"
    )


def checks() -> list[Check]:
    return [
        rows_where("pair_ordered", "NOT (show_a < show_b)",
                   "a pair is two distinct shows, show_a < show_b as strings"),
        between("co_viewers_positive", "co_viewers", min_value=1),
        rows_where("co_viewers_within_shows",
                   "co_viewers > least(coalesce(viewers_a, 0), coalesce(viewers_b, 0))",
                   "a pair has no more co-viewers than either show has viewers that day"),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="co_watch",
    table=TABLE,
    reads=("fact",),
    transform=transform,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "co-watch",
        query.co_watch,
        ("rank", "show_a", "show_b", "co_viewers"),
        (LIMIT,),
        help="show pairs by users with qualified views of both in the period",
    ),
    doc=__doc__ or "",
)
