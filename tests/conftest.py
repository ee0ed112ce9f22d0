"""One Spark session per test run, on a throw-away home; tables reset per test that asks."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from viewership.config import Settings, load_settings
from viewership.spark import get_spark

# Every JVM the tests start (this session's, the CLI's, Airflow's spark-submits, the live
# tier's executors) handles a few thousand rows and exits: skip the C2 compiler and the
# parallel collector, which roughly halves their CPU (README, "Profiles").
SHORT_RUN_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
# The session's own JVM runs the in-process tests for the whole run (most of the suite's
# Spark work): there the optimising compiler pays for itself, about a fifth less time than
# C1 alone (measured on tests/test_gate_runs.py and tests/test_pipeline.py side by side).
LONG_RUN_JVM = "-XX:+UseSerialGC"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("VIEWERSHIP_JVM_OPTIONS", SHORT_RUN_JVM)


# The longest tiers, started first so that under pytest-xdist they overlap everything else.
FIRST = ("live", "crash")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The live tier, then the crash matrix, then the rest in their usual order."""

    def rank(item: pytest.Item) -> int:
        marks = [m for m in FIRST if item.get_closest_marker(m)]
        return FIRST.index(marks[0]) if marks else len(FIRST)

    items.sort(key=rank)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("home")
    return load_settings(
        home,
        env={
            "VIEWERSHIP_SHUFFLE_PARTITIONS": "2",
            "VIEWERSHIP_DRIVER_MEMORY": "2g",
            "VIEWERSHIP_JVM_OPTIONS": LONG_RUN_JVM,
        },
    )


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[SparkSession]:
    session = get_spark(settings, app_name="viewership-tests")
    yield session
    session.stop()


@pytest.fixture()
def lakehouse(settings: Settings, spark: SparkSession) -> Iterator[Settings]:
    """An empty landing zone and catalog for one test (the Spark session is shared)."""
    # Dropped through Spark: the session's JDBC catalog connection would not see other clients.
    for namespace in [r[0] for r in spark.sql("SHOW NAMESPACES IN lake").collect()]:
        for table in spark.sql(f"SHOW TABLES IN lake.{namespace}").collect():
            spark.sql(f"DROP TABLE lake.{namespace}.{table['tableName']} PURGE")
    shutil.rmtree(settings.landing, ignore_errors=True)
    settings.landing.mkdir(parents=True)
    yield settings


@pytest.fixture()
def landing(lakehouse: Settings) -> Path:
    return lakehouse.landing


@pytest.fixture()
def logs(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """``caplog`` that sees the project's loggers too: the CLI, which some tests run in-process,
    stops them from propagating to the root logger that ``caplog`` listens on."""
    monkeypatch.setattr(logging.getLogger("viewership"), "propagate", True)
    return caplog
