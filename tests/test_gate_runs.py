"""Write-Audit-Publish end to end: what the gate lets through, blocks, records and recovers."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aggregates import top_shows
from jobs import publication, silver
from jobs import run as run_module
from jobs.aggregate_cycle import AggregateCycle, run_aggregates
from jobs.publication import finish_interrupted_publications
from jobs.registry import aggregate_tables, all_suites, registry
from jobs.run import run_aggregate
from jobs.wap import publish
from schemas import tables as T
from schemas.tables import TableDef
from tests.lake_kit import branch_heads, doubled_events, main_snapshots, rows, run
from tests.landing_kit import catalog, ev, signup, write_lines
from viewership.catalog import load_catalog
from viewership.config import Settings
from viewership.errors import PublicationRefused
from viewership.report import latest_audit, render_report

D1, D2, D3, D4 = (date(2026, 11, day) for day in range(1, 5))


def _a_day(settings: Settings, day: date, events: int = 4) -> None:
    """A small clean arrival day: the catalog, some qualified views and a signup."""
    catalog(settings.landing, day)
    write_lines(
        settings.landing, "viewing_events", day,
        [ev(f"{day:%d}-{i}", f"u{i % 3}", ("s1", "s2")[i % 2], f"{day}T1{i % 10}:00:00Z", 150)
         for i in range(events)],
    )  # fmt: skip
    write_lines(settings.landing, "signups", day, [signup(f"n{day:%d}", f"{day}T08:00:00Z")])


def _published_rows(settings: Settings, table: TableDef) -> int:
    return load_catalog(settings).load_table(table.identifier).scan().to_arrow().num_rows


def test_a_clean_day_publishes_and_every_verdict_is_recorded(
    spark: SparkSession, lakehouse: Settings
) -> None:
    _a_day(lakehouse, D1)
    result = run(spark, lakehouse, D1, aggregates="all")
    assert result.published == [t.identifier for t in T.AUDITED_TABLES + aggregate_tables()]
    report = latest_audit(lakehouse, D1)
    assert report is not None
    assert (report.status, report.run_id, report.failed) == ("published", "t01", [])
    assert {e["table_name"] for e in report.expectations} == set(all_suites())
    assert {a["aggregate"]: a["status"] for a in report.aggregates} == dict.fromkeys(
        registry().aggregates, "published"
    )
    assert report.branch_kept_on == []  # the audit branch is gone once main has it
    # and the run's one Data Docs build shows the validation of every table it audited
    site = lakehouse.data_docs_index.read_text(encoding="utf-8")
    assert [name for name in all_suites() if name not in site] == []
    assert "published" in render_report(report, "table").splitlines()[0]


TOP = top_shows.TABLE


def test_a_failed_error_level_check_publishes_nothing(
    spark: SparkSession, lakehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a published day, and a transform that now stages duplicated events for the next one
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1, aggregates=["top_shows"])
    before = main_snapshots(lakehouse)
    published_top = rows(spark, TOP, "event_date", "show_id", "viewers")
    _a_day(lakehouse, D2)
    monkeypatch.setattr(silver, "events_rows", doubled_events)
    # When the day runs, the gate refuses it in one line that names the failed expectation
    failed = "silver.viewing_events event_id_unique"
    with pytest.raises(PublicationRefused, match=failed) as refused:
        run(spark, lakehouse, D2)
    assert "\n" not in str(refused.value)
    # Then every main (the aggregates' too) is at the same snapshot, and readers see nothing new
    assert main_snapshots(lakehouse) == before
    assert rows(spark, TOP, "event_date", "show_id", "viewers") == published_top
    assert _published_rows(lakehouse, T.VIEWING_EVENTS) == 4
    # and the branch is kept for inspection, as `viewership audit` says
    report = latest_audit(lakehouse, D2)
    assert report is not None and report.status == "refused"
    assert failed in [f"{e['table_name']} {e['check_name']}" for e in report.failed]
    assert set(report.branch_kept_on) == {t.identifier for t in T.AUDITED_TABLES}
    assert f"VERSION AS OF '{report.branch}'" in render_report(report, "table")
    # and once the transform is fixed, the same date publishes
    monkeypatch.undo()
    assert run(spark, lakehouse, D2, run_id="fixed").published
    assert _published_rows(lakehouse, T.VIEWING_EVENTS) == 8


def test_a_refused_aggregate_keeps_its_table_and_lets_the_others_publish(
    spark: SparkSession, lakehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a published day, and a top-shows transform that now inflates its viewers
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1, aggregates=["top_shows"])
    published_top = rows(spark, TOP, "event_date", "show_id", "viewers")
    _a_day(lakehouse, D2)
    declared = registry().aggregates["top_shows"]

    def inflated(fact: DataFrame) -> DataFrame:
        return declared.transform(fact).withColumn("viewers", F.col("viewers") + 1)

    monkeypatch.setitem(
        registry().aggregates, "top_shows", dataclasses.replace(declared, transform=inflated)
    )
    # When the day runs, the feeds and the other aggregates publish; top_shows is refused
    with pytest.raises(PublicationRefused, match="top_shows not published: gold.top_shows_daily"):
        run(spark, lakehouse, D2, aggregates="all")
    assert _published_rows(lakehouse, T.VIEWING_EVENTS) == 8
    assert rows(spark, TOP, "event_date", "show_id", "viewers") == published_top
    report = latest_audit(lakehouse, D2)
    assert report is not None and report.status == "published"
    assert report.unpublished(["top_shows", "signups", "genres_by_region"]) == ["top_shows"]
    assert ["viewers_match_fact"] == [e["check_name"] for e in report.failed]
    # and once the transform is fixed, that aggregate alone reruns for the date and publishes
    monkeypatch.undo()
    assert run_aggregate(spark, lakehouse, "top_shows", D2, "fixed") == [D2]
    assert rows(spark, TOP, "event_date", "show_id", "viewers") == [
        *published_top,
        (D2, "s1", 2),
        (D2, "s2", 2),
    ]
    report = latest_audit(lakehouse, D2)
    assert report is not None and report.unpublished(["top_shows"]) == []
    assert report.failed == []


def test_volume_and_freshness_warn_by_default_and_block_when_configured(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given three published days of 4 events each
    for day in (D1, D2, D3):
        _a_day(lakehouse, day)
        run(spark, lakehouse, day)
    # and a fourth day with 3x the volume, all of it stamped two days late
    catalog(lakehouse.landing, D4)
    late = [ev(f"late{i}", f"u{i}", "s1", "2026-11-02T10:00:00Z", 150) for i in range(12)]
    write_lines(lakehouse.landing, "viewing_events", D4, late)
    # When volume is configured as an error, the day is refused for it alone
    strict = dataclasses.replace(lakehouse, severity_overrides={"volume": "error"})
    with pytest.raises(PublicationRefused, match=r"ops.run_log volume: 1 of 3 rows") as refused:
        run(spark, strict, D4)
    assert "freshness" not in str(refused.value)
    # Then by default both are warnings: the day publishes and the warnings are recorded
    result = run(spark, lakehouse, D4, run_id="again")
    assert sorted(o.check for o in result.gate.warnings) == ["freshness", "volume"]
    report = latest_audit(lakehouse, D4)
    assert report is not None and report.status == "published"
    assert sorted((e["check_name"], e["severity"]) for e in report.failed) == [
        ("freshness", "warn"),
        ("volume", "warn"),
    ]


def test_a_blocked_date_publishes_once_its_landing_is_fixed(
    spark: SparkSession, lakehouse: Settings
) -> None:
    # Given a day with one unreadable line in ten, which the default 5% threshold refuses
    catalog(lakehouse.landing, D1)
    good = [ev(f"e{i}", "u1", "s1", "2026-11-01T10:00:00Z", 150) for i in range(9)]
    write_lines(lakehouse.landing, "viewing_events", D1, [*good, "{not json"])
    with pytest.raises(PublicationRefused, match="10.0% of lines quarantined"):
        run(spark, lakehouse, D1)
    assert _published_rows(lakehouse, T.QUARANTINE) == 0
    # When the file is fixed at the source and the date reruns
    write_lines(lakehouse.landing, "viewing_events", D1, good)
    result = run(spark, lakehouse, D1, run_id="rerun")
    # Then it publishes, and the log keeps both attempts
    assert result.feeds["viewing_events"].accepted == 9
    assert _published_rows(lakehouse, T.QUARANTINE) == 0
    statuses = rows(spark, T.RUN_LOG, "run_id", "status")
    assert sorted({s for s in statuses}) == [
        ("rerun", "published"),
        ("rerun", "publishing"),
        ("t01", "refused"),
    ]


def test_an_interrupted_publication_is_finished_by_the_next_run(
    spark: SparkSession, lakehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run that dies after fast-forwarding bronze and silver, before gold
    _a_day(lakehouse, D1)

    def dies_before_gold(spark: SparkSession, tables: Sequence[TableDef], branch: str) -> None:
        publish(spark, [t for t in tables if t not in T.GOLD_TABLES], branch)
        raise RuntimeError("killed")

    monkeypatch.setattr(run_module, "publish", dies_before_gold)
    with pytest.raises(RuntimeError, match="killed"):
        run(spark, lakehouse, D1)
    monkeypatch.undo()
    branch = "audit_20261101_t01"
    heads = branch_heads(lakehouse, branch)
    # Then the half-finished state is visible: silver is new, gold still waits on the branch
    assert set(heads) == {t.identifier for t in T.GOLD_TABLES}
    assert _published_rows(lakehouse, T.VIEWING_EVENTS) == 4
    assert _published_rows(lakehouse, T.USER_SHOW_DAILY) == 0
    report = latest_audit(lakehouse, D1)
    assert report is not None and report.status == "publishing"
    assert "publication was interrupted" in render_report(report, "table")
    # When the next run starts, it first finishes that publication from the kept branch
    assert finish_interrupted_publications(spark, lakehouse) == ["t01"]
    snapshots = main_snapshots(lakehouse)
    assert {name: snapshots[name] for name in heads} == heads
    assert branch_heads(lakehouse, branch) == {}
    assert finish_interrupted_publications(spark, lakehouse) == []
    # and a rerun of the date converges to the tables of an uninterrupted run
    fact = rows(spark, T.USER_SHOW_DAILY, "user_id", "show_id", "watch_seconds")
    run(spark, lakehouse, D1, run_id="rerun", aggregates=["top_shows"])
    assert rows(spark, T.USER_SHOW_DAILY, "user_id", "show_id", "watch_seconds") == fact
    assert rows(spark, TOP, "event_date", "show_id", "viewers", "watch_seconds") == [
        (D1, "s1", 2, 300),
        (D1, "s2", 2, 300),
    ]
    report = latest_audit(lakehouse, D1)
    assert report is not None and (report.run_id, report.status) == ("rerun", "published")


def test_a_new_run_drops_only_the_branches_earlier_runs_of_its_date_left_without_a_verdict(
    spark: SparkSession, lakehouse: Settings
) -> None:
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1)
    table = T.VIEWING_EVENTS
    # Given a refused run's branch, a killed run's branch, and another date's killed run's
    for branch in ("audit_20261102_refused", "audit_20261102_killed", "audit_20261103_killed"):
        spark.sql(f"ALTER TABLE {table.spark_name} CREATE BRANCH `{branch}`")
    publication.record_status(spark, "refused", D2, "audit_20261102_refused", "refused", "no",
                              [("viewing_events", 1, 0, 0, 1, True)])  # fmt: skip
    # When a run of D2 starts, it drops the killed run's branch of D2 only
    dropped = publication.drop_abandoned_branches(spark, D2, T.AUDITED_TABLES)
    assert dropped == [f"{table.identifier}@audit_20261102_killed"]
    refs = set(load_catalog(lakehouse).load_table(table.identifier).metadata.refs)
    assert refs == {"main", "audit_20261102_refused", "audit_20261103_killed"}
    # and a date with no branch of its own drops nothing
    assert publication.drop_abandoned_branches(spark, D4, T.AUDITED_TABLES) == []


def test_a_run_that_another_run_published_under_stages_again_and_loses_nothing(
    spark: SparkSession,
    lakehouse: Settings,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    # Given a published day and the next one landed
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1)
    _a_day(lakehouse, D2, events=6)
    # and, while that day is being audited, another process commits to silver's main (in the
    # cluster profile runs overlap: here it erases a user, as `viewership forget` would)
    audit = run_module.DailyRun.audit
    commits = []

    def audited_under_a_commit(
        self: run_module.DailyRun, catalog: run_module.CatalogInEffect
    ) -> object:
        if not commits:
            branch = spark.conf.get("spark.wap.branch")
            spark.conf.unset("spark.wap.branch")
            spark.sql(f"DELETE FROM {T.VIEWING_EVENTS.spark_name} WHERE user_id = 'u0'")
            spark.conf.set("spark.wap.branch", branch)
            commits.append(main_snapshots(lakehouse)[T.VIEWING_EVENTS.identifier])
        return audit(self, catalog)

    monkeypatch.setattr(run_module.DailyRun, "audit", audited_under_a_commit)
    # When the run reaches publication
    with logs.at_level(logging.WARNING, logger="viewership.run"):
        result = run(spark, lakehouse, D2)
    # Then it finds silver's main moved, drops its branch, stages again on top and publishes
    assert "main moved on silver.viewing_events" in logs.text
    assert f"staging again (attempt 2 of {publication.PUBLISH_ATTEMPTS})" in logs.text
    assert result.published == [t.identifier for t in T.AUDITED_TABLES]
    # and nothing is lost: the other commit's erasure stands, and every event of the day is in
    assert rows(spark, T.VIEWING_EVENTS, "event_id") == sorted(
        (f"{day:%d}-{i}",)
        for day, count in ((D1, 4), (D2, 6))
        for i in range(count)
        if i % 3 or day == D2
    )
    assert len(commits) == 1 and branch_heads(lakehouse, result.branch) == {}
    report = latest_audit(lakehouse, D2)
    assert report is not None and report.status == "published"
    checks = [(e["table_name"], e["check_name"]) for e in report.expectations]
    assert len(set(checks)) == len(checks)  # the verdicts of the attempt that published, once


def test_an_aggregate_another_commit_overtook_is_staged_again_alone(
    spark: SparkSession,
    lakehouse: Settings,
    monkeypatch: pytest.MonkeyPatch,
    logs: pytest.LogCaptureFixture,
) -> None:
    # Given a published day whose aggregates run, and another process that deletes a row of
    # top shows' main while the cycle has it staged (a `viewership forget`, say)
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1, aggregates=["top_shows"])
    _a_day(lakehouse, D2, events=6)
    run(spark, lakehouse, D2)
    stage = AggregateCycle._stage
    commits = []

    def staged_under_a_commit(self: AggregateCycle, aggregate: Any, *args: Any) -> Any:
        staged = stage(self, aggregate, *args)
        if aggregate.name == "top_shows" and not commits:
            spark.sql(f"DELETE FROM {TOP.spark_name} WHERE show_id = 's2'")
            commits.append(main_snapshots(lakehouse)[TOP.identifier])
        return staged

    monkeypatch.setattr(AggregateCycle, "_stage", staged_under_a_commit)
    # When the day's aggregates run
    with logs.at_level(logging.WARNING, logger="viewership.run"):
        done = run_aggregates(spark, lakehouse, ["signups", "top_shows"], D2, "t02")
    # Then top shows finds its main moved, is staged again on top of that commit and publishes,
    # while signups published in the first pass, once
    assert "main moved on gold.top_shows_daily" in logs.text
    assert "top_shows: staging again (attempt 2 of" in logs.text
    assert sorted(done.published) == ["signups", "top_shows"] and done.refusals == []
    assert main_snapshots(lakehouse)[TOP.identifier] != commits[0]
    # (the erasure of D1's s2 stands, and D2 is whole)
    assert rows(spark, TOP, "event_date", "show_id") == [(D1, "s1"), (D2, "s1"), (D2, "s2")]
    report = latest_audit(lakehouse, D2)
    assert report is not None
    statuses = [(a["aggregate"], a["status"]) for a in report.aggregates]
    assert sorted(statuses) == [("signups", "published"), ("top_shows", "published")]


def test_every_aggregate_of_a_cycle_reads_its_inputs_as_of_the_cycle_start(
    spark: SparkSession, lakehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a published day, and another process that deletes a show from the fact's main
    # once the cycle's first aggregate is staged (a commit the REST catalog does not serialise)
    _a_day(lakehouse, D1)
    run(spark, lakehouse, D1)
    stage = AggregateCycle._stage

    def staged_under_a_commit(self: AggregateCycle, aggregate: Any, *args: Any) -> Any:
        staged = stage(self, aggregate, *args)
        if aggregate.name == "signups":
            spark.sql(f"DELETE FROM {T.USER_SHOW_DAILY.spark_name} WHERE show_id = 's2'")
        return staged

    monkeypatch.setattr(AggregateCycle, "_stage", staged_under_a_commit)
    # When the day's aggregates run, signups first
    done = run_aggregates(spark, lakehouse, ["signups", "top_shows"], D1, "t01")
    # Then top shows is the fact as the cycle found it, s2 included, and its audit agreed
    assert sorted(done.published) == ["signups", "top_shows"] and done.refusals == []
    assert rows(spark, TOP, "event_date", "show_id") == [(D1, "s1"), (D1, "s2")]
    assert rows(spark, T.USER_SHOW_DAILY, "show_id") == [("s1",), ("s1",)]


def test_a_cycle_that_loses_every_attempt_gives_up_in_one_line(
    logs: pytest.LogCaptureFixture,
) -> None:
    attempts = []

    def outrun() -> None:
        attempts.append(len(attempts) + 1)
        raise publication.MainMoved("main moved on silver.viewing_events while audit_x was staged")

    with (
        logs.at_level(logging.WARNING, logger="viewership.run"),
        pytest.raises(publication.MainMoved, match="gave up after 5 attempts$") as lost,
    ):
        publication.until_published(outrun)
    assert attempts == [1, 2, 3, 4, 5] and "\n" not in str(lost.value)
    assert logs.text.count("staging again") == 4
    assert publication.until_published(lambda: "published") == "published"


def test_a_staging_commit_the_rest_catalog_raced_is_staged_again_any_other_failure_is_not() -> None:
    raced = ["Cannot add snapshot with sequence number 6 older than last sequence number 6"]

    def flaky() -> str:
        if raced:
            raise RuntimeError(f"BadRequestException: Malformed request: {raced.pop()}")
        return "published"

    assert publication.until_published(flaky) == "published" and raced == []

    def broken() -> str:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publication.until_published(broken)
