"""Genre popularity by region: viewers and hours per region, genre and day (contract section 2).

A view counts in a region when the region's own seconds qualify; a period's ranking is
answered from the user-show fact (viewership/sql/genres_by_region.sql).
"""

from __future__ import annotations

from pyiceberg.types import DateType, DoubleType, LongType, StringType
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from aggregates import top_shows
from data_quality.suites import Check, between, hours_from_seconds, region_known, rows_where
from jobs.registry import Aggregate
from schemas.tables import daily_table
from viewership import query
from viewership.queries import LIMIT, Option, Query

TABLE = daily_table(
    "gold.genres_by_region_daily",
    [
        ("event_date", DateType()),
        ("region", StringType()),
        ("genre", StringType()),
        ("viewers", LongType()),
        ("watch_seconds", LongType()),
        ("hours_viewed", DoubleType()),
    ],
    key=("event_date", "region", "genre"),
    doc="Gold: viewers and hours per region, genre and event date.",
)


def _show_genres(shows: DataFrame) -> DataFrame:
    """One row per (show, distinct genre): a show counts once toward each genre it lists."""
    return shows.select("show_id", F.explode("genres").alias("genre")).distinct()


def transform(fact: DataFrame, shows: DataFrame) -> DataFrame:
    """Viewers (qualified in the region) and hours per region, genre and event date."""
    per_genre = (
        fact.join(F.broadcast(_show_genres(shows)), "show_id", "inner")
        .groupBy("event_date", "region", "genre")
        .agg(
            F.count_distinct(F.when(F.col("qualified_in_region"), F.col("user_id"))).alias(
                "viewers"
            ),
            F.sum("watch_seconds").alias("watch_seconds"),
        )
    )
    return per_genre.select(
        "event_date",
        "region",
        "genre",
        "viewers",
        "watch_seconds",
        (F.col("watch_seconds") / 3600.0).alias("hours_viewed"),
    )


def audit_batch(staged: DataFrame, fact: DataFrame, shows: DataFrame) -> DataFrame:
    """Genre rows beside the day's seconds and viewers of the shows that carry the genre."""
    per_genre = (
        top_shows.transform(fact)
        .join(F.broadcast(_show_genres(shows)), "show_id", "inner")
        .groupBy("event_date", "genre")
        .agg(
            F.sum("watch_seconds").alias("shows_seconds"),
            F.sum("viewers").alias("genre_show_viewers"),
        )
    )
    all_regions = Window.partitionBy("event_date", "genre")
    with_totals = staged.select(
        "*", F.sum("watch_seconds").over(all_regions).alias("genre_seconds")
    )
    return with_totals.join(per_genre, ["event_date", "genre"], "full_outer")


def checks() -> list[Check]:
    return [
        region_known(),
        between("viewers_range", "viewers", min_value=0),
        rows_where("hours_add_up", "NOT (genre_seconds <=> shows_seconds)",
                   "a genre's seconds over all regions equal those of its shows that day"),
        rows_where("viewers_within_shows", "viewers > genre_show_viewers",
                   "a genre has no more viewers in a region than its shows have in all"),
        hours_from_seconds(),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="genres_by_region",
    table=TABLE,
    reads=("fact", "shows"),
    transform=transform,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "genres",
        query.genres,
        ("region", "genre", "rank", "viewers", "hours_viewed"),
        (Option("--region", {"help": "one region (default: every region)"}), LIMIT),
        help="genres ranked by viewers within each region over the period",
    ),
    doc=__doc__ or "",
)
