"""
### viewership_daily

One run per **arrival date** (the logical date): wait for the date's landing folders, then
ingest, audit and publish them with Write-Audit-Publish on Iceberg (`viewership run
--ingest-only`, through spark-submit); then one mapped task per aggregate of the registry
(`viewership aggregate NAME`), each recomputing its table for the event or signup dates the
run changed in a Write-Audit-Publish cycle of its own; then check that everything published.
Adding a module to the `aggregates` package adds a mapped task, with no edit here. A small
cluster may share a date's aggregates among fewer tasks (`VIEWERSHIP_AGGREGATE_TASKS`), each one
Spark application running its share in turn, since an application's start-up costs more than a
small aggregate.

Signups and the catalog ride in the same run as the events: the catalog in effect decides
which events are accepted, and all three feeds of a date publish together or not at all.

A refusal by the quality gate fails the run without retrying; inspect it with
`viewership audit --date <date>`. Every Spark task runs in the `viewership_lakehouse` pool: with
its one slot (the embedded catalog) a backfill never commits from two tasks at once; with more
(a REST catalog, `VIEWERSHIP_LAKEHOUSE_SLOTS`) a date's aggregates run side by side, while
ingestion still takes every slot and so never changes an input under a running aggregate.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, task

from viewership.orchestration import (
    DEFAULT_ARGS,
    LAKEHOUSE_POOL,
    ViewershipSubmitOperator,
    aggregate_commands,
    check_published,
    lakehouse_slots,
    landing_arrived,
    record_failure,
)

with DAG(
    dag_id="viewership_daily",
    # Data intervals: the run for day D starts once D is over, and its logical date is D.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "on_failure_callback": record_failure},
    tags=["viewership", "wap", "iceberg"],
    doc_md=__doc__,
) as dag:

    @task.sensor(mode="reschedule", poke_interval=300, timeout=6 * 3600)
    def wait_for_landing(ds: str | None = None) -> bool:
        """Any feed folder of the date has landed (a missing feed is zero rows)."""
        assert ds is not None
        return landing_arrived(ds)

    ingest_audit_publish = ViewershipSubmitOperator(
        task_id="ingest_audit_publish",
        command=["run", "--date", "{{ ds }}", "--run-id", "{{ run_id }}", "--ingest-only"],
        pool=LAKEHOUSE_POOL,
        pool_slots=lakehouse_slots(),
        execution_timeout=timedelta(hours=3),
    )

    @task
    def list_aggregates(ds: str | None = None, run_id: str | None = None) -> list[list[str]]:
        """The registry's aggregates, as the commands of the mapped tasks."""
        assert ds is not None and run_id is not None
        return aggregate_commands(ds, run_id)

    commands = list_aggregates()
    aggregate = ViewershipSubmitOperator.partial(
        task_id="aggregate",
        pool=LAKEHOUSE_POOL,
        execution_timeout=timedelta(hours=1),
        map_index_template="{{ task.application_args[5:] | join(' ') }}",
    ).expand(command=commands)

    @task(retries=0)
    def freshness_check(commands: list[list[str]], ds: str | None = None) -> str:
        """The date and every aggregate published (warn-level findings are logged, not fatal)."""
        assert ds is not None
        return check_published(ds, commands)

    checked = freshness_check(commands)
    wait_for_landing() >> ingest_audit_publish >> commands >> aggregate >> checked
