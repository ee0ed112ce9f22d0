"""Silver: deduplicated, normalised records. Pure transforms; the run job does the I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.ingest import is_bad
from jobs.validate import Reason

Transform = Callable[[DataFrame], DataFrame]


def accepted_only(validated: DataFrame) -> DataFrame:
    """Lines that passed every line-level rule."""
    return validated.where(~is_bad())


def _arrival_rank(*keys: str, first: list[str] | None = None) -> Window:
    order = [F.col(c) for c in (first or [])] + [F.col("source_file"), F.col("line_number")]
    return Window.partitionBy(*keys).orderBy(*order)


def flag_duplicate_shows(validated: DataFrame) -> DataFrame:
    """A show_id listed twice in one snapshot: the first listing stands, later ones are bad."""
    rank = F.row_number().over(_arrival_rank("show_id"))
    duplicate = F.col("show_id").isNotNull() & (rank > 1)
    return validated.withColumns(
        {
            "reason": F.when(duplicate, F.lit(Reason.DUPLICATE_SHOW.value)).otherwise(
                F.col("reason")
            ),
            "field": F.when(duplicate, F.lit("show_id")).otherwise(F.col("field")),
            "detail": F.when(duplicate, F.lit("show_id listed twice in the snapshot")).otherwise(
                F.col("detail")
            ),
        }
    )


def shows_rows(snapshot_date: date, run_id: str) -> Transform:
    """Accepted catalog lines as silver.shows rows stamped with their snapshot date."""

    def transform(accepted: DataFrame) -> DataFrame:
        return accepted.select(
            "show_id",
            "title",
            "genres",
            "type",
            "release_year",
            F.lit(snapshot_date).alias("snapshot_date"),
            F.lit(run_id).alias("run_id"),
        )

    return transform


def latest_shows(existing: DataFrame) -> Transform:
    """Every show ever listed, each as of the newest snapshot that listed it (new rows win ties).

    Shows missing from a newer snapshot stay, so older events keep their title and genres.
    """

    def transform(snapshot: DataFrame) -> DataFrame:
        both = snapshot.withColumn("_new", F.lit(1)).unionByName(
            existing.withColumn("_new", F.lit(0))
        )
        newest = Window.partitionBy("show_id").orderBy(
            F.col("snapshot_date").desc(), F.col("_new").desc()
        )
        return (
            both.withColumn("_rank", F.row_number().over(newest))
            .where(F.col("_rank") == 1)
            .select(*existing.columns)
        )

    return transform


def first_arrivals(*keys: str, first: list[str] | None = None) -> Transform:
    """Keep one row per key: the earliest by ``first`` columns, then by file and line."""

    def transform(accepted: DataFrame) -> DataFrame:
        rank = F.row_number().over(_arrival_rank(*keys, first=first))
        return accepted.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")

    return transform


def new_events(known_ids: DataFrame) -> Transform:
    """Drop events whose event_id is already stored (retries from earlier arrival days)."""

    def transform(batch: DataFrame) -> DataFrame:
        return batch.join(known_ids, "event_id", "left_anti")

    return transform


def events_rows(arrival_date: date, run_id: str) -> Transform:
    """Accepted, deduplicated events as silver.viewing_events rows."""

    def transform(events: DataFrame) -> DataFrame:
        return events.select(
            "event_id",
            "user_id",
            "show_id",
            "event_ts",
            "watch_seconds",
            "device",
            "country",
            "region",
            F.lit(arrival_date).alias("arrival_date"),
            "source_file",
            F.lit(run_id).alias("run_id"),
        )

    return transform


def signup_winners(existing: DataFrame) -> Transform:
    """Batch signups that are a user's earliest so far; ``existing`` holds stored signups.

    A user already stored with an earlier or equal signup_ts makes the new line a duplicate;
    a new line with an earlier signup_ts replaces the stored row.
    """

    def transform(batch: DataFrame) -> DataFrame:
        stored = existing.select("user_id", F.col("signup_ts").alias("_stored_ts"))
        return (
            batch.join(stored, "user_id", "left")
            .where(F.col("_stored_ts").isNull() | (F.col("signup_ts") < F.col("_stored_ts")))
            .drop("_stored_ts")
        )

    return transform


def signups_rows(arrival_date: date, run_id: str) -> Transform:
    """Accepted signups as silver.signups rows."""

    def transform(signups: DataFrame) -> DataFrame:
        return signups.select(
            "user_id",
            "signup_ts",
            "country",
            "region",
            "plan",
            F.lit(arrival_date).alias("arrival_date"),
            "source_file",
            F.lit(run_id).alias("run_id"),
        )

    return transform
