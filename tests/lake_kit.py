"""Helpers that run dates and read tables back for tests against the real lakehouse."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession

from jobs.registry import aggregate_tables
from jobs.run import RunResult, run_date
from schemas import tables as T
from viewership.catalog import load_catalog
from viewership.config import Settings


def run(
    spark: SparkSession,
    settings: Settings,
    day: date,
    ratio: float = 0.05,
    run_id: str | None = None,
) -> RunResult:
    """Run one arrival date under a run id made from the date (``t01`` for the 1st)."""
    return run_date(spark, settings, day, run_id=run_id or f"t{day:%d}", max_bad_ratio=ratio)


def rows(spark: SparkSession, table: T.TableDef, *columns: str) -> list[tuple[object, ...]]:
    """The main branch's rows of some columns, sorted."""
    return sorted(tuple(r) for r in spark.table(table.spark_name).select(*columns).collect())


def main_snapshots(settings: Settings) -> dict[str, int | None]:
    """Each audited table's main snapshot id (aggregates' too), as a PyIceberg reader sees it."""
    catalog_ = load_catalog(settings)
    out = {}
    for table in T.AUDITED_TABLES + aggregate_tables():
        snapshot = catalog_.load_table(table.identifier).current_snapshot()
        out[table.identifier] = snapshot.snapshot_id if snapshot else None
    return out


def branch_heads(settings: Settings, branch: str) -> dict[str, int]:
    """The snapshot id a branch points at, on each audited table that has it."""
    catalog_ = load_catalog(settings)
    heads = {}
    for table in T.AUDITED_TABLES + aggregate_tables():
        refs = catalog_.load_table(table.identifier).metadata.refs
        if branch in refs:
            heads[table.identifier] = refs[branch].snapshot_id
    return heads
