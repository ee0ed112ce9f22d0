"""The daily run for one arrival date: ingest, stage on an audit branch, audit, publish.

This is the entry point that both ``viewership run`` and the Airflow DAG execute. Transforms
live in jobs.ingest, jobs.silver and jobs.gold; this module does the reading and writing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_quality import gate
from data_quality.gate import GateReport
from data_quality.reconciliation import FeedCounts, bad_share
from data_quality.suites import Parameters
from jobs import audit, gold, ingest, silver
from jobs.audit import Scope, day_range
from jobs.landing import catalog_in_effect, feed_files
from jobs.validate import Context, validated
from jobs.wap import branch_name, branches, drop_branch, publish, staging
from schemas import tables as T
from schemas.contract import DEFAULT_MAX_BAD_RATIO, LATE_DAYS
from schemas.regions import country_regions
from viewership.config import Settings
from viewership.errors import PublicationRefused
from viewership.locking import commit_lock, date_lock

log = logging.getLogger("viewership.run")


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
        checked = ingest.mark_unreadable(
            validated(lines, feed, ctx), ingest.unreadable_files(files)
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
        ingest.raw_rows(checked, self.day, self.run_id).writeTo(raw.spark_name).overwrite(
            F.col("arrival_date") == F.lit(self.day)
        )
        bad = checked.where(ingest.is_bad())
        ingest.quarantine_rows(bad, feed, self.day, self.run_id).writeTo(
            T.QUARANTINE.spark_name
        ).overwrite((F.col("feed") == F.lit(feed)) & (F.col("arrival_date") == F.lit(self.day)))

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
        merged.writeTo(T.SHOWS.spark_name).overwrite(F.lit(True))
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
        rows.writeTo(T.VIEWING_EVENTS.spark_name).append()
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

    def stage_gold(self) -> None:
        """Recompute the gold tables for exactly the dates this run touched."""
        days = self.result.event_dates
        if days:
            events = self.spark.table(T.VIEWING_EVENTS.spark_name).where(
                day_range("event_ts", days)
            )
            fact = self._persist(gold.user_show_daily(events))
            replace = F.col("event_date").isin(days)
            fact.writeTo(T.USER_SHOW_DAILY.spark_name).overwrite(replace)
            gold.top_shows_daily(fact).writeTo(T.TOP_SHOWS_DAILY.spark_name).overwrite(replace)
            shows = self.spark.table(T.SHOWS.spark_name)
            fact.transform(gold.genres_by_region_daily(shows)).writeTo(
                T.GENRES_BY_REGION_DAILY.spark_name
            ).overwrite(replace)
        if self.result.signup_dates:
            signups = self.spark.table(T.SIGNUPS.spark_name).where(
                day_range("signup_ts", self.result.signup_dates)
            )
            gold.signups_daily(signups).writeTo(T.SIGNUPS_DAILY.spark_name).overwrite(
                F.col("signup_date").isin(self.result.signup_dates)
            )
        self._say(f"gold recomputed for {len(days)} event date(s): {_span(days)}")

    # -- audit and publish -----------------------------------------------------------------

    def audit(self) -> GateReport:
        """Validate what the run staged on its branch; GX's verdict decides publication."""
        assert self._in_effect is not None, "stage_catalog runs first"
        scope = Scope(
            self.day, self.result.event_dates, self.result.signup_dates, self._catalog_day
        )
        batches = {
            name: self._persist(batch)
            for name, batch in audit.table_batches(self.spark, scope, self._in_effect).items()
        }
        batches[T.RUN_LOG.identifier] = self._persist(
            audit.run_batch(self.spark, scope, self.result.feeds, batches, self._in_effect)
        )
        low, high = self.settings.volume_band
        parameters = Parameters(
            arrival_date=self.day.isoformat(),
            max_bad_ratio=self.max_bad_ratio,
            volume_low=low,
            volume_high=high,
            freshness_hours=self.settings.freshness_hours,
        )
        report = gate.validate(self.settings, batches, parameters, run_name=self.result.branch)
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

    def record_audit(self, report: GateReport) -> None:
        """Keep every expectation's verdict, passed or not, for ``viewership audit``."""
        now = datetime.now(UTC)
        rows = [
            (self.run_id, self.day, o.table, o.check, o.expectation, o.severity, o.success,
             o.observed, o.unexpected, o.details, self.result.branch, now)
            for o in report.outcomes
        ]  # fmt: skip
        schema = self.spark.table(T.AUDIT_RESULTS.spark_name).schema
        self.spark.createDataFrame(rows, schema).writeTo(T.AUDIT_RESULTS.spark_name).append()

    def execute(self) -> RunResult:
        """Run the whole cycle; raise PublicationRefused (main untouched) when the gate fails."""
        try:
            drop_branch(self.spark, T.AUDITED_TABLES, self.result.branch)
            with staging(self.spark, self.result.branch):
                show_ids = self.stage_catalog()
                self.stage_events(show_ids)
                self.stage_signups()
                self.stage_gold()
                self.result.gate = report = self.audit()
            self.record_audit(report)
            if report.errors:
                message = self.refusal(report)
                self.record("refused", message)
                raise PublicationRefused(
                    f"{self.day}: nothing published: {message} (staged data kept on branch "
                    f"{self.result.branch}; details: viewership audit --date {self.day})"
                )
            # Publication spans tables: the run log says it began, so that a crash midway is
            # seen and finished by the next run (finish_interrupted_publications).
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


def finish_interrupted_publications(spark: SparkSession) -> list[str]:
    """Complete any publication that a crash stopped between two tables; return their runs.

    A run logs ``publishing`` before its first fast-forward and ``published`` after its last.
    Every run finishes an unfinished one first, under the same commit lock, so no other commit
    can have moved a table's main past the interrupted run's branch: the fast-forwards that
    remain still apply, and a reader never keeps gold that is older than its silver.
    """
    log = spark.table(T.RUN_LOG.spark_name)
    done = log.where(F.col("status") == "published").select("run_id")
    pending = log.where(F.col("status") == "publishing").join(done, "run_id", "left_anti").collect()
    finished = []
    for run_id in sorted({row["run_id"] for row in pending}):
        rows = [row for row in pending if row["run_id"] == run_id]
        first = rows[0]
        left = [t for t in T.AUDITED_TABLES if first["branch"] in branches(spark, t)]
        publish(spark, left, first["branch"])
        record_status(
            spark, run_id, first["logical_date"], first["branch"], "published",
            f"finished after an interruption; {len(left)} table(s) were still to publish",
            [(r["feed"], r["lines_read"], r["accepted"], r["duplicates"], r["quarantined"],
              r["reconciled"]) for r in rows],
        )  # fmt: skip
        log_msg = f"finished the interrupted publication of run {run_id} ({first['logical_date']})"
        logging.getLogger("viewership.run").warning(log_msg)
        finished.append(run_id)
    return finished


def _span(days: list[date]) -> str:
    if not days:
        return "none"
    return f"{days[0]}..{days[-1]}" if len(days) > 1 else str(days[0])


def run_date(
    spark: SparkSession,
    settings: Settings,
    logical_date: date,
    run_id: str,
    max_bad_ratio: float = DEFAULT_MAX_BAD_RATIO,
) -> RunResult:
    """Run one arrival date end to end, holding the date's and the catalog's locks."""
    with date_lock(settings, logical_date), commit_lock(settings):
        T.ensure_tables(spark)
        finish_interrupted_publications(spark)
        return DailyRun(spark, settings, logical_date, run_id, max_bad_ratio).execute()
