"""The daily run for one arrival date: ingest, stage on an audit branch, audit, publish.

This is the entry point that both ``viewership run`` and the Airflow DAG execute. Transforms
live in jobs.ingest, jobs.silver and jobs.gold; this module does the reading and writing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from data_quality import reconciliation
from data_quality.reconciliation import FeedCounts
from jobs import gold, ingest, silver
from jobs.landing import catalog_in_effect, feed_files
from jobs.validate import Context, validated
from jobs.wap import branch_name, drop_branch, publish, staging
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
    problems: list[str] = field(default_factory=list)


def _day_range(column: str, days: list[date]) -> Column:
    """A filter on a timestamp column that Iceberg can prune by its days() partition."""
    condition = F.lit(False)
    for day in days:
        start = datetime.combine(day, time(0), UTC)
        condition = condition | (
            (F.col(column) >= F.lit(start)) & (F.col(column) < F.lit(start + timedelta(days=1)))
        )
    return condition


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
        in_window = _day_range("event_ts", window_days)
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
                _day_range("event_ts", days)
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
                _day_range("signup_ts", self.result.signup_dates)
            )
            gold.signups_daily(signups).writeTo(T.SIGNUPS_DAILY.spark_name).overwrite(
                F.col("signup_date").isin(self.result.signup_dates)
            )
        self._say(f"gold recomputed for {len(days)} event date(s): {_span(days)}")

    # -- audit and publish -----------------------------------------------------------------

    def audit(self) -> list[str]:
        """Checks that decide publication: reconciliation and the bad-record threshold."""
        return reconciliation.problems(self.result.feeds.values(), self.max_bad_ratio)

    def record(self, status: str, message: str | None) -> None:
        """Append the run's per-feed counts and outcome to the run log (on main)."""
        now = datetime.now(UTC)
        rows = [
            (
                self.run_id,
                self.day,
                c.feed,
                status,
                c.lines_read,
                c.accepted,
                c.duplicates,
                c.quarantined,
                c.reconciled,
                self.result.branch,
                message,
                now,
            )
            for c in self.result.feeds.values()
        ]
        schema = self.spark.table(T.RUN_LOG.spark_name).schema
        self.spark.createDataFrame(rows, schema).writeTo(T.RUN_LOG.spark_name).append()

    def execute(self) -> RunResult:
        """Run the whole cycle; raise PublicationRefused (tables untouched) when checks fail."""
        try:
            drop_branch(self.spark, T.AUDITED_TABLES, self.result.branch)
            with staging(self.spark, self.result.branch):
                show_ids = self.stage_catalog()
                self.stage_events(show_ids)
                self.stage_signups()
                self.stage_gold()
            self.result.problems = self.audit()
            if self.result.problems:
                message = "; ".join(self.result.problems)
                self.record("refused", message)
                raise PublicationRefused(
                    f"{self.day}: nothing published: {message} "
                    f"(staged data kept on branch {self.result.branch})"
                )
            self.result.published = publish(self.spark, T.AUDITED_TABLES, self.result.branch)
            self.record("published", None)
            self._say(f"published {len(self.result.published)} tables")
            return self.result
        finally:
            for df in self._cached:
                df.unpersist()


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
        return DailyRun(spark, settings, logical_date, run_id, max_bad_ratio).execute()
