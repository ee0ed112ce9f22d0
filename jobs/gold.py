"""Gold: the user-show fact, recomputed only for the dates a run touched.

The daily aggregates built on it are declared in the ``aggregates`` package (jobs.registry).
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from schemas.contract import QUALIFIED_SECONDS
from viewership.pseudonyms import pseudonymised


def pseudonymous(secret: str) -> Callable[[DataFrame], DataFrame]:
    """Events with ``user_id`` replaced by its pseudonym, which is all gold keeps of a user."""
    return lambda events: events.withColumn("user_id", pseudonymised("user_id", secret))


def user_show_daily(events: DataFrame) -> DataFrame:
    """Seconds per (event date, user, show, region) with both qualification flags.

    ``events`` are pseudonymous already (``pseudonymous``): the fact never holds a user id.

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
