"""A live Airflow for the slow tiers: ``airflow standalone`` in a home of its own.

Scheduler, DAG processor, triggerer and API server on a free port of 127.0.0.1, the project's
DAGs and pool, driven through Airflow's own CLI as a user would; stopped with its process group.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from viewership.config import REPO_ROOT

BIN = Path(sys.executable).parent
DAGS = REPO_ROOT / "dags"
DAG_ID = "viewership_daily"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow(env: dict[str, str], *args: str, check: bool = True) -> str:
    done = subprocess.run(
        [str(BIN / "airflow"), *args], capture_output=True, text=True, env=env, cwd=REPO_ROOT
    )
    if check:
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


def airflow_json(env: dict[str, str], *args: str) -> list[dict[str, str]]:
    """An ``-o json`` listing; Airflow may print warnings to stdout before it, so take the
    last line (an empty list when the command failed, for example before the DAG is parsed)."""
    lines = airflow(env, *args, "-o", "json", check=False).strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("[") else []


def wait(what: str, ready: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(5)
    pytest.fail(f"timed out waiting for {what}; last lines of airflow standalone:\n"
                + "\n".join(log.read_text(errors="replace").splitlines()[-40:]))  # fmt: skip


@contextmanager
def running_airflow(
    root: Path, env: dict[str, str], pool_slots: int = 1
) -> Iterator[dict[str, str]]:
    """Start Airflow with ``env`` (the viewership profile, the Spark connection, the database)
    and yield the environment its CLI needs; the DAGs are parsed before it yields."""
    port = free_port()
    env = {
        **env,
        "AIRFLOW_HOME": str(root / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        # Parse each DAG file once, and fork a handful of LocalExecutor workers, not 32.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", "viewership_lakehouse", str(pool_slots), "Iceberg committers")
    log = root / "standalone.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(BIN / "airflow"), "standalone"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait(
            "the DAG processor to serialise the DAGs",
            lambda: any(d["dag_id"] == DAG_ID for d in airflow_json(env, "dags", "list")),
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


def backfill(
    env: dict[str, str], first: str, last: str, timeout: float, max_active_runs: int = 2
) -> list[dict[str, str]]:
    """``airflow backfill create`` over [first, last], then unpause and wait for its runs.

    The backfill's runs exist before the unpause, so that the DAG's own catchup cannot claim
    those dates first (a paused DAG only queues them). Returns the runs by logical date.
    """
    airflow(env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", first,
            "--to-date", last, "--max-active-runs", str(max_active_runs))  # fmt: skip
    airflow(env, "dags", "unpause", DAG_ID)
    expected = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1

    def runs() -> list[dict[str, str]]:
        listed = airflow_json(env, "dags", "list-runs", DAG_ID)
        return [r for r in listed if r["run_id"].startswith("backfill__")]

    def finished() -> bool:
        done = runs()
        return len(done) == expected and all(r["state"] in ("success", "failed") for r in done)

    wait(f"the backfill's {expected} runs to finish", finished, timeout,
         Path(env["STANDALONE_LOG"]))  # fmt: skip
    return sorted(runs(), key=lambda r: r["logical_date"])
