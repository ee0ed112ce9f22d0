"""Airflow 3's own backfill, through a live scheduler, publishes what date-by-date CLI runs do.

A slow tier: ``airflow standalone`` (scheduler, DAG processor, triggerer and API server,
LocalExecutor on SQLite) in a home of its own, on a free port of 127.0.0.1, with the embedded
default (Spark in local mode); ``airflow backfill create`` asks the scheduler for the runs, as
a user would.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import aggregates
from jobs.registry import aggregate_tables
from tests.airflow_kit import DAG_ID, airflow_json, backfill, running_airflow
from tests.test_cli import cli
from tests.test_dags import _published

pytestmark = pytest.mark.slow

DAYS = ("2026-11-01", "2026-11-02")


def test_an_airflow_backfill_publishes_what_the_cli_publishes_date_by_date(
    tmp_path: Path,
) -> None:
    # Given two generated days, landed in a home for the backfill and one for the CLI
    by_backfill, by_cli = tmp_path / "by_backfill", tmp_path / "by_cli"
    gen = cli(by_backfill, "generate", "--start", DAYS[0], "--days", "2",
              "--events-per-day", "1500", "--seed", "5")  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    shutil.copytree(by_backfill / "landing", by_cli / "landing")
    env = os.environ | {
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "VIEWERSHIP_HOME": str(by_backfill),
        "VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
        "VIEWERSHIP_DRIVER_MEMORY": "1g",
    }
    # When Airflow backfills the range through its scheduler, both dates at once, and the CLI
    # runs it date by date
    with running_airflow(tmp_path, env) as live:
        runs = backfill(live, DAYS[0], DAYS[-1], timeout=900)
        spark_tasks = sorted(
            (t["start_date"], t["end_date"], t["task_id"])
            for r in runs
            for t in airflow_json(live, "tasks", "states-for-dag-run", DAG_ID, r["run_id"])
            if t["task_id"] in ("ingest_audit_publish", "aggregate")
        )
    for day in DAYS:
        done = cli(by_cli, "run", "--date", day)
        assert done.returncode == 0, done.stderr
    # Then both runs succeeded, one per arrival date, as backfill runs
    assert [(r["logical_date"][:10], r["state"]) for r in runs] == [
        (day, "success") for day in DAYS
    ]
    # and the one-slot lakehouse pool kept the two runs' Spark tasks from ever overlapping
    assert len(spark_tasks) == len(DAYS) * (1 + len(aggregates.names()))
    for (_, end, _), (start, _, _) in zip(spark_tasks, spark_tasks[1:], strict=False):
        assert end <= start
    # and every aggregate table and every answer equals the CLI's
    for table in aggregate_tables():
        assert _published(by_backfill, table) == _published(by_cli, table)
    period = ("--start", "2026-10-01", "--end", DAYS[1], "--format", "json")
    for answer in (["top-shows"], ["genres"], ["co-watch"], ["signups", "--by", "day"]):
        got = json.loads(cli(by_backfill, "query", *answer, *period).stdout)
        assert got == json.loads(cli(by_cli, "query", *answer, *period).stdout)
        assert got
