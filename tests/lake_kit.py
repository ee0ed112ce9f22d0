"""Helpers that run dates and read tables back for tests against the real lakehouse."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from pyspark.sql import SparkSession

from jobs import silver
from jobs.registry import aggregate_tables
from jobs.run import RunResult, run_aggregate, run_date
from schemas import tables as T
from viewership.catalog import load_catalog
from viewership.config import Settings


def run(
    spark: SparkSession,
    settings: Settings,
    day: date,
    ratio: float = 0.05,
    run_id: str | None = None,
    aggregates: Sequence[str] | Literal["all"] = (),
) -> RunResult:
    """Run one arrival date under a run id made from the date (``t01`` for the 1st).

    Only the named aggregates follow (``"all"``: the whole registry, as ``viewership run``
    does): each is a write-audit-publish cycle of its own, which a test of the feeds need not
    pay for.
    """
    run_id = run_id or f"t{day:%d}"
    every = aggregates == "all"
    result = run_date(spark, settings, day, run_id=run_id, max_bad_ratio=ratio, aggregates=every)
    for name in () if every else aggregates:
        run_aggregate(spark, settings, name, day, run_id)
    return result


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


_EVENTS_ROWS = silver.events_rows


def doubled_events(day: date, run_id: str) -> silver.Transform:
    """A broken events transform, to patch over ``silver.events_rows``: it stages every event
    twice, which the quality gate must refuse."""
    make = _EVENTS_ROWS(day, run_id)
    return lambda accepted: make(accepted).unionByName(make(accepted))
