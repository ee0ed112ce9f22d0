"""Airflow 3's own backfill, through a live scheduler, publishes what date-by-date CLI runs do.

The slowest tier: it starts ``airflow standalone`` (scheduler, DAG processor, triggerer and API
server, LocalExecutor on SQLite) in a home of its own, on a free port of 127.0.0.1, and stops it
after. ``airflow backfill create`` then asks the scheduler for the runs, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aggregates
from jobs.registry import aggregate_tables
from tests.test_cli import cli
from tests.test_dags import DAGS, _published
from viewership.config import REPO_ROOT

pytestmark = pytest.mark.slow

DAG_ID = "viewership_daily"
DAYS = ("2026-11-01", "2026-11-02")
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _airflow(env: dict[str, str], *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [str(BIN / "airflow"), *args], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    if check:
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def _airflow_json(env: dict[str, str], *args: str) -> list[dict[str, str]]:
    """An ``-o json`` listing; Airflow may print warnings to stdout before it, so take the
    last line (an empty list when the command failed, for example before the DAG is parsed)."""
    lines = _airflow(env, *args, "-o", "json", check=False).strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("[") else []


def _wait(what: str, ready: object, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(5)
    pytest.fail(f"timed out waiting for {what}; last lines of airflow standalone:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))  # fmt: skip


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``airflow standalone`` on 127.0.0.1, with the project's DAGs and a local Spark."""
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "VIEWERSHIP_HOME": str(tmp_path / "by_backfill"),
        "VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
        "VIEWERSHIP_DRIVER_MEMORY": "1g",
    }
    _airflow(env, "db", "migrate")
    _airflow(env, "pools", "set", "viewership_lakehouse", "1", "one Iceberg committer")
    log = tmp_path / "standalone.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait(
            "the DAG processor to serialise the DAGs",
            lambda: any(d["dag_id"] == DAG_ID for d in _airflow_json(env, "dags", "list")),
            240,
            log,
        )
        yield env | {"STANDALONE_LOG": str(log)}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _runs(env: dict[str, str]) -> list[dict[str, str]]:
    """The backfill's runs (unpaused, the DAG also starts its own runs for later dates)."""
    runs = _airflow_json(env, "dags", "list-runs", DAG_ID)
    return [r for r in runs if r["run_id"].startswith("backfill__")]


def test_an_airflow_backfill_publishes_what_the_cli_publishes_date_by_date(
    airflow: dict[str, str], tmp_path: Path
) -> None:
    # Given two generated days, landed in a home for the backfill and one for the CLI
    by_backfill, by_cli = tmp_path / "by_backfill", tmp_path / "by_cli"
    gen = cli(by_backfill, "generate", "--start", DAYS[0], "--days", "2",
              "--events-per-day", "1500", "--seed", "5")  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    shutil.copytree(by_backfill / "landing", by_cli / "landing")
    # When Airflow backfills the range through its scheduler, both dates at once, and the CLI
    # runs it date by date (the backfill's runs exist before the unpause, so that the DAG's
    # own catchup cannot claim those dates first; a paused DAG only queues them)
    _airflow(airflow, "backfill", "create", "--dag-id", DAG_ID, "--from-date", DAYS[0],
             "--to-date", DAYS[1], "--max-active-runs", "2")  # fmt: skip
    _airflow(airflow, "dags", "unpause", DAG_ID)
    log = Path(airflow["STANDALONE_LOG"])

    def finished() -> bool:
        runs = _runs(airflow)
        return len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs)

    _wait("the backfill's runs to finish", finished, 900, log)
    for day in DAYS:
        done = cli(by_cli, "run", "--date", day)
        assert done.returncode == 0, done.stderr
    # Then both runs succeeded, one per arrival date, as backfill runs
    runs = sorted(_runs(airflow), key=lambda r: r["logical_date"])
    assert [(r["logical_date"][:10], r["state"]) for r in runs] == [
        (day, "success") for day in DAYS
    ]
    # and the one-slot lakehouse pool kept the two runs' Spark tasks from ever overlapping
    spark_tasks = sorted(
        (t["start_date"], t["end_date"], t["task_id"])
        for r in runs
        for t in _airflow_json(airflow, "tasks", "states-for-dag-run", DAG_ID, r["run_id"])
        if t["task_id"] in ("ingest_audit_publish", "aggregate")
    )
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
