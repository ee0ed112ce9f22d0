"""The daily run for one arrival date: ingest, stage on an audit branch, audit, publish.

This is the entry point that both ``viewership run`` and the Airflow DAG execute. Transforms
live in jobs.ingest, jobs.silver and jobs.gold; this module does the reading and writing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from data_quality import gate
from data_quality.gate import GateReport
from data_quality.reconciliation import FeedCounts, bad_share
from data_quality.suites import Parameters
from jobs import audit, gold, ingest, silver
from jobs.audit import Scope, day_range
from jobs.landing import catalog_in_effect, feed_files
from jobs.registry import (
    SOURCES,
    Aggregate,
    aggregate_tables,
    all_suites,
    check_output,
    registry,
)
from jobs.validate import Context, validated
from jobs.wap import (
    MainMoved,
    branch_name,
    branches,
    check_heads,
    drop_branch,
    heads,
    publish,
    staging,
    writer,
)
from schemas import tables as T
from schemas.contract import DEFAULT_MAX_BAD_RATIO, FEEDS, LATE_DAYS
from schemas.regions import country_regions
from viewership import pseudonyms
from viewership.config import Settings
from viewership.errors import PublicationRefused, ViewershipError
from viewership.locking import commit_lock, date_lock, publication_lock

log = logging.getLogger("viewership.run")

R = TypeVar("R")
# How many times a run stages again when another run published under it (MainMoved) or
# raced one of its staging commits.
PUBLISH_ATTEMPTS = 5
# Iceberg's REST catalog (1.10) answers a commit that raced another branch's commit to the same
# table with a non-retryable error (apache/iceberg#15001, fixed in a later release): the run
# stages again, as when main moved.
_RACED_COMMIT = "Cannot add snapshot with sequence number"


@dataclass
class RunResult:
    """What a run did: its counts, the dates it recomputed, and whether it published."""

    logical_date: date
    run_id: str
    branch: str
    feeds: dict[str, FeedCounts] = field(default_factory=dict)
    event_dates: list[date] = field(default_factory=list)
    signup_dates: list[date] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    gate: GateReport = field(default_factory=GateReport)


def _dates(df: DataFrame, column: str) -> set[date]:
    return {row[0] for row in df.select(F.to_date(column)).distinct().collect()}


class DailyRun:
    """One arrival date's run; methods follow the order in which the run executes."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        logical_date: date,
        run_id: str,
        max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.day = logical_date
        self.max_bad_ratio = max_bad_ratio
        self.result = RunResult(logical_date, run_id, branch_name(logical_date, run_id))
        self._cached: list[DataFrame] = []
        self._catalog_day = logical_date
        self._pseudonym_key = pseudonyms.key(settings)
        self._in_effect: DataFrame | None = None

    @property
    def run_id(self) -> str:
        return self.result.run_id

    def _say(self, message: str) -> None:
        log.info("[%s] %s", self.day, message)

    def _persist(self, df: DataFrame) -> DataFrame:
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(df)
        return df

    def _validate(self, feed: str, files_day: date, ctx: Context) -> DataFrame:
        files = feed_files(self.settings.landing, feed, files_day)
        lines = ingest.read_lines(self.spark, self.settings.landing, files)
        bom = ingest.bom_files(self.settings.landing, files)
        checked = ingest.mark_unreadable(
            validated(lines, feed, ctx, bom), ingest.unreadable_files(files)
        )
        return checked

    def _count_feed(self, feed: str, checked: DataFrame) -> FeedCounts:
        row = checked.agg(
            F.count(F.lit(1)).alias("read"),
            F.count("reason").alias("bad"),
        ).first()
        counts = FeedCounts(feed, lines_read=row["read"], quarantined=row["bad"])
        self.result.feeds[feed] = counts
        return counts

    def _stage_bronze(self, feed: str, checked: DataFrame) -> None:
        raw = T.RAW_TABLES[feed]
        writer(ingest.raw_rows(checked, self.day, self.run_id), raw).overwrite(
            F.col("arrival_date") == F.lit(self.day)
        )
        bad = checked.where(ingest.is_bad())
        writer(ingest.quarantine_rows(bad, feed, self.day, self.run_id), T.QUARANTINE).overwrite(
            (F.col("feed") == F.lit(feed)) & (F.col("arrival_date") == F.lit(self.day))
        )

    # -- catalog ---------------------------------------------------------------------------

    def stage_catalog(self) -> set[str]:
        """Ingest the catalog in effect; return the show ids events are checked against."""
        snapshot_day = catalog_in_effect(self.settings.landing, self.day)
        ctx = Context(self.day, country_regions())
        checked = self._persist(
            silver.flag_duplicate_shows(self._validate("catalog", snapshot_day, ctx))
        )
        accepted = silver.accepted_only(checked)
        if snapshot_day == self.day:
            counts = self._count_feed("catalog", checked)
            counts.accepted = counts.lines_read - counts.quarantined
            self._stage_bronze("catalog", checked)
            self._say(f"catalog snapshot: {counts.lines_read:,} lines, {counts.quarantined:,} bad")
        else:
            self.result.feeds["catalog"] = FeedCounts("catalog")
            self._say(f"catalog in effect: snapshot of {snapshot_day}")
        self._catalog_day = snapshot_day
        self._in_effect = accepted.select("show_id")
        snapshot = accepted.transform(silver.shows_rows(snapshot_day, self.run_id))
        existing = self.spark.table(T.SHOWS.spark_name)
        merged = self._persist(snapshot.transform(silver.latest_shows(existing)))
        merged.count()  # materialise before overwriting the table it was read from
        writer(merged, T.SHOWS).overwrite(F.lit(True))
        return {row["show_id"] for row in accepted.select("show_id").collect()}

    # -- viewing events --------------------------------------------------------------------

    def stage_events(self, show_ids: set[str]) -> None:
        """Ingest the day's events into bronze, quarantine and silver on the audit branch."""
        ctx = Context(self.day, country_regions(), frozenset(show_ids))
        checked = self._persist(self._validate("viewing_events", self.day, ctx))
        counts = self._count_feed("viewing_events", checked)
        self._stage_bronze("viewing_events", checked)

        table = self.spark.table(T.VIEWING_EVENTS.spark_name)
        window_days = [self.day - timedelta(days=n) for n in range(-1, LATE_DAYS + 2)]
        in_window = day_range("event_ts", window_days)
        this_arrival = F.col("arrival_date") == F.lit(self.day)
        # A rerun replaces what this arrival date stored before: remember the dates it touched.
        touched = _dates(table.where(in_window & this_arrival), "event_ts")
        self.spark.sql(
            f"DELETE FROM {T.VIEWING_EVENTS.spark_name} WHERE arrival_date = DATE'{self.day}'"
        )
        known = self.spark.table(T.VIEWING_EVENTS.spark_name).where(in_window).select("event_id")
        rows = self._persist(
            silver.accepted_only(checked)
            .transform(silver.first_arrivals("event_id"))
            .transform(silver.new_events(known))
            .transform(silver.events_rows(self.day, self.run_id))
        )
        counts.accepted = rows.count()
        counts.duplicates = counts.lines_read - counts.quarantined - counts.accepted
        # Before the append: writing a table drops cached frames that read it.
        self.result.event_dates = sorted(touched | _dates(rows, "event_ts"))
        writer(rows, T.VIEWING_EVENTS).append()
        self._say(
            f"viewing_events: {counts.lines_read:,} lines, {counts.accepted:,} accepted, "
            f"{counts.duplicates:,} duplicates, {counts.quarantined:,} quarantined"
        )

    # -- signups ---------------------------------------------------------------------------

    def stage_signups(self) -> None:
        """Ingest the day's signups; each user keeps only their earliest signup."""
        ctx = Context(self.day, country_regions())
        checked = self._persist(self._validate("signups", self.day, ctx))
        counts = self._count_feed("signups", checked)
        self._stage_bronze("signups", checked)

        name = T.SIGNUPS.spark_name
        touched = _dates(
            self.spark.table(name).where(F.col("arrival_date") == F.lit(self.day)), "signup_ts"
        )
        self.spark.sql(f"DELETE FROM {name} WHERE arrival_date = DATE'{self.day}'")
        existing = self._persist(self.spark.table(name))
        winners = self._persist(
            silver.accepted_only(checked)
            .transform(silver.first_arrivals("user_id", first=["signup_ts"]))
            .transform(silver.signup_winners(existing))
            .transform(silver.signups_rows(self.day, self.run_id))
        )
        counts.accepted = winners.count()
        counts.duplicates = counts.lines_read - counts.quarantined - counts.accepted
        superseded = existing.join(winners.select("user_id"), "user_id", "left_semi")
        touched |= _dates(superseded, "signup_ts") | _dates(winners, "signup_ts")
        if counts.accepted:
            winners.createOrReplaceTempView("signup_winners")
            self.spark.sql(
                f"MERGE INTO {name} t USING signup_winners s ON t.user_id = s.user_id "
                "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *"
            )
        self.result.signup_dates = sorted(touched)
        self._say(
            f"signups: {counts.lines_read:,} lines, {counts.accepted:,} accepted, "
            f"{counts.duplicates:,} duplicates, {counts.quarantined:,} quarantined"
        )

    # -- gold ------------------------------------------------------------------------------

    def stage_fact(self) -> None:
        """Recompute the user-show fact for exactly the dates this run touched."""
        days = self.result.event_dates
        if days:
            events = self.spark.table(T.VIEWING_EVENTS.spark_name).where(
                day_range("event_ts", days)
            )
            fact = gold.user_show_daily(events.transform(gold.pseudonymous(self._pseudonym_key)))
            writer(fact, T.USER_SHOW_DAILY).overwrite(F.col("event_date").isin(days))
        self._say(f"user-show fact recomputed for {len(days)} event date(s): {_span(days)}")

    # -- audit and publish -----------------------------------------------------------------

    def audit(self) -> GateReport:
        """Validate what the run staged on its branch; GX's verdict decides publication."""
        assert self._in_effect is not None, "stage_catalog runs first"
        scope = Scope(
            self.day, self.result.event_dates, self.result.signup_dates, self._catalog_day
        )
        batches = {
            name: self._persist(batch)
            for name, batch in audit.table_batches(
                self.spark, scope, self._in_effect, gold.pseudonymous(self._pseudonym_key)
            ).items()
        }
        batches[T.RUN_LOG.identifier] = self._persist(
            audit.run_batch(self.spark, scope, self.result.feeds, batches, self._in_effect)
        )
        report = gate.validate(
            self.settings,
            batches,
            _parameters(self.settings, self.day, self.max_bad_ratio),
            run_name=self.result.branch,
            suites=all_suites(),
        )
        for warning in report.warnings:
            self._say(f"warning: {warning.line()}")
        return report

    def refusal(self, report: GateReport) -> str:
        """One line naming every failed error-level expectation and what it observed."""
        reasons = []
        for outcome in report.errors:
            if outcome.check == "quarantine_share":
                reasons += [
                    bad_share(c, self.max_bad_ratio)
                    for c in self.result.feeds.values()
                    if c.bad_ratio > self.max_bad_ratio
                ]
            else:
                reasons.append(outcome.line())
        return "; ".join(reasons)

    def record(self, status: str, message: str | None) -> None:
        """Append the run's per-feed counts and its status to the run log (on main)."""
        record_status(self.spark, self.run_id, self.day, self.result.branch, status, message,
                      [(c.feed, c.lines_read, c.accepted, c.duplicates, c.quarantined,
                        c.reconciled) for c in self.result.feeds.values()])  # fmt: skip

    def record_dates(self) -> None:
        """Keep the dates this run changed: its aggregates recompute exactly those."""
        rows = [(self.run_id, self.day, "event", d) for d in self.result.event_dates] + [
            (self.run_id, self.day, "signup", d) for d in self.result.signup_dates
        ]
        schema = self.spark.table(T.RUN_DATES.spark_name).schema
        self.spark.createDataFrame(rows, schema).writeTo(T.RUN_DATES.spark_name).append()

    def execute(self) -> RunResult:
        """Run the whole cycle; raise PublicationRefused (main untouched) when the gate fails."""
        try:
            drop_branch(self.spark, T.AUDITED_TABLES, self.result.branch)
            staged_on = heads(self.spark, T.AUDITED_TABLES)
            with staging(self.spark, self.result.branch):
                show_ids = self.stage_catalog()
                self.stage_events(show_ids)
                self.stage_signups()
                self.stage_fact()
                self.result.gate = report = self.audit()
            if report.errors:
                record_audit(self.spark, self.run_id, self.day, self.result.branch, report)
                message = self.refusal(report)
                self.record("refused", message)
                raise PublicationRefused(
                    f"{self.day}: nothing published: {message} (staged data kept on branch "
                    f"{self.result.branch}; details: viewership audit --date {self.day})"
                )
            with publication_lock(self.settings):
                _check_or_drop(self.spark, T.AUDITED_TABLES, staged_on, self.result.branch)
                record_audit(self.spark, self.run_id, self.day, self.result.branch, report)
                # Publication spans tables: the run log says it began, so that a crash midway
                # is seen and finished by the next run (finish_interrupted_publications).
                self.record_dates()
                self.record("publishing", None)
                self.result.published = publish(self.spark, T.AUDITED_TABLES, self.result.branch)
                self.record("published", None)
            self._say(
                f"published {len(self.result.published)} tables"
                + (f" with {len(report.warnings)} warning(s)" if report.warnings else "")
            )
            return self.result
        finally:
            for df in self._cached:
                df.unpersist()


def _check_or_drop(
    spark: SparkSession, tables: Sequence[T.TableDef], staged_on: dict[str, int | None], branch: str
) -> None:
    """Go on to publish only if no table's main moved since staging; else drop the branch."""
    try:
        check_heads(spark, tables, staged_on, branch)
    except MainMoved:
        drop_branch(spark, tables, branch)
        raise


def _lost_race(failure: Exception) -> MainMoved | None:
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
            moved = _lost_race(failure)
            if moved is None:
                raise
            if number == PUBLISH_ATTEMPTS:
                raise MainMoved(f"{moved}; gave up after {PUBLISH_ATTEMPTS} attempts") from None
            log.warning("%s; staging again (attempt %d of %d)", moved, number + 1,
                        PUBLISH_ATTEMPTS)  # fmt: skip
    raise AssertionError("unreachable")


def each_aggregate(
    names: Sequence[str],
    cycle: Callable[[str], list[date]],
    published: Callable[[str, list[date]], None] = lambda name, days: None,
) -> list[str]:
    """Run each aggregate's cycle in turn; one refused does not hold back the others.

    Returns the refusals, for the caller to raise once every cycle has run.
    """
    refusals = []
    for name in names:
        try:
            days = cycle(name)
        except PublicationRefused as refused:
            refusals.append(str(refused))
        else:
            published(name, days)
    return refusals


def _parameters(settings: Settings, day: date, max_bad_ratio: float) -> Parameters:
    low, high = settings.volume_band
    return Parameters(
        arrival_date=day.isoformat(),
        max_bad_ratio=max_bad_ratio,
        volume_low=low,
        volume_high=high,
        freshness_hours=settings.freshness_hours,
    )


def record_audit(
    spark: SparkSession, run_id: str, day: date, branch: str, report: GateReport
) -> None:
    """Keep every expectation's verdict, passed or not, for ``viewership audit``."""
    now = datetime.now(UTC)
    rows = [
        (run_id, day, o.table, o.check, o.expectation, o.severity, o.success, o.observed,
         o.unexpected, o.details, branch, now)
        for o in report.outcomes
    ]  # fmt: skip
    schema = spark.table(T.AUDIT_RESULTS.spark_name).schema
    spark.createDataFrame(rows, schema).writeTo(T.AUDIT_RESULTS.spark_name).append()


def record_status(
    spark: SparkSession,
    run_id: str,
    day: date,
    branch: str,
    status: str,
    message: str | None,
    feeds: list[tuple[str, int, int, int, int, bool]],
) -> None:
    """Append one run-log row per feed: (feed, read, accepted, duplicates, quarantined, ok)."""
    now = datetime.now(UTC)
    rows = [(run_id, day, feed[0], status, *feed[1:], branch, message, now) for feed in feeds]
    schema = spark.table(T.RUN_LOG.spark_name).schema
    spark.createDataFrame(rows, schema).writeTo(T.RUN_LOG.spark_name).append()


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
    refused = {
        row["branch"]
        for row in spark.table(T.RUN_LOG.spark_name)
        .where((F.col("status") == "refused") & F.col("branch").isNotNull())
        .select("branch")
        .distinct()
        .collect()
    }
    prefix = branch_name(day, "")
    dropped = []
    for table in tables:
        for branch in sorted(branches(spark, table)):
            if branch.startswith(prefix) and branch not in refused:
                spark.sql(f"ALTER TABLE {table.spark_name} DROP BRANCH `{branch}`")
                dropped.append(f"{table.identifier}@{branch}")
    if dropped:
        log.warning("[%s] dropped %d branch(es) of interrupted runs", day, len(dropped))
    return dropped


def _span(days: list[date]) -> str:
    if not days:
        return "none"
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])


class AggregateRun:
    """One aggregate's own Write-Audit-Publish cycle over the dates an arrival date changed.

    It reads the published silver tables and fact (main), writes its table on a branch of its
    own, validates it with its suite and fast-forwards main: one table, one atomic publish.
    """

    def __init__(
        self, spark: SparkSession, settings: Settings, aggregate: Aggregate, day: date, run_id: str
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.aggregate = aggregate
        self.day = day
        self.run_id = run_id
        # Not the ingest branch's name: inputs must never resolve to a refused run's branch.
        self.branch = f"{branch_name(day, run_id)}__{aggregate.name}"
        self.feed = f"aggregate:{aggregate.name}"

    def _record(self, status: str, message: str | None, rows: int) -> None:
        record_status(self.spark, self.run_id, self.day, self.branch, status, message,
                      [(self.feed, rows, rows, 0, 0, True)])  # fmt: skip

    def execute(self) -> list[date]:
        """Replace the aggregate's rows of the changed dates; return those dates."""
        aggregate, table = self.aggregate, self.aggregate.table
        days = changed_dates(self.spark, self.day)[aggregate.dates]
        if not days:
            log.info("[%s] %s: no %s dates changed", self.day, aggregate.name, aggregate.dates)
            self._record("published", f"no {aggregate.dates} dates changed", 0)
            return days
        replace = F.col(aggregate.date_column).isin(days)
        inputs = {name: SOURCES[name].read(self.spark, {aggregate.dates: days})
                  for name in aggregate.reads}  # fmt: skip
        output = aggregate.transform(**inputs)
        check_output(aggregate, output)  # before anything is staged
        drop_branch(self.spark, [table], self.branch)
        staged_on = heads(self.spark, [table])
        with staging(self.spark, self.branch):
            writer(output, table).overwrite(replace)
            staged = self.spark.table(table.spark_name).where(replace)
            batch = aggregate.batch(staged, inputs).persist(StorageLevel.MEMORY_AND_DISK)
            try:
                report = gate.validate(
                    self.settings,
                    {table.identifier: batch},
                    _parameters(self.settings, self.day, DEFAULT_MAX_BAD_RATIO),
                    run_name=self.branch,
                    suites=all_suites(),
                )
                rows = staged.count()
            finally:
                batch.unpersist()
        if report.errors:
            record_audit(self.spark, self.run_id, self.day, self.branch, report)
            message = "; ".join(o.line() for o in report.errors)
            self._record("refused", message, rows)
            raise PublicationRefused(
                f"{self.day}: {aggregate.name} not published: {message} (staged on branch "
                f"{self.branch} of {table.identifier}; details: viewership audit --date {self.day})"
            )
        with publication_lock(self.settings):
            _check_or_drop(self.spark, [table], staged_on, self.branch)
            record_audit(self.spark, self.run_id, self.day, self.branch, report)
            publish(self.spark, [table], self.branch)
            self._record("published", None, rows)
        log.info("[%s] %s: %s rows for %s", self.day, aggregate.name, f"{rows:,}", _span(days))
        return days


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


def _aggregate_cycle(
    spark: SparkSession, settings: Settings, aggregate: Aggregate, day: date, run_id: str
) -> list[date]:
    return until_published(lambda: AggregateRun(spark, settings, aggregate, day, run_id).execute())


def run_date(
    spark: SparkSession,
    settings: Settings,
    logical_date: date,
    run_id: str,
    max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO,
    aggregates: bool = True,
) -> RunResult:
    """Run one arrival date end to end, holding the date's and the catalog's locks.

    With ``aggregates`` every registered aggregate follows, each in its own cycle (the DAG runs
    them as one mapped task each); one refused aggregate does not stop the others.
    """
    if aggregates:
        registry().check()
    with date_lock(settings, logical_date), commit_lock(settings):
        T.ensure_tables(spark, T.ALL_TABLES + aggregate_tables())
        finish_interrupted_publications(spark, settings)
        drop_abandoned_branches(
            spark, logical_date, T.AUDITED_TABLES + (aggregate_tables() if aggregates else ())
        )
        result = until_published(  # each attempt from fresh inputs
            lambda: DailyRun(spark, settings, logical_date, run_id, max_bad_ratio).execute()
        )
        if aggregates:
            found = registry().aggregates
            refusals = each_aggregate(
                list(found),
                lambda name: _aggregate_cycle(spark, settings, found[name], logical_date, run_id),
                lambda name, days: result.published.append(found[name].table.identifier),
            )
            if refusals:
                raise PublicationRefused("; ".join(refusals))
        return result


def run_aggregate(
    spark: SparkSession, settings: Settings, name: str, logical_date: date, run_id: str
) -> list[date]:
    """Run one aggregate's cycle for an arrival date already published (the DAG's mapped task)."""
    aggregate = registry().get(name)
    with date_lock(settings, logical_date, scope=name), commit_lock(settings):
        T.ensure_tables(spark, T.ALL_TABLES + (aggregate.table,))
        drop_abandoned_branches(spark, logical_date, [aggregate.table])
        return _aggregate_cycle(spark, settings, aggregate, logical_date, run_id)
