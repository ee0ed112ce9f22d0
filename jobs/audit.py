"""The audit step's I/O: read what a run staged on its audit branch into the gate's batches.

Called while ``spark.wap.branch`` names the run's branch, so every read here sees the staged
state of each table, not main. The batches' derived columns come from data_quality.batches;
the run-level batch (one row per feed) lines the run's own counts up against the branch.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from data_quality import batches as B
from data_quality.reconciliation import FeedCounts
from schemas import tables as T
from schemas.contract import LATE_DAYS

VOLUME_HISTORY_DAYS = 7


@dataclass(frozen=True)
class Scope:
    """What the run touched: its arrival date and the event and signup dates it recomputed."""

    arrival_date: date
    event_dates: list[date]
    signup_dates: list[date]
    catalog_day: date


def day_range(column: str, days: list[date]) -> Column:
    """A filter on a timestamp column that Iceberg can prune by its days() partition.

    Consecutive days make one range: a run's 31 changed dates are one comparison pair, not
    31 (each term is a round trip to the JVM as the filter is built).
    """
    condition = F.lit(False)
    for first, last in _runs(sorted(set(days))):
        start = datetime.combine(first, time(0), UTC)
        end = datetime.combine(last + timedelta(days=1), time(0), UTC)
        condition = condition | ((F.col(column) >= F.lit(start)) & (F.col(column) < F.lit(end)))
    return condition


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) runs of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def arrival_window(day: date) -> list[date]:
    """The event dates an arrival date's accepted events can fall on (the contract's window,
    and a day's margin either side)."""
    return [day - timedelta(days=n) for n in range(-1, LATE_DAYS + 2)]


def table_batches(
    spark: SparkSession,
    scope: Scope,
    in_effect: DataFrame,
    pseudonymous: Callable[[DataFrame], DataFrame],
) -> dict[str, DataFrame]:
    """One batch per audited table: the rows of the dates this run wrote, as staged.

    ``pseudonymous`` is gold's own mapping of user ids, so the fact meets silver's seconds.
    """

    def read(table: T.TableDef) -> DataFrame:
        return spark.table(table.spark_name)

    this_arrival = F.col("arrival_date") == F.lit(scope.arrival_date)
    event_days = F.col("event_date").isin(scope.event_dates)
    shows = read(T.SHOWS)
    events = read(T.VIEWING_EVENTS).where(day_range("event_ts", scope.event_dates))
    signups = read(T.SIGNUPS).where(day_range("signup_ts", scope.signup_dates))
    fact = read(T.USER_SHOW_DAILY).where(event_days)
    batches = {raw.identifier: read(raw).where(this_arrival) for raw in T.RAW_TABLES.values()}
    return batches | {
        T.QUARANTINE.identifier: read(T.QUARANTINE).where(this_arrival),
        T.SHOWS.identifier: B.shows_batch(shows),
        T.VIEWING_EVENTS.identifier: B.events_batch(events, shows, in_effect, scope.arrival_date),
        T.SIGNUPS.identifier: B.signups_batch(signups),
        T.USER_SHOW_DAILY.identifier: B.user_show_batch(fact, events.transform(pseudonymous)),
    }


def run_batch(
    spark: SparkSession,
    scope: Scope,
    feeds: Mapping[str, FeedCounts],
    batches: Mapping[str, DataFrame],
    in_effect: DataFrame,
) -> DataFrame:
    """One row per feed: the run's counts beside what the branch holds, and the day's vitals."""
    day = scope.arrival_date
    this_arrival = F.col("arrival_date") == F.lit(day)
    quarantined = {
        row["feed"]: row["n"]
        for row in batches[T.QUARANTINE.identifier].groupBy("feed").agg(F.count("*").alias("n"))
        .collect()
    }  # fmt: skip
    events = batches[T.VIEWING_EVENTS.identifier].where(this_arrival)
    # Epoch seconds: a collected timestamp would come back in the driver's local time zone.
    newest, staged_events = events.agg(
        F.max(F.col("event_ts").cast("long")), F.count("*")
    ).first() or (None, 0)
    silver = {
        "viewing_events": staged_events,
        "signups": batches[T.SIGNUPS.identifier].where(this_arrival).count(),
        "catalog": (
            batches[T.SHOWS.identifier].join(in_effect, "show_id", "left_semi").count()
            if scope.catalog_day == day
            else 0
        ),
    }
    raw = {feed: batches[T.RAW_TABLES[feed].identifier].count() for feed in feeds}
    return run_frame(spark, day, feeds, raw, quarantined, silver, newest)


def run_frame(
    spark: SparkSession,
    day: date,
    feeds: Mapping[str, FeedCounts],
    raw: Mapping[str, int],
    quarantined: Mapping[str, int],
    silver: Mapping[str, int],
    newest_event: float | None,
) -> DataFrame:
    """The run-level batch from counts already taken: the run's own, beside the rows the
    tables hold of the arrival date (bronze, quarantine and silver, by feed)."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), UTC).timestamp()
    rows = []
    for feed, counts in feeds.items():
        volume = _volume_ratio(spark, day, counts.accepted) if feed == "viewing_events" else None
        lag = (
            (end_of_day - newest_event) / 3600
            if feed == "viewing_events" and newest_event is not None
            else None
        )
        rows.append(
            (
                feed,
                counts.lines_read,
                counts.accepted,
                counts.duplicates,
                counts.quarantined,
                raw.get(feed, 0),
                quarantined.get(feed, 0),
                silver.get(feed, 0),
                counts.bad_ratio,
                volume,
                lag,
            )
        )
    return spark.createDataFrame(rows, B.RUN_SCHEMA)


def _volume_ratio(spark: SparkSession, day: date, accepted: int) -> float | None:
    """Accepted events over the median of the trailing week's published days.

    None (no judgement) until at least three of the seven days before have published.
    """
    history = (
        spark.table(T.RUN_LOG.spark_name)
        .where(
            (F.col("feed") == "viewing_events")
            & (F.col("status") == "published")
            & F.col("logical_date").between(day - timedelta(days=VOLUME_HISTORY_DAYS),
                                            day - timedelta(days=1))
        )
        .withColumn(
            "_latest",
            F.row_number().over(
                Window.partitionBy("logical_date").orderBy(F.col("recorded_at").desc())
            ),
        )
        .where(F.col("_latest") == 1)
        .select("accepted")
        .collect()
    )  # fmt: skip
    if len(history) < 3:
        return None
    median = statistics.median(row["accepted"] for row in history)
    return accepted / median if median else None
