"""The compose stack's topology as native processes on 127.0.0.1, for the live test tier.

PostgreSQL (Airflow's metadata and the catalog's store), moto's S3 server (the warehouse
bucket), the Iceberg project's REST catalog server, and a Spark standalone master with one
worker: each started here, waited for on its port, and stopped (with its process group) when
the context ends. ``scripts/setup_live.sh`` installs what they run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.util import find_spec
from pathlib import Path

import psycopg2

from tests.airflow_kit import free_port
from viewership.config import REPO_ROOT

BIN = Path(sys.executable).parent
CACHE = Path(os.environ.get("VIEWERSHIP_CACHE", Path.home() / ".cache" / "viewership"))
BUCKET = "lakehouse"
DB_USER = "viewership"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "live-tier", "AWS_SECRET_ACCESS_KEY": "live-tier-secret"}


def wait_for_port(name: str, port: int, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""
    raise RuntimeError(f"{name} did not open 127.0.0.1:{port}; last lines of {log}:\n{tail}")


@contextmanager
def service(name: str, argv: list[str], env: dict[str, str], logs: Path) -> Iterator[Path]:
    """One long-running process in its own session; SIGTERM, then SIGKILL, at the end."""
    log = logs / f"{name}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield log
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _setup() -> None:
    done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "setup_live.sh")], text=True,
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"scripts/setup_live.sh failed: {done.stderr[-2000:]}")


@contextmanager
def _postgres(logs: Path) -> Iterator[int]:
    """A throwaway cluster, trust-authenticated on 127.0.0.1 only, with two databases."""
    pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    data = Path(tempfile.mkdtemp(prefix="viewership-pg-"))
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        account = pwd.getpwnam("postgres")
        os.chown(data, account.pw_uid, account.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    log = data / "postgres.log"  # PostgreSQL's user cannot enter the test's private folders

    def pg(*argv: str) -> None:
        subprocess.run([*as_postgres, *argv], check=True, capture_output=True)

    pg(str(pg_bin / "initdb"), "-D", str(data / "db"), "-U", DB_USER, "-A", "trust")
    options = f"-h 127.0.0.1 -p {port} -k {data}"
    pg(str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(log), "-w", "start")
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=port, user=DB_USER, dbname="postgres")
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
            cursor.execute("CREATE DATABASE iceberg")
        connection.close()
        yield port
    finally:
        pg(str(pg_bin / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "-w", "stop")
        shutil.copy(log, logs / "postgres.log")
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def native_stack(root: Path) -> Iterator[dict[str, str]]:
    """Start the stack; yield the environment of the ``cluster`` profile that points at it."""
    _setup()
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, **S3_KEYS, "AWS_REGION": "us-east-1", "SPARK_LOCAL_IP": "127.0.0.1"}
    with ExitStack() as stack:
        pg_port = stack.enter_context(_postgres(logs))

        s3_port = free_port()
        moto = sorted(CACHE.glob("moto-*/bin/moto_server"))[-1]
        log = stack.enter_context(
            service("s3", [str(moto), "-H", "127.0.0.1", "-p", str(s3_port)], base, logs)
        )
        wait_for_port("moto's S3 server", s3_port, log)
        s3 = f"http://127.0.0.1:{s3_port}"
        urllib.request.urlopen(urllib.request.Request(f"{s3}/{BUCKET}", method="PUT")).close()

        rest_port = free_port()
        classpath = str(sorted(CACHE.glob("rest-catalog-*"))[-1] / "*")
        catalog_env = base | {
            "CATALOG_URI": f"jdbc:postgresql://127.0.0.1:{pg_port}/iceberg",
            "CATALOG_JDBC_USER": DB_USER,
            "CATALOG_JDBC_PASSWORD": "",
            "CATALOG_WAREHOUSE": f"s3://{BUCKET}/warehouse",
            "CATALOG_IO__IMPL": "org.apache.iceberg.aws.s3.S3FileIO",
            "CATALOG_S3_ENDPOINT": s3,
            "CATALOG_S3_PATH__STYLE__ACCESS": "true",
            "CATALOG_CLIENT_REGION": "us-east-1",
            "CATALOG_REST_PORT": str(rest_port),
        }
        java = ["java", "-cp", classpath, "org.apache.iceberg.rest.RESTCatalogServer"]
        log = stack.enter_context(service("rest-catalog", java, catalog_env, logs))
        wait_for_port("the REST catalog", rest_port, log)

        master_port, master_ui, worker_ui = free_port(), free_port(), free_port()
        spark_env = base | {
            "SPARK_HOME": str(Path(find_spec("pyspark").origin).parent),  # type: ignore[arg-type,union-attr]
            "SPARK_NO_DAEMONIZE": "1",
            "SPARK_WORKER_DIR": str(root / "work"),
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
        master = [str(BIN / "spark-class"), "org.apache.spark.deploy.master.Master",
                  "--host", "127.0.0.1", "--port", str(master_port),
                  "--webui-port", str(master_ui)]  # fmt: skip
        log = stack.enter_context(service("spark-master", master, spark_env, logs))
        wait_for_port("the Spark master", master_port, log)
        spark_master = f"spark://127.0.0.1:{master_port}"
        # Four cores offered on a two-core machine: two applications of two cores each (the
        # live tier's two pool slots) share the CPU through the OS, as short tasks idle a lot.
        worker = [str(BIN / "spark-class"), "org.apache.spark.deploy.worker.Worker", spark_master,
                  "--host", "127.0.0.1", "--cores", "4", "--memory", "2g",
                  "--webui-port", str(worker_ui)]  # fmt: skip
        log = stack.enter_context(service("spark-worker", worker, spark_env, logs))
        wait_for_port("the Spark worker", worker_ui, log)
        _wait_for_worker(master_ui, log)

        yield base | {
            "VIEWERSHIP_PROFILE": "cluster",
            "VIEWERSHIP_SPARK_MASTER": spark_master,
            "VIEWERSHIP_CATALOG_URI": f"http://127.0.0.1:{rest_port}",
            "VIEWERSHIP_WAREHOUSE": f"s3://{BUCKET}/warehouse",
            "VIEWERSHIP_S3_ENDPOINT": s3,
            "VIEWERSHIP_EXECUTOR_MEMORY": "1g",
            "LIVE_POSTGRES_URL": f"postgresql+psycopg2://{DB_USER}@127.0.0.1:{pg_port}/airflow",
            "LIVE_SPARK_MASTER_UI": f"http://127.0.0.1:{master_ui}",
        }


def _wait_for_worker(master_ui: int, log: Path, timeout: float = 60) -> None:
    """The master lists the worker ALIVE once it registered (its port opens before that)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{master_ui}/json/") as answer:
            if b'"ALIVE"' in answer.read():
                return
        time.sleep(1)
    raise RuntimeError(f"the Spark worker never registered with the master; see {log}")
