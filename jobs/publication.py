"""Publication: the run log, the gate's verdicts, and what makes publishing survive crashes
and races.

Every Write-Audit-Publish cycle (a date's feeds in ``jobs.run``, its aggregates in
``jobs.aggregate_cycle``) records its status and the gate's verdicts here, publishes under the
publication lock after checking no main moved, and stages again when another run published
under it. A run's prelude finishes what a crash left half published and drops the branches of
runs killed before their verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TypeVar

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from data_quality.gate import GateReport
from data_quality.suites import Parameters
from jobs.wap import MainMoved, branch_name, branches, check_heads, drop_branch, publish
from schemas import tables as T
from schemas.contract import FEEDS
from viewership.config import Settings
from viewership.locking import publication_lock

log = logging.getLogger("viewership.run")

R = TypeVar("R")
# How many times a run stages again when another run published under it (MainMoved) or
# raced one of its staging commits.
PUBLISH_ATTEMPTS = 5
# Iceberg's REST catalog (1.10) answers a commit that raced another branch's commit to the same
# table with a non-retryable error (apache/iceberg#15001, fixed in a later release): the run
# stages again, as when main moved.
_RACED_COMMIT = "Cannot add snapshot with sequence number"


def check_or_drop(
    spark: SparkSession, tables: Sequence[T.TableDef], staged_on: dict[str, int | None], branch: str
) -> None:
    """Go on to publish only if no table's main moved since staging; else drop the branch."""
    try:
        check_heads(spark, tables, staged_on, branch)
    except MainMoved:
        drop_branch(spark, tables, branch)
        raise


def lost_race(failure: Exception) -> MainMoved | None:
    """The failure as a lost race to stage again after, or None for any other failure."""
    if isinstance(failure, MainMoved):
        return failure
    if _RACED_COMMIT in str(failure):
        return MainMoved(f"a concurrent commit raced this run's staging ({_RACED_COMMIT} ...)")
    return None


def until_published(attempt: Callable[[], R]) -> R:
    """Run a Write-Audit-Publish cycle again, from fresh inputs, when another run published
    under it (the cluster profile's runs overlap); give up after PUBLISH_ATTEMPTS."""
    for number in range(1, PUBLISH_ATTEMPTS + 1):
        try:
            return attempt()
        except Exception as failure:
            moved = lost_race(failure)
            if moved is None:
                raise
            if number == PUBLISH_ATTEMPTS:
                raise MainMoved(f"{moved}; gave up after {PUBLISH_ATTEMPTS} attempts") from None
            log.warning("%s; staging again (attempt %d of %d)", moved, number + 1,
                        PUBLISH_ATTEMPTS)  # fmt: skip
    raise AssertionError("unreachable")


def gate_parameters(settings: Settings, day: date, max_bad_ratio: float) -> Parameters:
    low, high = settings.volume_band
    return Parameters(
        arrival_date=day.isoformat(),
        max_bad_ratio=max_bad_ratio,
        volume_low=low,
        volume_high=high,
        freshness_hours=settings.freshness_hours,
    )


def record_audit(
    spark: SparkSession, run_id: str, day: date, verdicts: Mapping[str, GateReport]
) -> None:
    """Keep every expectation's verdict, passed or not, for ``viewership audit``: the reports
    of every branch given (``verdicts`` maps a branch to its report), in one commit."""
    now = datetime.now(UTC)
    rows = [
        (run_id, day, o.table, o.check, o.expectation, o.severity, o.success, o.observed,
         o.unexpected, o.details, branch, now)
        for branch, report in verdicts.items()
        for o in report.outcomes
    ]  # fmt: skip
    if rows:
        schema = spark.table(T.AUDIT_RESULTS.spark_name).schema
        spark.createDataFrame(rows, schema).writeTo(T.AUDIT_RESULTS.spark_name).append()


FeedRow = tuple[str, int, int, int, int, bool]


def status_rows(
    run_id: str, day: date, branch: str, status: str, message: str | None, feeds: list[FeedRow]
) -> list[tuple[object, ...]]:
    """Run-log rows, one per feed: (feed, read, accepted, duplicates, quarantined, ok)."""
    now = datetime.now(UTC)
    return [(run_id, day, feed[0], status, *feed[1:], branch, message, now) for feed in feeds]


def append_statuses(spark: SparkSession, rows: Sequence[tuple[object, ...]]) -> None:
    """Append run-log rows (``status_rows``) of any number of cycles in one commit."""
    schema = spark.table(T.RUN_LOG.spark_name).schema
    spark.createDataFrame(list(rows), schema).writeTo(T.RUN_LOG.spark_name).append()


def record_status(
    spark: SparkSession,
    run_id: str,
    day: date,
    branch: str,
    status: str,
    message: str | None,
    feeds: list[FeedRow],
) -> None:
    """Append one run-log row per feed: (feed, read, accepted, duplicates, quarantined, ok)."""
    append_statuses(spark, status_rows(run_id, day, branch, status, message, feeds))


def lines_published(spark: SparkSession, day: date) -> int:
    """The lines the latest published run of ``day`` read, over its feeds (0 when none
    published).

    Rows of an arrival date reach main only through the publication of a run of that date,
    which logs its counts before its first fast-forward (a publication a crash interrupted is
    finished, and logged published, before a new run starts), and each such run replaces all
    that an earlier one stored. So 0 here means main holds no row of the date.
    """
    rows = (
        spark.table(T.RUN_LOG.spark_name)
        .where((F.col("logical_date") == F.lit(day)) & F.col("feed").isin(*FEEDS)
               & (F.col("status") == "published"))
        .select("run_id", "recorded_at", "lines_read")
        .collect()
    )  # fmt: skip
    if not rows:
        return 0
    latest = max(rows, key=lambda row: row["recorded_at"])["run_id"]
    return sum(row["lines_read"] for row in rows if row["run_id"] == latest)


def finish_interrupted_publications(spark: SparkSession, settings: Settings) -> list[str]:
    """Complete any publication that a crash stopped between two tables; return their runs.

    A run logs ``publishing`` before its first fast-forward and ``published`` after its last,
    both under the publication lock. Every run finishes an unfinished one first, under the same
    lock, so no other publication can have moved a table's main past the interrupted run's
    branch: the fast-forwards that remain still apply, and a reader never keeps gold that is
    older than its silver.
    """
    runs = spark.table(T.RUN_LOG.spark_name).where(F.col("feed").isin(*FEEDS))
    done = runs.where(F.col("status") == "published").select("run_id")
    pending = runs.where(F.col("status") == "publishing").join(done, "run_id", "left_anti")
    pending = pending.collect()
    if not pending:
        return []
    with publication_lock(settings):
        for run_id in (finished := sorted({row["run_id"] for row in pending})):
            _finish(spark, run_id, [row for row in pending if row["run_id"] == run_id])
    return finished


def _finish(spark: SparkSession, run_id: str, rows: list[Row]) -> None:
    """Fast-forward the tables an interrupted publication left, and log the run published."""
    first = rows[0]
    left = [t for t in T.AUDITED_TABLES if first["branch"] in branches(spark, t)]
    publish(spark, left, first["branch"])
    record_status(
        spark, run_id, first["logical_date"], first["branch"], "published",
        f"finished after an interruption; {len(left)} table(s) were still to publish",
        [(r["feed"], r["lines_read"], r["accepted"], r["duplicates"], r["quarantined"],
          r["reconciled"]) for r in rows],
    )  # fmt: skip
    log.warning("finished the interrupted publication of run %s (%s)", run_id,
                first["logical_date"])  # fmt: skip


def drop_abandoned_branches(
    spark: SparkSession, day: date, tables: Sequence[T.TableDef]
) -> list[str]:
    """Drop the audit branches that earlier runs of ``day`` left without a verdict.

    A run killed before its verdict leaves its branch behind, recorded nowhere; so does one
    that failed. A new run of the date supersedes them. Branches of refused runs stay for
    inspection (maintenance drops them after the retention), and a run caught mid-publication
    has been finished by ``finish_interrupted_publications`` already.
    """
    prefix = branch_name(day, "")
    found = [(table, branch) for table in tables for branch in sorted(branches(spark, table))
             if branch.startswith(prefix)]  # fmt: skip
    if not found:  # the usual case: the run log need not be read
        return []
    refused = {
        row["branch"]
        for row in spark.table(T.RUN_LOG.spark_name)
        .where((F.col("status") == "refused") & F.col("branch").isNotNull())
        .select("branch")
        .distinct()
        .collect()
    }
    dropped = []
    for table, branch in found:
        if branch not in refused:
            spark.sql(f"ALTER TABLE {table.spark_name} DROP BRANCH `{branch}`")
            dropped.append(f"{table.identifier}@{branch}")
    if dropped:
        log.warning("[%s] dropped %d branch(es) of interrupted runs", day, len(dropped))
    return dropped


def span(days: list[date]) -> str:
    if not days:
        return "none"
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])
