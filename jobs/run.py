"""The daily run for one arrival date: ingest, stage on an audit branch, audit, publish.

This is the entry point that both ``viewership run`` and the Airflow DAG execute. Transforms
live in jobs.ingest, jobs.silver and jobs.gold; this module does the reading and writing. The
run log, crash recovery and races are jobs.publication's; the aggregates that follow are
jobs.aggregate_cycle's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_quality import gate
from data_quality.batches import compact
from data_quality.gate import GateReport
from data_quality.reconciliation import FeedCounts, bad_share
from jobs import audit, gold, ingest, silver
from jobs.aggregate_cycle import aggregate_dates, run_aggregates
from jobs.audit import Scope, arrival_window, day_range
from jobs.landing import catalog_in_effect, feed_files, snapshot_fingerprint
from jobs.publication import (
    check_or_drop,
    drop_abandoned_branches,
    finish_interrupted_publications,
    gate_parameters,
    lines_published,
    record_audit,
    record_status,
    span,
    until_published,
)
from jobs.registry import aggregate_tables, all_suites, registry
from jobs.validate import Context, validated
from jobs.wap import (
    branch_name,
    drop_branch,
    heads,
    main_property,
    publish,
    staging,
    writer,
)
from schemas import tables as T
from schemas.contract import DEFAULT_MAX_BAD_RATIO, FEEDS
from schemas.regions import country_regions
from viewership import pseudonyms
from viewership.config import Settings
from viewership.errors import PublicationRefused
from viewership.locking import commit_lock, date_lock, publication_lock

log = logging.getLogger("viewership.run")

# The summary property of silver.shows' snapshots: the fingerprint of the catalog snapshot
# the write merged (jobs.landing.snapshot_fingerprint).
MERGED_CATALOG = "viewership.merged-catalog"


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


@dataclass(frozen=True)
class CatalogInEffect:
    """The catalog a run judges its events by: the snapshot's date and its accepted shows."""

    day: date
    shows: DataFrame  # one show_id column, for the audit's reconciliation
    show_ids: frozenset[str]  # the same ids on the driver, for validating each event


def _dates(df: DataFrame, column: str) -> set[date]:
    return {row[0] for row in df.select(F.to_date(column)).distinct().collect()}


def _count_and_dates(df: DataFrame, column: str) -> tuple[int, set[date]]:
    """The rows of a frame and the dates its timestamp column holds, in one aggregation (a
    count and a distinct apart were four Spark jobs)."""
    row = df.agg(F.count(F.lit(1)), F.collect_set(F.to_date(column))).first()
    assert row is not None  # a global aggregation has one row
    return row[0], set(row[1])


class DailyRun:
    """One arrival date's run; methods follow the order in which the run executes."""

    def __init__(
        self,
        spark: SparkSession,
        settings: Settings,
        logical_date: date,
        run_id: str,
        max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO,
        reports: list[GateReport] | None = None,
    ) -> None:
        self.spark = spark
        self.settings = settings
        self.day = logical_date
        self.max_bad_ratio = max_bad_ratio
        # The gate's reports, for one Data Docs build when the caller's run ends.
        self.reports = reports if reports is not None else []
        self.result = RunResult(logical_date, run_id, branch_name(logical_date, run_id))
        self._cached: list[DataFrame] = []
        self._pseudonym_key = pseudonyms.key(settings)

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

    def stage_catalog(self) -> CatalogInEffect:
        """Ingest the catalog in effect; return it, for the events' checks and the audit.

        An earlier snapshot that silver.shows merged last, byte for byte the same, is taken
        from silver.shows: merging it again would change nothing.
        """
        snapshot_day = catalog_in_effect(self.settings.landing, self.day)
        fingerprint = snapshot_fingerprint(self.settings.landing, snapshot_day)
        if snapshot_day < self.day and (held := self._catalog_held(snapshot_day, fingerprint)):
            self.result.feeds["catalog"] = FeedCounts("catalog")
            self._say(f"catalog in effect: snapshot of {snapshot_day}, merged already")
            return held
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
        snapshot = accepted.transform(silver.shows_rows(snapshot_day, self.run_id))
        existing = self.spark.table(T.SHOWS.spark_name)
        merged = self._persist(snapshot.transform(silver.latest_shows(existing)))
        merged.count()  # materialise before overwriting the table it was read from
        merge = writer(merged, T.SHOWS).option(f"snapshot-property.{MERGED_CATALOG}", fingerprint)
        merge.overwrite(F.lit(True))
        shows = accepted.select("show_id")
        show_ids = frozenset(row["show_id"] for row in shows.collect())
        return CatalogInEffect(snapshot_day, shows, show_ids)

    def _catalog_held(self, snapshot_day: date, fingerprint: str) -> CatalogInEffect | None:
        """The snapshot as silver.shows holds it, if main's silver.shows was last written by
        merging exactly this snapshot and holds no newer one (then the rows of its date are
        its accepted shows); else None."""
        if main_property(self.spark, T.SHOWS, MERGED_CATALOG) != fingerprint:
            return None
        since = self.spark.table(T.SHOWS.spark_name).where(
            F.col("snapshot_date") >= F.lit(snapshot_day)
        )
        rows = since.select("show_id", "snapshot_date").collect()
        if not rows or any(row["snapshot_date"] != snapshot_day for row in rows):
            return None
        show_ids = frozenset(row["show_id"] for row in rows)
        shows = self.spark.createDataFrame([(i,) for i in sorted(show_ids)], "show_id string")
        return CatalogInEffect(snapshot_day, shows, show_ids)

    # -- viewing events --------------------------------------------------------------------

    def stage_events(self, show_ids: frozenset[str]) -> None:
        """Ingest the day's events into bronze, quarantine and silver on the audit branch."""
        ctx = Context(self.day, country_regions(), show_ids)
        checked = self._persist(self._validate("viewing_events", self.day, ctx))
        counts = self._count_feed("viewing_events", checked)
        self._stage_bronze("viewing_events", checked)

        table = self.spark.table(T.VIEWING_EVENTS.spark_name)
        in_window = day_range("event_ts", arrival_window(self.day))
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
        # Before the append: writing a table drops cached frames that read it.
        counts.accepted, stored = _count_and_dates(rows, "event_ts")
        counts.duplicates = counts.lines_read - counts.quarantined - counts.accepted
        self.result.event_dates = sorted(touched | stored)
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
        counts.accepted, stored = _count_and_dates(winners, "signup_ts")
        counts.duplicates = counts.lines_read - counts.quarantined - counts.accepted
        superseded = existing.join(winners.select("user_id"), "user_id", "left_semi")
        touched |= _dates(superseded, "signup_ts") | stored
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
        self._say(f"user-show fact recomputed for {len(days)} event date(s): {span(days)}")

    # -- audit and publish -----------------------------------------------------------------

    def audit(self, catalog: CatalogInEffect) -> GateReport:
        """Validate what the run staged on its branch; GX's verdict decides publication."""
        scope = Scope(self.day, self.result.event_dates, self.result.signup_dates, catalog.day)
        batches = {
            name: self._persist(compact(batch))
            for name, batch in audit.table_batches(
                self.spark, scope, catalog.shows, gold.pseudonymous(self._pseudonym_key)
            ).items()
        }
        batches[T.RUN_LOG.identifier] = self._persist(
            audit.run_batch(self.spark, scope, self.result.feeds, batches, catalog.shows)
        )
        report = gate.validate(
            self.settings,
            batches,
            gate_parameters(self.settings, self.day, self.max_bad_ratio),
            run_name=self.result.branch,
            render=False,
            suites=all_suites(),
        )
        return self._judged(report)

    def _judged(self, report: GateReport) -> GateReport:
        self.reports.append(report)
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

    def refuse(self, report: GateReport, kept: str) -> None:
        """Record the gate's verdicts and the refusal, and raise it: main stays as it was."""
        record_audit(self.spark, self.run_id, self.day, {self.result.branch: report})
        message = self.refusal(report)
        self.record("refused", message)
        raise PublicationRefused(
            f"{self.day}: nothing published: {message} ({kept}; details: viewership audit "
            f"--date {self.day})"
        )

    # -- a day when nothing arrived ----------------------------------------------------------

    def nothing_to_stage(self) -> bool:
        """True when the run would change no table: no feed has a landing file for the date,
        the latest published run of the date read no line (so no table holds a row of it:
        ``lines_published``), and silver.shows already holds the catalog snapshot in effect as
        merged last (merging it again changes nothing)."""
        if any(feed_files(self.settings.landing, feed, self.day) for feed in FEEDS):
            return False
        snapshot_day = catalog_in_effect(self.settings.landing, self.day)
        fingerprint = snapshot_fingerprint(self.settings.landing, snapshot_day)
        if self._catalog_held(snapshot_day, fingerprint) is None:
            return False
        return lines_published(self.spark, self.day) == 0

    def judge_nothing_arrived(self) -> RunResult:
        """Judge a date on which nothing arrived by the run log's suite alone, and stage and
        publish nothing: every other suite would validate an empty batch. The run log's
        checks still apply (its volume check warns of a missing day)."""
        for feed in ("catalog", "viewing_events", "signups"):  # the order a full run logs
            self.result.feeds[feed] = FeedCounts(feed)
        feeds = self.result.feeds
        batch = self._persist(audit.run_frame(self.spark, self.day, feeds, {}, {}, {}, None))
        report = self._judged(
            gate.validate(
                self.settings,
                {T.RUN_LOG.identifier: batch},
                gate_parameters(self.settings, self.day, self.max_bad_ratio),
                run_name=self.result.branch,
                render=False,
                suites=all_suites(),
            )
        )
        self.result.gate = report
        if report.errors:
            self.refuse(report, "nothing arrived, nothing was staged")
        with publication_lock(self.settings):
            record_audit(self.spark, self.run_id, self.day, {self.result.branch: report})
            self.record("published", "nothing arrived; no table changed")
        self._say("nothing arrived and no table holds rows of this date: no table changed")
        return self.result

    def execute(self) -> RunResult:
        """Run the whole cycle; raise PublicationRefused (main untouched) when the gate fails."""
        try:
            if self.nothing_to_stage():
                return self.judge_nothing_arrived()
            drop_branch(self.spark, T.AUDITED_TABLES, self.result.branch)
            staged_on = heads(self.spark, T.AUDITED_TABLES)
            with staging(self.spark, self.result.branch):
                catalog = self.stage_catalog()
                self.stage_events(catalog.show_ids)
                self.stage_signups()
                self.stage_fact()
                self.result.gate = report = self.audit(catalog)
            if report.errors:
                self.refuse(report, f"staged data kept on branch {self.result.branch}")
            with publication_lock(self.settings):
                check_or_drop(self.spark, T.AUDITED_TABLES, staged_on, self.result.branch)
                record_audit(self.spark, self.run_id, self.day, {self.result.branch: report})
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


def run_date(
    spark: SparkSession,
    settings: Settings,
    logical_date: date,
    run_id: str,
    max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO,
    aggregates: bool = True,
) -> RunResult:
    """Run one arrival date end to end, holding the date's and the catalog's locks.

    With ``aggregates`` every registered aggregate follows, each staged, audited and published
    on its own branch (the DAG runs them as mapped tasks); one refused aggregate does not stop
    the others. The Data Docs site is built once, at the end, refused or not.
    """
    if aggregates:
        registry().check()
    reports: list[GateReport] = []
    with date_lock(settings, logical_date), commit_lock(settings):
        T.ensure_tables(spark, T.ALL_TABLES + aggregate_tables())
        finish_interrupted_publications(spark, settings)
        drop_abandoned_branches(
            spark, logical_date, T.AUDITED_TABLES + (aggregate_tables() if aggregates else ())
        )
        try:
            result = until_published(  # each attempt from fresh inputs
                lambda: DailyRun(
                    spark, settings, logical_date, run_id, max_bad_ratio, reports
                ).execute()
            )
            if aggregates:
                found = registry().aggregates
                changed = {"event": result.event_dates, "signup": result.signup_dates}
                done = aggregate_dates(
                    spark, settings, [found[n] for n in sorted(found)], logical_date, run_id,
                    reports, changed,
                )  # fmt: skip
                result.published += [found[n].table.identifier for n in sorted(done.published)]
                if done.refusals:
                    raise PublicationRefused("; ".join(done.refusals))
        finally:
            gate.build_docs(settings, reports)
        return result


def run_aggregate(
    spark: SparkSession, settings: Settings, name: str, logical_date: date, run_id: str
) -> list[date]:
    """Run one aggregate's cycle for an arrival date already published; return the dates it
    replaced, or raise PublicationRefused."""
    done = run_aggregates(spark, settings, [name], logical_date, run_id)
    if done.refusals:
        raise PublicationRefused("; ".join(done.refusals))
    return done.published[name]
