"""The one SparkSession factory: every job, test and DAG task gets its session here."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import pyspark
from pyspark.sql import SparkSession

from viewership.config import Settings, prepare_sqlite_catalog
from viewership.errors import SetupError


def spark_conf(settings: Settings) -> dict[str, str]:
    """Every Spark property the pipeline relies on, spark-defaults style, from the settings."""
    classpath = os.pathsep.join(str(p) for p in settings.jar_paths())
    conf = {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.defaultCatalog": "lake",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.driver.memory": settings.driver_memory,
        "spark.executor.memory": settings.executor_memory,
        "spark.ui.enabled": os.environ.get("VIEWERSHIP_SPARK_UI", "false"),
        "spark.ui.showConsoleProgress": "false",
        # Arrow moves batches between the JVM and the Python validator without pickling.
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": "20000",
        # The runtime jars sit at the same path on every node (one image, one jar cache), so
        # they go on the JVMs' class paths instead of spark.jars, which would copy 120 MB
        # from the driver into every executor of every application.
        "spark.driver.extraClassPath": classpath,
        "spark.executor.extraClassPath": classpath,
        # Python workers must import this project: run them on the driver's interpreter.
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
        "spark.driver.extraJavaOptions": " ".join(
            filter(
                None,
                [
                    f"-Dlog4j2.configurationFile={_log4j_config()}",
                    _archive_option(settings),
                    settings.jvm_options,
                ],
            )
        ),
    }
    if settings.jvm_options:
        conf["spark.executor.extraJavaOptions"] = settings.jvm_options
    if settings.max_cores is not None:
        conf["spark.cores.max"] = str(settings.max_cores)
    conf.update(settings.spark_catalog_conf())
    conf.update(settings.extra_spark_conf)
    return conf


def class_archive(settings: Settings) -> Path:
    """The driver JVM's class-data-sharing archive for this Java, Spark and class path.

    A cold driver spends seconds loading and verifying Spark's, Iceberg's and Hadoop's classes
    from jars; mapped from an archive written once (``jobs.class_archive``, run by set-up)
    they load in a fraction of that. The JVM checks the archive against its own build and
    class path and ignores one that does not match, so the name only has to change with them.
    """
    java = _java_home()
    modules = java / "lib" / "modules"  # the JDK's class image: rewritten by every update
    key = "\0".join(
        [
            str(java.resolve()),
            str(modules.stat().st_mtime_ns if modules.exists() else 0),
            str(Path(pyspark.__file__).parent.resolve()),
            pyspark.__version__,
            os.pathsep.join(str(p) for p in settings.jar_paths()),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return settings.jar_cache.parent / "jvm" / f"driver-{digest}.jsa"


def _java_home() -> Path:
    if home := os.environ.get("JAVA_HOME"):
        return Path(home)
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else Path("java")


def _archive_option(settings: Settings) -> str:
    """Map the class archive when it exists (naming a missing one would turn off the JDK's
    own), and never while a JVM is writing one."""
    if "-XX:ArchiveClassesAtExit" in settings.jvm_options:
        return ""
    archive = class_archive(settings)
    return f"-XX:SharedArchiveFile={archive}" if archive.is_file() else ""


def stop_and_wait(spark: SparkSession, timeout: float = 120.0) -> None:
    """Stop the session and wait until its JVM has exited (a JVM writes its class archive on
    exit, after the Python side would otherwise have moved on)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    spark.stop()
    process = getattr(gateway, "proc", None)  # set when this process launched the JVM
    if gateway is not None:
        gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
    if process is not None:
        process.stdin.close()  # the gateway exits when its standard input ends
        process.wait(timeout)


def _log4j_config() -> str:
    return str(resources.files("viewership").joinpath("log4j2.properties"))


def launched_by_spark_submit() -> bool:
    """True in a driver that spark-submit started: its master and JVM are already chosen."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(settings: Settings, app_name: str = "viewership") -> SparkSession:
    """Return the process's SparkSession, creating it from the settings on first use."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SetupError("Java 17 or newer is required to run Spark; install it and retry")
    prepare_sqlite_catalog(settings)
    if settings.spark_master.startswith("local"):
        # Nothing outside this process talks to a local driver: keep it on loopback.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # SparkContext picks the worker interpreter from this variable, not from the conf.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if not launched_by_spark_submit():
        builder = builder.master(settings.spark_master)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    # py4j logs its connection teardown at INFO, possibly after the logging streams closed.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return spark
