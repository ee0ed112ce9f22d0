"""Daily active viewers: distinct users who watched anything, per day, region and device.

An active viewer of a day is a user with any accepted watch time that day (no 2-minute
qualification: a glance counts as activity). A user on two devices, or in two regions, is
active in each. The daily rows are additive: summed over a period they give viewer-days, and
divided by the period's length, the average daily active viewers.
"""

from __future__ import annotations

from pathlib import Path

from pyiceberg.types import DateType, LongType, StringType
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from data_quality.suites import Check, between, in_set, region_known, rows_where
from jobs.registry import Aggregate, SqlTransform
from schemas.contract import DEVICES
from schemas.tables import daily_table
from viewership.queries import Query, sql_answer

TABLE = daily_table(
    "gold.daily_active_viewers",
    [
        ("event_date", DateType()),
        ("region", StringType()),
        ("device", StringType()),
        ("active_viewers", LongType()),
        ("watch_seconds", LongType()),
    ],
    key=("event_date", "region", "device"),
    doc="Gold: distinct users with any watch time per event date, region and device.",
)


# Distinct active users and their seconds per event date, region and device, in Spark SQL:
# the declaration below shows a transform written as a SQL file.
transform = SqlTransform(Path(__file__).with_suffix(".transform.sql"))


def audit_batch(staged: DataFrame, events: DataFrame) -> DataFrame:
    """Staged rows beside the region's seconds and users recounted from the events."""
    per_region = events.groupBy(F.to_date("event_ts").alias("event_date"), "region").agg(
        F.sum("watch_seconds").cast("long").alias("events_seconds"),
        F.count_distinct("user_id").alias("region_users"),
    )
    all_devices = Window.partitionBy("event_date", "region")
    with_totals = staged.select(
        "*", F.sum("watch_seconds").over(all_devices).alias("devices_seconds")
    )
    return with_totals.join(per_region, ["event_date", "region"], "full_outer")


def checks() -> list[Check]:
    return [
        region_known(),
        in_set("device_known", "device", sorted(DEVICES)),
        between("active_viewers_positive", "active_viewers", min_value=1),
        rows_where("seconds_add_up", "NOT (devices_seconds <=> events_seconds)",
                   "a region's seconds over all devices equal its events' seconds that day"),
        rows_where("viewers_within_region", "active_viewers > region_users",
                   "a device has no more active viewers than its region has users that day"),
    ]  # fmt: skip


AGGREGATE = Aggregate(
    name="daily_active_viewers",
    table=TABLE,
    reads=("events",),
    transform=transform,
    additive=True,
    checks=checks,
    audit_batch=audit_batch,
    query=Query(
        "active-viewers",
        sql_answer(Path(__file__).with_suffix(".sql"), {"daily": TABLE}),
        ("region", "device", "viewer_days", "avg_daily_viewers"),
        help="viewer-days and average daily active viewers per region and device",
    ),
    doc=__doc__ or "",
)
