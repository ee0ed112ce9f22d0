"""Write-Audit-Publish on Iceberg branches: stage on an audit branch, fast-forward main after.

Publishing several tables is not one atomic commit, so tables are published layer by layer
(bronze, silver, gold): a reader may briefly see new silver under old gold, never the reverse.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from pyspark.sql import DataFrame, DataFrameWriterV2, SparkSession
from pyspark.sql import functions as F

from schemas.tables import TableDef
from viewership.errors import ViewershipError

log = logging.getLogger("viewership.wap")

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def branch_name(logical_date: date, run_id: str) -> str:
    """The audit branch of a run: from the logical date and the run id, never the wall clock."""
    return f"audit_{logical_date:%Y%m%d}_{_SAFE.sub('_', run_id)}"


def conformed(frame: DataFrame, table: TableDef) -> DataFrame:
    """The frame as the table is now: a column added to the table since (an Iceberg schema
    change, which rewrites no file) is null, so evolving a table never breaks the job that
    fills it."""
    current = frame.sparkSession.table(table.spark_name).schema
    added = [f for f in current if f.name not in frame.columns]
    if added:
        frame = frame.select("*", *(F.lit(None).cast(f.dataType).alias(f.name) for f in added))
    return frame


def writer(frame: DataFrame, table: TableDef) -> DataFrameWriterV2:
    """``frame.writeTo(table)`` for the frame as the table is now (``conformed``)."""
    return conformed(frame, table).writeTo(table.spark_name)


@contextmanager
def staging(spark: SparkSession, branch: str) -> Iterator[None]:
    """Route every read and write of WAP-enabled tables to the audit branch while inside."""
    spark.conf.set("spark.wap.branch", branch)
    try:
        yield
    finally:
        spark.conf.unset("spark.wap.branch")


def _load(spark: SparkSession, table: TableDef) -> Any:
    """The table's Iceberg Java object, loaded now through the session's own catalog (which
    caches nothing, so another process's commit is seen)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None  # a classic (non-Connect) session, as the factory builds
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(
        spark._jsparkSession, table.spark_name
    )


def refs(spark: SparkSession, table: TableDef) -> dict[str, tuple[str, int]]:
    """Each ref of a table: its kind (``BRANCH`` or ``TAG``) and snapshot id.

    Read from the table's metadata: no Spark job, where a query of ``<table>.refs`` plans and
    runs one. A run looks refs up some seventy times.
    """
    return {
        str(name): ("BRANCH" if ref.isBranch() else "TAG", int(ref.snapshotId()))
        for name, ref in _load(spark, table).refs().items()
    }


def main_property(spark: SparkSession, table: TableDef, key: str) -> str | None:
    """A property of the summary of the table's main snapshot (a write sets it with the
    ``snapshot-property.<key>`` option); None without a snapshot or the property."""
    snapshot = _load(spark, table).currentSnapshot()
    if snapshot is None:
        return None
    value = snapshot.summary().get(key)
    return None if value is None else str(value)


def branches(spark: SparkSession, table: TableDef) -> set[str]:
    """The branch names a table has."""
    return {name for name, (kind, _) in refs(spark, table).items() if kind == "BRANCH"}


class MainMoved(ViewershipError):
    """Another run published to a table's main after this run staged on it: restage, retry."""


def heads(spark: SparkSession, tables: Sequence[TableDef]) -> dict[str, int | None]:
    """Each table's main snapshot id (None for a table with no snapshot yet)."""
    out: dict[str, int | None] = {}
    for table in tables:
        main = refs(spark, table).get("main")
        out[table.identifier] = main[1] if main else None
    return out


def check_heads(
    spark: SparkSession,
    tables: Sequence[TableDef],
    staged_on: dict[str, int | None],
    branch: str,
) -> None:
    """Refuse to publish a branch when a table's main is no longer the one it was staged on.

    Fast-forwarding table by table after another run published in between would leave the
    publication half done (Iceberg refuses a fast-forward whose main moved), so the run checks
    every table first, under the publication lock, and stages again when one moved.
    """
    moved = sorted(i for i, head in heads(spark, tables).items() if head != staged_on[i])
    if moved:
        raise MainMoved(f"main moved on {', '.join(moved)} while {branch} was staged")


def drop_branch(spark: SparkSession, tables: Sequence[TableDef], branch: str) -> None:
    """Remove a branch wherever it exists (a rerun under the same run id starts from main)."""
    for table in tables:
        if branch in branches(spark, table):
            spark.sql(f"ALTER TABLE {table.spark_name} DROP BRANCH `{branch}`")


def publish(spark: SparkSession, tables: Sequence[TableDef], branch: str) -> list[str]:
    """Fast-forward main to the branch on each table that has it, in order.

    Each table's fast-forward and the removal of its branch are one metadata commit (what
    ``CALL system.fast_forward`` and ``DROP BRANCH`` do in two): a table still holding the
    branch is exactly one not yet published, which is what finishing an interrupted
    publication looks for.
    """
    published = []
    for table in tables:
        loaded = _load(spark, table)
        if branch not in {str(name) for name in loaded.refs().keys()}:
            continue
        loaded.manageSnapshots().fastForwardBranch("main", branch).removeBranch(branch).commit()
        published.append(table.identifier)
        log.debug("fast-forwarded %s to %s", table.identifier, branch)
    return published
