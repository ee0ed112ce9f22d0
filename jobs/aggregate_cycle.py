"""The aggregates' Write-Audit-Publish: every aggregate an arrival date changed, in one cycle.

Each aggregate still stages on a branch of its own, is judged by its own suite and is published
or refused alone: one refused aggregate holds back no other, and one that lost a race with
another run is staged again alone. What they share is what costs the same whatever the
aggregate: the changed dates are looked up once, every input is read as of one snapshot of
main, and the gate's verdicts and the run log's statuses are each written in one commit. At
50k events a day the six cycles took 27 s one after the other; docs/performance.md has the
figures after.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_quality import gate
from data_quality.batches import compact
from data_quality.gate import GateReport
from jobs.publication import (
    PUBLISH_ATTEMPTS,
    append_statuses,
    check_or_drop,
    drop_abandoned_branches,
    gate_parameters,
    lost_race,
    record_audit,
    span,
    status_rows,
)
from jobs.registry import SOURCES, Aggregate, all_suites, check_output, registry
from jobs.wap import MainMoved, branch_name, conformed, drop_branch, heads, publish, staging
from schemas import tables as T
from schemas.contract import DEFAULT_MAX_BAD_RATIO, FEEDS
from viewership.config import Settings
from viewership.errors import ViewershipError
from viewership.locking import commit_lock, date_lock, publication_lock

log = logging.getLogger("viewership.run")


@dataclass
class AggregatesResult:
    """What a cycle did: the dates each published aggregate replaced, and one line per refusal."""

    published: dict[str, list[date]] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Staged:
    """One aggregate staged on its branch and judged by its suite."""

    aggregate: Aggregate
    branch: str
    days: list[date]
    staged_on: dict[str, int | None]
    rows: int
    report: GateReport


def aggregate_branch(day: date, run_id: str, aggregate: Aggregate) -> str:
    """Not the ingest branch's name: inputs must never resolve to a refused run's branch."""
    return f"{branch_name(day, run_id)}__{aggregate.name}"


def changed_dates(spark: SparkSession, day: date) -> dict[str, list[date]]:
    """The event and signup dates that the latest published run of ``day`` changed."""
    runs = (
        spark.table(T.RUN_LOG.spark_name)
        .where((F.col("logical_date") == F.lit(day)) & F.col("feed").isin(*FEEDS)
               & (F.col("status") == "published"))
        .orderBy(F.col("recorded_at").desc())
        .select("run_id")
        .first()
    )  # fmt: skip
    if runs is None:
        raise ViewershipError(
            f"{day} has no published run to aggregate; run `viewership run --date {day}` first"
        )
    rows = (
        spark.table(T.RUN_DATES.spark_name)
        .where((F.col("logical_date") == F.lit(day)) & (F.col("run_id") == runs["run_id"]))
        .collect()
    )
    return {kind: sorted({r["day"] for r in rows if r["kind"] == kind})
            for kind in ("event", "signup")}  # fmt: skip


class AggregateCycle:
    """One pass over some aggregates of an arrival date: stage, audit, publish each.

    ``execute`` returns what published and what was refused, and leaves in ``lost`` the
    aggregates whose staging another run's commit overtook, for the caller to stage again.
    """

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        aggregates: Sequence[Aggregate],
        day: date,
        run_id: str,
        reports: list[GateReport],
        changed: Mapping[str, list[date]] | None = None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.aggregates = aggregates
        self.day = day
        self.run_id = run_id
        self.reports = reports  # for the run's one Data Docs build
        # The dates the date's published run changed, when the caller has them at hand.
        self.changed = changed
        self.lost: list[Aggregate] = []
        self._cached: list[DataFrame] = []

    def _persist(self, frame: DataFrame) -> DataFrame:
        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(frame)
        return frame

    def _inputs(self, changed: dict[str, list[date]]) -> dict[str, DataFrame]:
        """Each source any aggregate reads, restricted to the changed dates, as of main's
        snapshot when the cycle starts: every aggregate and audit batch of the cycle sees the
        same input, whoever publishes meanwhile.

        Not cached: each aggregate reads only the columns it needs from Parquet. Caching every
        input whole cost more than reading the shared fact again (the cycle on a two-day 1M
        home: 48 to 50 s cached, 36 to 38 s not; docs/performance.md).
        """
        sources = {name: SOURCES[name] for a in self.aggregates for name in a.reads}
        pinned = heads(self.spark, [source.table for source in sources.values()])
        return {
            name: source.read(self.spark, changed, pinned[source.table.identifier])
            for name, source in sources.items()
        }

    def _stage(
        self, aggregate: Aggregate, days: list[date], inputs: dict[str, DataFrame]
    ) -> _Staged:
        """Write the aggregate's rows of ``days`` on its branch and validate those rows."""
        table = aggregate.table
        branch = aggregate_branch(self.day, self.run_id, aggregate)
        replace = F.col(aggregate.date_column).isin(days)
        given = {name: inputs[name] for name in aggregate.reads}
        output = aggregate.transform(**given)
        check_output(aggregate, output)  # before anything is staged
        # The rows written are the rows audited: persisted, written from the cache, and
        # validated from it, instead of read back from the branch.
        staged = self._persist(conformed(output, table))
        rows = staged.count()
        drop_branch(self.spark, [table], branch)
        staged_on = heads(self.spark, [table])
        with staging(self.spark, branch):
            staged.writeTo(table.spark_name).overwrite(replace)
        batch = self._persist(compact(aggregate.batch(staged, given)))
        report = gate.validate(
            self.settings,
            {table.identifier: batch},
            gate_parameters(self.settings, self.day, DEFAULT_MAX_BAD_RATIO),
            run_name=branch,
            render=False,
            suites=all_suites(),
        )
        self.reports.append(report)
        return _Staged(aggregate, branch, days, staged_on, rows, report)

    def _refusal(self, staged: _Staged) -> str:
        name, table = staged.aggregate.name, staged.aggregate.table.identifier
        message = "; ".join(o.line() for o in staged.report.errors)
        return (
            f"{self.day}: {name} not published: {message} (staged on branch {staged.branch} "
            f"of {table}; details: viewership audit --date {self.day})"
        )

    def execute(self) -> AggregatesResult:
        """Stage and audit every aggregate, then publish those the gate passed, in one turn."""
        result = AggregatesResult()
        changed = self.changed if self.changed is not None else changed_dates(self.spark, self.day)
        statuses: list[tuple[object, ...]] = []

        def status(item: _Staged | Aggregate, state: str, message: str | None, rows: int) -> None:
            aggregate = item.aggregate if isinstance(item, _Staged) else item
            branch = item.branch if isinstance(item, _Staged) else aggregate_branch(
                self.day, self.run_id, aggregate)  # fmt: skip
            statuses.extend(status_rows(self.run_id, self.day, branch, state, message,
                                        [(f"aggregate:{aggregate.name}", rows, rows, 0, 0,
                                          True)]))  # fmt: skip

        todo = []
        for aggregate in self.aggregates:
            if changed[aggregate.dates]:
                todo.append(aggregate)
                continue
            log.info("[%s] %s: no %s dates changed", self.day, aggregate.name, aggregate.dates)
            status(aggregate, "published", f"no {aggregate.dates} dates changed", 0)
            result.published[aggregate.name] = []
        try:
            staged = []
            inputs = self._inputs(changed) if todo else {}
            for aggregate in todo:
                try:
                    staged.append(self._stage(aggregate, changed[aggregate.dates], inputs))
                except Exception as failure:
                    moved = lost_race(failure)
                    if moved is None:
                        raise
                    log.warning("%s: %s", aggregate.name, moved)
                    self.lost.append(aggregate)
            refused = [s for s in staged if s.report.errors]
            for item in refused:
                status(item, "refused", "; ".join(o.line() for o in item.report.errors), item.rows)
                result.refusals.append(self._refusal(item))
            passed = [s for s in staged if not s.report.errors]
            with publication_lock(self.settings):
                publishable = []
                for item in passed:
                    try:
                        check_or_drop(self.spark, [item.aggregate.table], item.staged_on,
                                      item.branch)  # fmt: skip
                    except MainMoved as moved:
                        log.warning("%s: %s", item.aggregate.name, moved)
                        self.lost.append(item.aggregate)
                    else:
                        publishable.append(item)
                verdicts = {s.branch: s.report for s in refused + publishable}
                record_audit(self.spark, self.run_id, self.day, verdicts)
                for item in publishable:
                    publish(self.spark, [item.aggregate.table], item.branch)
                    status(item, "published", None, item.rows)
                    result.published[item.aggregate.name] = item.days
                if statuses:
                    append_statuses(self.spark, statuses)
            for item in publishable:
                log.info("[%s] %s: %s rows for %s", self.day, item.aggregate.name,
                         f"{item.rows:,}", span(item.days))  # fmt: skip
            return result
        finally:
            for frame in self._cached:
                frame.unpersist()


def aggregate_dates(
    spark: SparkSession,
    settings: Settings,
    aggregates: Sequence[Aggregate],
    day: date,
    run_id: str,
    reports: list[GateReport],
    changed: Mapping[str, list[date]] | None = None,
) -> AggregatesResult:
    """Run the aggregates' cycle for ``day``, staging again those that lost a race, up to
    PUBLISH_ATTEMPTS times; the caller holds the date's and the commits' locks.

    ``changed`` gives the event and signup dates of the date's published run when the caller
    has just published it; otherwise the run log has them (``changed_dates``).
    """
    result = AggregatesResult()
    pending = list(aggregates)
    for attempt in range(1, PUBLISH_ATTEMPTS + 1):
        cycle = AggregateCycle(spark, settings, pending, day, run_id, reports, changed)
        done = cycle.execute()
        result.published |= done.published
        result.refusals += done.refusals
        pending = cycle.lost
        if not pending:
            return result
        if attempt < PUBLISH_ATTEMPTS:
            log.warning("%s: staging again (attempt %d of %d)",
                        ", ".join(a.name for a in pending), attempt + 1,
                        PUBLISH_ATTEMPTS)  # fmt: skip
    names = ", ".join(a.name for a in pending)
    raise MainMoved(f"{names}: another run kept publishing; gave up after {PUBLISH_ATTEMPTS} "
                    "attempts")  # fmt: skip


def run_aggregates(
    spark: SparkSession, settings: Settings, names: Sequence[str], logical_date: date, run_id: str
) -> AggregatesResult:
    """Run some aggregates' cycle for an arrival date already published (the DAG's mapped
    task), holding each one's date lock."""
    aggregates = [registry().get(name) for name in names]
    tables = tuple(a.table for a in aggregates)
    reports: list[GateReport] = []
    with ExitStack() as locks:
        for name in sorted(names):
            locks.enter_context(date_lock(settings, logical_date, scope=name))
        locks.enter_context(commit_lock(settings))
        T.ensure_tables(spark, T.ALL_TABLES + tables)
        drop_abandoned_branches(spark, logical_date, tables)
        try:
            return aggregate_dates(spark, settings, aggregates, logical_date, run_id, reports)
        finally:
            gate.build_docs(settings, reports)
