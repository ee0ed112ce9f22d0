"""The Airflow DAGs: integrity without running anything, then dag.test() with real Spark."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import aggregates
from jobs.registry import aggregate_tables
from schemas.tables import ALL_TABLES, RUN_LOG, TableDef
from tests.test_cli import cli, hand_made_landing
from viewership.catalog import load_catalog
from viewership.config import REPO_ROOT, load_settings
from viewership.query import Reader

DAGS = REPO_ROOT / "dags"
HEAVY = ("pyspark", "great_expectations", "pyiceberg", "duckdb")


def _python(code: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS.glob("*.py")))
def test_a_dag_file_imports_without_heavy_modules(dag_file: str) -> None:
    # The dag-processor parses every file often: Spark, GX, PyIceberg and DuckDB load only
    # inside the tasks that use them.
    out = _python(
        "import importlib.util, json, sys\n"
        "import airflow.sdk  # Airflow's own import is not the DAG's cost\n"
        f"spec = importlib.util.spec_from_file_location('dag', {str(DAGS / dag_file)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    assert json.loads(out.strip().splitlines()[-1]) == []


@pytest.fixture(scope="module")
def dagbag() -> object:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}
    return bag


def test_the_daily_dag_is_wired_as_intended(dagbag: object) -> None:
    dag = dagbag.dags["viewership_daily"]  # type: ignore[attr-defined]
    assert (dag.catchup, dag.max_active_runs) == (True, 1)
    assert (
        repr(dag.timetable) == "CronDataIntervalTimetable(expression='0 0 * * *', timezone='UTC')"
    )
    assert {"viewership", "wap"} <= set(dag.tags)
    edges = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert edges == {
        "wait_for_landing": ["ingest_audit_publish"],
        "ingest_audit_publish": ["list_aggregates"],
        "list_aggregates": ["aggregate", "freshness_check"],
        "aggregate": ["freshness_check"],
        "freshness_check": [],
    }
    tasks = {t.task_id: t for t in dag.tasks}
    # one mapped task per aggregate, expanded at run time from the registry's names
    mapped = tasks["aggregate"]
    assert type(mapped).__name__ == "MappedOperator"
    assert (mapped.pool, mapped.retries) == ("viewership_lakehouse", 2)
    assert "--ingest-only" in tasks["ingest_audit_publish"].application_args
    assert tasks["wait_for_landing"].mode == "reschedule"
    assert tasks["wait_for_landing"].timeout > 0
    assert tasks["ingest_audit_publish"].retries == 2
    assert tasks["ingest_audit_publish"].retry_exponential_backoff
    assert tasks["ingest_audit_publish"].pool == "viewership_lakehouse"
    assert (tasks["ingest_audit_publish"].pool_slots, mapped.pool_slots) == (1, 1)
    assert tasks["freshness_check"].retries == 0
    assert all(t.on_failure_callback for t in dag.tasks)


def test_ingestion_and_maintenance_take_every_slot_of_a_larger_pool() -> None:
    # With a REST catalog the pool may let a date's aggregates run side by side; what changes
    # their inputs must still run alone.
    code = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(DAGS)!r})\n"
        "assert bag.import_errors == {}, bag.import_errors\n"
        "daily = bag.dags['viewership_daily']\n"
        "print(daily.get_task('ingest_audit_publish').pool_slots,"
        " daily.get_task('aggregate').pool_slots,"
        " bag.dags['lakehouse_maintenance'].get_task('maintain').pool_slots)\n"
    )
    out = _python(code, env=os.environ | {"VIEWERSHIP_LAKEHOUSE_SLOTS": "3"})
    assert out.strip().splitlines()[-1] == "3 1 3"


def _aggregate_commands(tasks: str) -> list[list[str]]:
    code = (
        "import json; from viewership.orchestration import aggregate_commands\n"
        "print(json.dumps(aggregate_commands('2026-11-01', 'r1')))\n"
    )
    out = _python(code, env=os.environ | {"VIEWERSHIP_AGGREGATE_TASKS": tasks})
    return json.loads(out.strip().splitlines()[-1])


def test_each_aggregate_is_a_task_unless_a_smaller_count_is_configured() -> None:
    names = aggregates.names()
    head = ["aggregate", "--date", "2026-11-01", "--run-id", "r1"]
    assert _aggregate_commands("") == [[*head, name] for name in names]
    # A small cluster deals them into fewer applications, every aggregate exactly once
    shares = [c[len(head) :] for c in _aggregate_commands("2")]
    assert len(shares) == 2 and sorted(n for share in shares for n in share) == names
    assert {len(share) for share in shares} <= {len(names) // 2, (len(names) + 1) // 2}
    assert len(_aggregate_commands(str(len(names) + 5))) == len(names)


def test_maintenance_shares_the_lakehouse_pool(dagbag: object) -> None:
    dag = dagbag.dags["lakehouse_maintenance"]  # type: ignore[attr-defined]
    (task,) = dag.tasks
    assert (task.task_id, task.pool, dag.max_active_runs) == ("maintain", "viewership_lakehouse", 1)
    assert task.application_args[:2] == ["maintain", "--as-of"]
    assert "maintenance" in dag.tags


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An Airflow home with a migrated SQLite database and a local Spark connection."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps({"conn_type": "spark", "host": "local[2]"}),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
        "VIEWERSHIP_DRIVER_MEMORY": "1g",
    }
    migrate = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    yield env
    shutil.rmtree(home, ignore_errors=True)


def _data_files(home: Path) -> int:
    """Data files of every table's current snapshot, as PyIceberg plans a full scan."""
    catalog = load_catalog(load_settings(home, env={}))
    return sum(
        len(list(catalog.load_table(t.identifier).scan().plan_files()))
        for t in ALL_TABLES + aggregate_tables()
    )


def _published(home: Path, table: TableDef) -> list[tuple[object, ...]]:
    """A table's published rows, sorted, as a reader sees them."""
    scanned = load_catalog(load_settings(home, env={})).load_table(table.identifier).scan()
    return sorted(tuple(row.values()) for row in scanned.to_arrow().to_pylist())


def _dag_test(env: dict[str, str], home: Path, dag_id: str, day: str) -> dict[str, object]:
    out = _python(
        f"from tests.dag_runner import main; main({dag_id!r}, {day!r})",
        env={**env, "VIEWERSHIP_HOME": str(home)},
    )
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_daily_dag_publishes_what_the_cli_publishes(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    # Given the same generated landing data in two homes
    by_dag, by_cli = tmp_path / "dag", tmp_path / "cli"
    gen = cli(by_dag, "generate", "--start", "2026-11-01", "--days", "1",
              "--events-per-day", "2000", "--seed", "11")  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    shutil.copytree(by_dag / "landing", by_cli / "landing")
    # When the DAG runs the date in one (its aggregates dealt to two tasks) and the CLI in the other
    shared = airflow_env | {"VIEWERSHIP_AGGREGATE_TASKS": "2"}
    result = _dag_test(shared, by_dag, "viewership_daily", "2026-11-01")
    assert cli(by_cli, "run", "--date", "2026-11-01").returncode == 0
    # Then the DAG run succeeded and every published answer is the same
    assert result["state"] == "success", result
    labels = [t for t in result["tasks"] if t.startswith("aggregate[")]  # type: ignore[union-attr]
    assert len(labels) == 2
    assert sorted(n for t in labels for n in t.removeprefix("aggregate[")[:-1].split()) == sorted(
        aggregates.names()
    )
    for table in aggregate_tables():
        assert _published(by_dag, table) == _published(by_cli, table)
        assert _published(by_dag, table)
    period = ("--start", "2026-10-01", "--end", "2026-11-02", "--format", "json")
    for answer in (["top-shows"], ["genres"], ["co-watch"], ["signups", "--by", "region"]):
        dag_answer = cli(by_dag, "query", *answer, *period).stdout
        assert json.loads(dag_answer) == json.loads(cli(by_cli, "query", *answer, *period).stdout)
        assert json.loads(dag_answer)
    # and the weekly maintenance DAG compacts the history without changing any answer
    answers = {
        a[0]: cli(by_dag, "query", *a, *period).stdout for a in (["top-shows"], ["co-watch"])
    }
    files = _data_files(by_dag)
    maintained = _dag_test(airflow_env, by_dag, "lakehouse_maintenance", "2026-11-08")
    assert maintained["state"] == "success", maintained
    assert _data_files(by_dag) < files
    assert {a: cli(by_dag, "query", a, *period).stdout for a in answers} == answers


@pytest.mark.slow
def test_a_refused_date_fails_the_dag_run_without_retrying(
    airflow_env: dict[str, str], tmp_path: Path
) -> None:
    # Given a date whose events are one bad line in seven (above the default 5%)
    hand_made_landing(tmp_path / "landing")
    # When the DAG runs it
    result = _dag_test(airflow_env, tmp_path, "viewership_daily", "2026-11-02")
    # Then the run failed on its first and only try, and the failure is in the run log
    assert result["state"] == "failed"
    assert result["tasks"]["ingest_audit_publish"] == ["failed", 1]  # type: ignore[index]
    assert result["tasks"]["freshness_check"][0] == "upstream_failed"  # type: ignore[index]
    log = Reader.open(load_settings(tmp_path, env={})).scan(RUN_LOG, ("status",)).to_pylist()
    assert {r["status"] for r in log} == {"refused", "failed"}
