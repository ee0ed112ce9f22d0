"""The batches the quality gate validates: staged rows plus the columns that cross-table rules need.

Pure transforms (DataFrames in, DataFrame out). A rule that spans tables, such as "every show
of an accepted event is in the catalog in effect" or "a genre's hours add up to those of its
shows", becomes a column here and an expectation in ``data_quality.suites``: GX decides, Spark
only lines the facts up. Joins are full outer where a row missing on either side is itself a
failure, so that the comparison column is null on one side and the null-safe check catches it.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
)

RUN_SCHEMA = StructType(
    [
        StructField("feed", StringType(), False),
        StructField("lines_read", LongType(), False),
        StructField("accepted", LongType(), False),
        StructField("duplicates", LongType(), False),
        StructField("quarantined", LongType(), False),
        StructField("raw_rows", LongType(), False),
        StructField("quarantine_rows", LongType(), False),
        StructField("silver_rows", LongType(), False),
        StructField("bad_ratio", DoubleType(), False),
        StructField("volume_ratio", DoubleType(), True),
        StructField("newest_event_lag_hours", DoubleType(), True),
    ]
)


def compact(batch: DataFrame) -> DataFrame:
    """The batch in at most as many partitions as the application has cores, to persist.

    GX runs a Spark job or two per expectation, each a task per partition of the batch. A
    batch read from a table that a run rewrote for 31 dates comes in one partition per few
    files, and each job then pays for tasks that hold a few rows: on 2 cores a job over the
    user-show fact took 245 ms in 9 partitions and 110 ms in one (docs/performance.md).
    """
    return batch.coalesce(batch.sparkSession.sparkContext.defaultParallelism)


def _arrival_lag(ts_column: str) -> F.Column:
    """Days from a record's own date to the day it arrived (-1 for the 1-hour future slack)."""
    return F.datediff(F.col("arrival_date"), F.to_date(ts_column)).alias("arrival_lag_days")


def shows_batch(shows: DataFrame) -> DataFrame:
    """Staged silver.shows with the number of genres each show lists."""
    return shows.select("*", F.size("genres").alias("genre_count"))


def events_batch(
    events: DataFrame, listed: DataFrame, in_effect: DataFrame, arrival_date: date
) -> DataFrame:
    """Staged events of the touched dates, with whether their show is in the right catalog.

    Events that arrived on ``arrival_date`` are judged by the catalog in effect (``in_effect``,
    a frame of show_id); events kept from earlier arrivals by every show ever listed.
    """
    effect = in_effect.select("show_id", F.lit(True).alias("_in_effect")).distinct()
    ever = listed.select("show_id", F.lit(True).alias("_listed")).distinct()
    this_arrival = F.col("arrival_date") == F.lit(arrival_date)
    return (
        events.join(F.broadcast(effect), "show_id", "left")
        .join(F.broadcast(ever), "show_id", "left")
        .select(
            *events.columns,
            _arrival_lag("event_ts"),
            F.coalesce(
                F.when(this_arrival, F.col("_in_effect")).otherwise(F.col("_listed")),
                F.lit(False),
            ).alias("show_in_catalog"),
        )
    )


def signups_batch(signups: DataFrame) -> DataFrame:
    """Staged signups of the touched dates, with how late each arrived."""
    return signups.select("*", _arrival_lag("signup_ts"))


def user_show_batch(fact: DataFrame, events: DataFrame) -> DataFrame:
    """The fact's rows beside silver's seconds for the same (date, user, show, region)."""
    key = ["event_date", "user_id", "show_id", "region"]
    silver = events.groupBy(
        F.to_date("event_ts").alias("event_date"), "user_id", "show_id", "region"
    ).agg(F.sum("watch_seconds").cast("long").alias("silver_seconds"))
    return fact.join(silver, key, "full_outer")
