"""The compose topology, live: the DAG on a Spark cluster, a REST catalog, S3 and PostgreSQL.

The live tier (marker ``live``; skip it with ``-m "not live"``). tests/live_stack.py starts
PostgreSQL, moto's S3 server, the Iceberg REST catalog (its store on PostgreSQL, its warehouse
on S3) and a Spark standalone master and worker as processes on 127.0.0.1; Airflow runs on
that PostgreSQL with the LocalExecutor and its Spark connection on the master, and
``airflow backfill create`` asks its scheduler for two generated days, as a user would.
Every aggregate table and every answer must equal the embedded default's, run date by date by
the CLI on the same landing zone. Then two more dates are started by hand at once on the
cluster profile, and both must publish with nothing lost.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyiceberg.expressions import EqualTo

import aggregates
from jobs.registry import aggregate_tables, queries
from schemas import tables as T
from tests.airflow_kit import DAG_ID, airflow_json, backfill, running_airflow
from tests.live_stack import S3_KEYS, native_stack
from tests.test_cli import VIEWERSHIP, cli
from viewership.catalog import load_catalog
from viewership.config import load_settings

pytestmark = [pytest.mark.slow, pytest.mark.live]

# The dates the scheduler backfills, in order: the second reads the first's history.
DAYS = ("2026-11-01", "2026-11-02")
RACE = ("2026-11-03", "2026-11-04")  # two dates run by hand at once, once Airflow has stopped
SLOTS = 2  # the lakehouse pool: a date's aggregates two at a time, two cores each


def _overlap(a: tuple[str, str, str], b: tuple[str, str, str]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _published(env: dict[str, str], home: Path, identifier: str) -> list[tuple[object, ...]]:
    table = load_catalog(load_settings(home, env=env)).load_table(identifier)
    return sorted(tuple(row.values()) for row in table.scan().to_arrow().to_pylist())


def _answers(home: Path, env: dict[str, str] | None = None) -> list[object]:
    period = ("--start", "2026-10-01", "--end", DAYS[-1], "--format", "json")
    answers = []
    for name in sorted(queries()):  # every declared question, with its default options
        done = cli(home, "query", name, *period, env=env)
        assert done.returncode == 0, done.stderr
        answers.append(json.loads(done.stdout))
    return answers


def _race(root: Path, home: Path, env: dict[str, str]) -> list[tuple[int, str]]:
    """Start the ingestion of both RACE dates and a maintenance run at once; return their
    exit codes and stderr (the runs', then maintenance's).

    Their landing is written only now: the scheduler, stopped since, would have run its own
    scheduled runs of those dates had it found them.
    """
    landed = cli(home, "generate", "--start", RACE[0], "--days", str(len(RACE)),
                 "--events-per-day", "1000", "--seed", "12")  # fmt: skip
    assert landed.returncode == 0, landed.stderr[-3000:]
    commands = [["run", "--date", day, "--ingest-only"] for day in RACE]
    commands.append(["maintain", "--as-of", RACE[-1]])
    logs = [root / f"race-{command[0]}-{command[2]}.log" for command in commands]
    racers = []
    for command, log in zip(commands, logs, strict=True):
        with log.open("w") as out:
            racers.append(subprocess.Popen(
                [VIEWERSHIP, "--home", str(home), *command],
                env=env, stdout=subprocess.DEVNULL, stderr=out,
            ))  # fmt: skip
    codes = [racer.wait(timeout=1200) for racer in racers]
    return [(code, log.read_text()) for code, log in zip(codes, logs, strict=True)]


def test_the_dag_on_the_cluster_topology_publishes_the_embedded_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    on_cluster, embedded = tmp_path / "on_cluster", tmp_path / "embedded"
    # The landing zone is generated while the stack starts
    gen = subprocess.Popen(
        [VIEWERSHIP, "--home", str(on_cluster), "generate", "--start", DAYS[0],
         "--days", str(len(DAYS)), "--events-per-day", "1000", "--seed", "11"],
        stdout=subprocess.DEVNULL, stderr=(gen_log := (tmp_path / "generate.log").open("w")),
    )  # fmt: skip
    request.addfinalizer(lambda: (gen.kill(), gen.wait(), gen_log.close()))
    with native_stack(tmp_path / "stack") as stack:
        assert gen.wait() == 0, (tmp_path / "generate.log").read_text()
        shutil.copytree(on_cluster / "landing", embedded / "landing")
        # The embedded default runs the same dates meanwhile, date by date, at the lowest
        # priority: it uses the CPU that the cluster's short applications leave idle.
        reference = subprocess.Popen(
            ["nice", "-n", "19", VIEWERSHIP, "--home", str(embedded), "run", "--date", DAYS[0],
             "--through", DAYS[-1]],
            env=os.environ | {"VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
                              "VIEWERSHIP_DRIVER_MEMORY": "1g"},
            stdout=(log := (tmp_path / "reference.log").open("w")), stderr=subprocess.STDOUT,
        )  # fmt: skip
        request.addfinalizer(lambda: (reference.kill(), reference.wait(), log.close()))
        for name in (*S3_KEYS, "AWS_REGION"):  # this process reads the S3 tables too
            monkeypatch.setenv(name, stack[name])
        master = stack["VIEWERSHIP_SPARK_MASTER"].removeprefix("spark://")
        host, port = master.split(":")
        env = stack | {
            "VIEWERSHIP_HOME": str(on_cluster),
            # A thousand events a day fit one partition (the reference's two check that the
            # answers do not depend on it)
            "VIEWERSHIP_SHUFFLE_PARTITIONS": "1",
            "VIEWERSHIP_DRIVER_MEMORY": "1g",
            "VIEWERSHIP_LAKEHOUSE_SLOTS": str(SLOTS),
            "VIEWERSHIP_MAX_CORES": "2",
            # Two cores: a date's six aggregates in two applications, not six start-ups
            "VIEWERSHIP_AGGREGATE_TASKS": str(SLOTS),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": stack["LIVE_POSTGRES_URL"],
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
                {"conn_type": "spark", "host": f"spark://{host}", "port": int(port)}
            ),
        }
        # When the scheduler backfills the dates on the cluster, a date at a time
        with running_airflow(tmp_path, env, pool_slots=SLOTS) as live:
            runs = backfill(live, DAYS[0], DAYS[-1], timeout=2700, max_active_runs=1)
            spark_tasks = sorted(
                (t["start_date"], t["end_date"], t["task_id"])
                for r in runs
                for t in airflow_json(live, "tasks", "states-for-dag-run", DAG_ID, r["run_id"])
                if t["task_id"] in ("ingest_audit_publish", "aggregate")
            )
        # Then every backfill run succeeded, one per arrival date
        assert [(r["logical_date"][:10], r["state"]) for r in runs] == [
            (day, "success") for day in DAYS
        ]
        # and the pool ran a date's aggregates side by side, never more than its slots at once,
        # while ingestion (which changes every aggregate's input) ran alone
        assert len(spark_tasks) == len(DAYS) * (1 + min(SLOTS, len(aggregates.names())))
        for task in spark_tasks:
            running = [other for other in spark_tasks if other[0] <= task[0] < other[1]]
            assert len(running) <= SLOTS, running
            if task[2] == "ingest_audit_publish":
                assert [o for o in spark_tasks if _overlap(task, o)] == [task]
        assert any(_overlap(a, b) for a, b in itertools.combinations(spark_tasks, 2))
        # and the Spark work ran on the standalone cluster, not in local mode
        with urllib.request.urlopen(f"{stack['LIVE_SPARK_MASTER_UI']}/json/") as answer:
            applications = json.load(answer)["completedapps"]
        assert len(applications) >= len(spark_tasks)
        # and the tables live in the REST catalog, on S3
        on_s3 = load_catalog(load_settings(on_cluster, env=env))
        assert on_s3.load_table("gold.top_shows_daily").location().startswith("s3://lakehouse/")
        cluster_tables = {t.identifier: _published(env, on_cluster, t.identifier)
                          for t in aggregate_tables()}  # fmt: skip
        # (the embedded answers are read meanwhile, once the reference has finished)
        with ThreadPoolExecutor(max_workers=1) as pool:
            embedded_answers = pool.submit(
                lambda: (reference.wait(timeout=900), _answers(embedded))
            )
            cluster_answers = _answers(on_cluster, env)
            raced = _race(tmp_path, on_cluster, env)
            finished, answers = embedded_answers.result()

        # And two dates' runs and a maintenance run started by hand at once on the cluster all
        # succeed: a run that finds main moved under its branch (the other published, or
        # maintenance compacted) or a staging commit raced stages again, and nothing is lost
        assert [code for code, _ in raced] == [0, 0, 0], raced
        assert any("staging again" in err for _, err in raced[:2]), raced
        catalog = load_catalog(load_settings(on_cluster, env=env))
        for day in RACE:
            report = json.loads(cli(on_cluster, "audit", "--date", day, "--format", "json", env=env)
                                .stdout)  # fmt: skip
            assert report["status"] == "published"
            events = next(f for f in report["feeds"] if f["feed"] == "viewing_events")
            in_silver = catalog.load_table("silver.viewing_events").scan(
                row_filter=EqualTo("arrival_date", day)
            )
            assert in_silver.to_arrow().num_rows == events["accepted"] > 0
        refs = {t.identifier: set(catalog.load_table(t.identifier).metadata.refs)
                for t in T.AUDITED_TABLES}  # fmt: skip
        assert refs == {t.identifier: {"main"} for t in T.AUDITED_TABLES}
        for identifier, rows in cluster_tables.items():  # compacted, not changed
            assert _published(env, on_cluster, identifier) == rows, identifier

    # and the embedded default, run date by date on the same landing zone, agrees everywhere
    assert finished == 0, (tmp_path / "reference.log").read_text()
    for identifier, rows in cluster_tables.items():
        assert rows == _published({}, embedded, identifier), identifier
        assert rows
    assert cluster_answers == answers
