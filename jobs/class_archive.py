"""Write the driver JVM's class-data-sharing archive, once per Java, Spark and jar set.

Every ``viewership`` command, DAG task and test session starts a JVM that loads some 11,000
classes from jars before its first query. The JVM can instead map them from an archive that
an earlier JVM wrote on exit (``-XX:ArchiveClassesAtExit``); the session factory maps it
whenever it exists (``viewership.spark.class_archive``). The archive is written here by one
small but complete daily run in a scratch home, so it holds the classes of every stage:
validation, Iceberg writes and branches, the quality gate, the aggregates.

Run by set-up: ``python -m jobs.class_archive``. Quick when the archive already exists.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import tempfile
from datetime import date
from pathlib import Path

from viewership.config import Settings, load_settings
from viewership.errors import ViewershipError
from viewership.spark import class_archive, get_spark, stop_and_wait

# A day small enough to run in about a minute, large enough to take every path of the run.
EVENTS = 300
DAY = date(2026, 1, 1)


def write_archive(settings: Settings) -> Path:
    """Write the archive for these settings' jars unless it exists; return its path."""
    archive = class_archive(settings)
    if archive.is_file():
        return archive
    # Imported only now, so that set-up's check of an existing archive stays under a second.
    from jobs.generate import generate_landing
    from jobs.run import run_date

    archive.parent.mkdir(parents=True, exist_ok=True)
    # The JVM writes the file at exit; another process must never map a half-written one.
    partial = archive.with_name(f"{archive.stem}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="viewership-class-archive-") as scratch:
        run_settings = dataclasses.replace(
            load_settings(scratch),
            jar_cache=settings.jar_cache,
            # -Xlog: the JVM lists every class it cannot archive (generated, signed), harmlessly.
            jvm_options=f"{settings.jvm_options} -XX:ArchiveClassesAtExit={partial} "
            "-Xlog:cds=off,cds+dynamic=off".strip(),
        )
        spark = get_spark(run_settings, app_name="viewership-class-archive")
        try:
            generate_landing(spark, run_settings.landing, DAY, 1, EVENTS)
            run_date(spark, run_settings, DAY, "archive")
        finally:
            stop_and_wait(spark)
    if not partial.is_file():
        raise ViewershipError(f"the JVM wrote no class archive at {partial}")
    partial.replace(archive)  # atomic: a reader maps the whole archive or none
    return archive


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        settings = load_settings()
        if not class_archive(settings).is_file():
            print("writing the driver JVM's class archive (once; about a minute)", file=sys.stderr)
            print(f"wrote {write_archive(settings)}", file=sys.stderr)
    except ViewershipError as exc:  # one line for set-up's log, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
