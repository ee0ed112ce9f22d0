"""Gold: the user-show fact and the daily aggregates, recomputed only for touched dates."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from schemas.contract import QUALIFIED_SECONDS

Transform = Callable[[DataFrame], DataFrame]


def user_show_daily(events: DataFrame) -> DataFrame:
    """Seconds per (event date, user, show, region) with both qualification flags.

    Regional figures qualify on the region's own seconds; global ones on the user's total
    for the show that day, so a view split across two countries can still count once.
    """
    per_region = events.groupBy(
        F.to_date("event_ts").alias("event_date"), "user_id", "show_id", "region"
    ).agg(F.sum("watch_seconds").cast("long").alias("watch_seconds"))
    user_show_day = Window.partitionBy("event_date", "user_id", "show_id")
    return per_region.select(
        "event_date",
        "user_id",
        "show_id",
        "region",
        "watch_seconds",
        (F.sum("watch_seconds").over(user_show_day) >= QUALIFIED_SECONDS).alias("qualified"),
        (F.col("watch_seconds") >= QUALIFIED_SECONDS).alias("qualified_in_region"),
    )


def _hours(seconds: str) -> F.Column:
    return (F.col(seconds) / 3600.0).alias("hours_viewed")


def top_shows_daily(fact: DataFrame) -> DataFrame:
    """Viewers (qualified) and hours (all seconds) per show and event date."""
    per_show = fact.groupBy("event_date", "show_id").agg(
        F.count_distinct(F.when(F.col("qualified"), F.col("user_id"))).alias("viewers"),
        F.sum("watch_seconds").alias("watch_seconds"),
    )
    return per_show.select(
        "event_date", "show_id", "viewers", "watch_seconds", _hours("watch_seconds")
    )


def genres_by_region_daily(shows: DataFrame) -> Transform:
    """Viewers (qualified in the region) and hours per region, genre and event date."""
    genres = shows.select("show_id", F.explode("genres").alias("genre")).distinct()

    def transform(fact: DataFrame) -> DataFrame:
        per_genre = (
            fact.join(F.broadcast(genres), "show_id", "inner")
            .groupBy("event_date", "region", "genre")
            .agg(
                F.count_distinct(F.when(F.col("qualified_in_region"), F.col("user_id"))).alias(
                    "viewers"
                ),
                F.sum("watch_seconds").alias("watch_seconds"),
            )
        )
        return per_genre.select(
            "event_date", "region", "genre", "viewers", "watch_seconds", _hours("watch_seconds")
        )

    return transform


def signups_daily(signups: DataFrame) -> DataFrame:
    """New accounts per signup date, region and plan: additive because each user appears once."""
    return signups.groupBy(F.to_date("signup_ts").alias("signup_date"), "region", "plan").agg(
        F.count("user_id").alias("new_users")
    )
