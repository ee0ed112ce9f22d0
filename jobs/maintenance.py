"""Lakehouse maintenance through Iceberg's own procedures: compaction, expiry, orphans, retention.

Every step is a ``CALL lake.system.*`` procedure or an Iceberg row-level DELETE; nothing here
touches files by hand. Time limits come from the logical date (``as_of``), never from the wall
clock, so a maintenance run is reproducible and can be rerun for the same week.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pyspark.sql import SparkSession

from jobs.registry import aggregate_tables, registry
from jobs.wap import branches
from schemas import tables as T
from schemas.regions import country_regions
from viewership.config import Settings
from viewership.locking import commit_lock, publication_lock

log = logging.getLogger("viewership.maintenance")

# Iceberg refuses to remove orphan files younger than a day: a concurrent writer may own them.
ORPHAN_SAFETY = timedelta(days=3)
# Region retention deletes by each table's own date column; every aggregate whose table has a
# region column is added to these (regional_tables).
CORE_REGIONAL_TABLES: tuple[tuple[T.TableDef, str], ...] = (
    (T.VIEWING_EVENTS, "event_ts"),
    (T.SIGNUPS, "signup_ts"),
    (T.USER_SHOW_DAILY, "event_date"),
)


def regional_tables() -> tuple[tuple[T.TableDef, str], ...]:
    """Every table that holds rows by region, with the date column retention counts by."""
    aggregates = tuple(
        (a.table, a.date_column)
        for _, a in sorted(registry().aggregates.items())
        if "region" in {f.name for f in a.table.schema.fields}
    )
    return CORE_REGIONAL_TABLES + aggregates


@dataclass
class MaintenanceReport:
    """What one maintenance run did, per table and in total."""

    as_of: date
    rewritten_files: dict[str, int] = field(default_factory=dict)
    added_files: dict[str, int] = field(default_factory=dict)
    expired_snapshots_files: dict[str, int] = field(default_factory=dict)
    orphans_removed: dict[str, int] = field(default_factory=dict)
    dropped_branches: list[str] = field(default_factory=list)
    retention_deleted: dict[str, str] = field(default_factory=dict)


def _ts(moment: datetime) -> str:
    return f"TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def compact(spark: SparkSession, table: T.TableDef, report: MaintenanceReport) -> None:
    """Bin-pack small data files (``rewrite_data_files``), then the manifests."""
    row = spark.sql(
        f"CALL lake.system.rewrite_data_files(table => '{table.identifier}', "
        "options => map('min-input-files', '2'))"
    ).first()
    report.rewritten_files[table.identifier] = row["rewritten_data_files_count"] if row else 0
    report.added_files[table.identifier] = row["added_data_files_count"] if row else 0
    spark.sql(f"CALL lake.system.rewrite_manifests('{table.identifier}')").collect()


def drop_stale_audit_branches(
    spark: SparkSession, table: T.TableDef, before: date, report: MaintenanceReport
) -> None:
    """Drop audit branches of runs whose logical date is older than the retention.

    A refused run keeps its branch for inspection; once it is older than the retention, its
    snapshots would otherwise never expire.
    """
    cutoff = f"audit_{before:%Y%m%d}"
    for branch in sorted(branches(spark, table)):
        if branch.startswith("audit_") and branch[: len(cutoff)] < cutoff:
            spark.sql(f"ALTER TABLE {table.spark_name} DROP BRANCH `{branch}`")
            report.dropped_branches.append(f"{table.identifier}@{branch}")


def expire(
    spark: SparkSession, table: T.TableDef, older_than: datetime, report: MaintenanceReport
) -> None:
    """Expire snapshots older than the retention; the newest one always stays."""
    row = spark.sql(
        f"CALL lake.system.expire_snapshots(table => '{table.identifier}', "
        f"older_than => {_ts(older_than)}, retain_last => 1)"
    ).first()
    report.expired_snapshots_files[table.identifier] = row["deleted_data_files_count"] if row else 0


def remove_orphans(
    spark: SparkSession,
    table: T.TableDef,
    older_than: datetime,
    report: MaintenanceReport,
    prefix_listing: bool = False,
) -> None:
    """Delete files no snapshot references (left by killed runs), once they are old enough.

    With ``prefix_listing`` the table's FileIO lists its files (S3 in the cluster profile,
    which has no Hadoop file system for s3://); else Hadoop lists the local warehouse.
    """
    listing = ", prefix_listing => true" if prefix_listing else ""
    removed = spark.sql(
        f"CALL lake.system.remove_orphan_files(table => '{table.identifier}', "
        f"older_than => {_ts(older_than)}{listing})"
    ).collect()
    report.orphans_removed[table.identifier] = len(removed)


def raw_region_sql(line: str) -> str:
    """SQL for the region of a raw line's ``country`` (null when none the reference knows).

    Bronze keeps lines as bytes: the region is read from the line itself, as ingestion reads it.
    """
    pairs = ", ".join(f"'{c}', '{r}'" for c, r in sorted(country_regions().items()))
    country = f"upper(trim(get_json_object(CAST({line} AS STRING), '$.country')))"
    return f"element_at(map({pairs}), {country})"


def apply_region_retention(
    spark: SparkSession, retention: Mapping[str, int], as_of: date, report: MaintenanceReport
) -> None:
    """Delete rows of users in a region once they are older than the region's retention.

    Parsed tables delete by their own date column; raw and quarantined lines of the user feeds
    by arrival date, their region read from the line. A line with no readable region is kept
    no longer than the shortest retention: it might belong to any region.
    """
    for region, days in sorted(retention.items()):
        cutoff = as_of - timedelta(days=days)
        for table, column in regional_tables():
            bound = _ts(_midnight(cutoff)) if column.endswith("_ts") else f"DATE '{cutoff}'"
            spark.sql(
                f"DELETE FROM {table.spark_name} WHERE region = '{region}' AND {column} < {bound}"
            )
        _delete_raw_lines(spark, region, cutoff)
        report.retention_deleted[region] = f"before {cutoff}"
    if retention:
        _delete_raw_lines(spark, None, as_of - timedelta(days=min(retention.values())))


def _delete_raw_lines(spark: SparkSession, region: str | None, cutoff: date) -> None:
    """Delete the user feeds' raw and quarantined lines of ``region`` (None: of no readable
    region) that arrived before ``cutoff``."""
    line_region = raw_region_sql("raw_line")
    of_region = f"{line_region} = '{region}'" if region else f"{line_region} IS NULL"
    for table in (T.VIEWING_EVENTS_RAW, T.SIGNUPS_RAW):
        spark.sql(
            f"DELETE FROM {table.spark_name} WHERE arrival_date < DATE '{cutoff}' AND {of_region}"
        )
    spark.sql(
        f"DELETE FROM {T.QUARANTINE.spark_name} WHERE feed IN ('viewing_events', 'signups') "
        f"AND arrival_date < DATE '{cutoff}' AND {of_region}"
    )


def maintain(spark: SparkSession, settings: Settings, as_of: date) -> MaintenanceReport:
    """The weekly maintenance of every table, holding the embedded profile's commit lock.

    Each table is maintained under the publication lock, so that no run fast-forwards a main
    that a compaction is rewriting (Iceberg would fail the compaction); a run staged meanwhile
    finds the main it staged on moved, and stages again. Retention comes from the settings:
    ``snapshot_retention_days`` and ``region_retention``.
    """
    prefix_listing = settings.warehouse.startswith("s3://")
    snapshot_retention_days = settings.snapshot_retention_days
    report = MaintenanceReport(as_of)
    keep_since = _midnight(as_of - timedelta(days=snapshot_retention_days))
    with commit_lock(settings):
        tables = T.ALL_TABLES + aggregate_tables()
        T.ensure_tables(spark, tables)
        # Retention first: its deletes are then compacted and their old snapshots expired.
        with publication_lock(settings):
            apply_region_retention(spark, settings.region_retention, as_of, report)
        for table in tables:
            with publication_lock(settings):
                compact(spark, table, report)
                drop_stale_audit_branches(
                    spark, table, as_of - timedelta(days=snapshot_retention_days), report
                )
                expire(spark, table, keep_since, report)
                remove_orphans(spark, table, _midnight(as_of) - ORPHAN_SAFETY, report,
                               prefix_listing)  # fmt: skip
            log.info("maintained %s", table.identifier)
    return report
