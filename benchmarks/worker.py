"""The measured Spark work, one process per step so each has its own JVM and memory peak.

``python -m benchmarks.worker STEP --home H --out FILE ...`` runs one step in a fresh
SparkSession built by the project's own factory (the embedded profile, as a user gets it) and
writes its figures as JSON. Steps:

- ``landing``: generate the landing days the other steps read (untimed), then time, in turn,
  the floor over the measured day and the generator writing one more day of the same volume;
- ``pipeline``: publish the first day (history, and the JVM's warm-up), then time, in turn,
  the floor and the daily run of the measured day (each repetition an idempotent rerun, the
  same work as its first run); then the driver's peak memory. With ``--depth N``, publish the
  days between, untimed, and time the run of day N as well: the daily run at depth N beside
  the one at depth 1, in the same warm JVM. Then publish any further days the query figure
  reads (untimed), and last time the run of a day with no landing file at all (the empty
  day: the run's fixed cost).

History is built as a deployment builds it: ``viewership maintain`` after every
``--maintain-every`` published days (7, as the weekly ``lakehouse_maintenance`` DAG runs it).
Without it the small files of every run pile up, and a depth figure would measure a lake
nobody runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from benchmarks import WEEKLY
from benchmarks.measure import Samples, driver_peak, stopwatch
from jobs.generate import generate_landing
from jobs.landing import feed_files
from jobs.maintenance import maintain
from jobs.run import run_date
from schemas.contract import FEEDS
from viewership.config import REPO_ROOT, Settings, load_settings
from viewership.spark import get_spark

FLOOR_NAMESPACE = "bench"
_JSON_TYPES = {"string": T.StringType(), "integer": T.LongType(), "number": T.DoubleType()}


def landing_schema(feed: str) -> T.StructType:
    """The feed's landing contract (schemas/landing) as the Spark schema a plain JSON load
    would use: every declared property, typed, nothing checked."""
    path = REPO_ROOT / "schemas" / "landing" / f"{feed}.schema.json"
    properties = json.loads(path.read_text(encoding="utf-8"))["properties"]
    fields = []
    for name, spec in properties.items():
        kind = spec.get("type", "string")
        if kind == "array":
            item = _JSON_TYPES.get(spec.get("items", {}).get("type", "string"), T.StringType())
            fields.append(T.StructField(name, T.ArrayType(item)))
        else:
            fields.append(T.StructField(name, _JSON_TYPES.get(kind, T.StringType())))
    return T.StructType(fields)


def floor(spark: SparkSession, settings: Settings, day: date) -> int:
    """The least any pipeline does with a day: read its landing files once (Spark's JSON
    reader, the contract's schema) and write each feed once to an Iceberg table. Returns the
    rows written, so a run over an empty landing cannot pass for a fast one."""
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS lake.{FLOOR_NAMESPACE}")
    rows = 0
    for feed in FEEDS:
        files = [str(p) for p in feed_files(settings.landing, feed, day)]
        if not files:
            continue
        frame = spark.read.schema(landing_schema(feed)).json(files)
        frame.writeTo(f"lake.{FLOOR_NAMESPACE}.{feed}").using("iceberg").createOrReplace()
        rows += spark.table(f"lake.{FLOOR_NAMESPACE}.{feed}").count()
    if rows == 0:
        raise SystemExit(f"benchmark: no landing files for {day} under {settings.landing}")
    return rows


class _Phases(logging.Handler):
    """The run's own progress lines with the seconds since the run began: each line ends a
    phase (a feed staged, the gate passed, an aggregate published), so the gaps between them
    say where the time goes."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.started = time.perf_counter()
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((time.perf_counter() - self.started, record.getMessage()))

    def phases(self) -> list[dict[str, Any]]:
        marks, previous = [], 0.0
        for seconds, message in self.lines:
            marks.append({"ends": message.split("] ", 1)[-1][:70], "seconds": seconds - previous})
            previous = seconds
        return marks


@contextmanager
def phases() -> Iterator[_Phases]:
    """Collect the progress lines of the ``viewership`` loggers for one run."""
    handler = _Phases()
    logger = logging.getLogger("viewership")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _landing(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    start, events = args.start, args.events
    generate_landing(spark, settings.landing, start, args.days, events, seed=args.seed)
    if args.repeat == 0:  # data for another step, nothing to time
        return {}
    scratch = settings.home / "generator-scratch"
    measured = start + timedelta(days=1)
    floors, generator = Samples(), Samples()
    rows = 0
    for repetition in range(args.repeat):
        with stopwatch(floors):
            rows = floor(spark, settings, measured)
        shutil.rmtree(scratch, ignore_errors=True)
        with stopwatch(generator):  # a day after the landing's, as a daily generator would
            generate_landing(
                spark, scratch, start + timedelta(days=args.days), 1, events, seed=repetition
            )
    shutil.rmtree(scratch, ignore_errors=True)
    return {"floor": floors.as_dict(), "generator": generator.as_dict(), "floor_rows": rows}


def _pipeline(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    first = args.start

    maintained: list[str] = []

    def publish(offsets: range) -> None:
        for offset in offsets:
            day = first + timedelta(days=offset)
            run_date(spark, settings, day, "history")
            if (offset + 1) % args.maintain_every == 0:
                maintain(spark, settings, day)
                maintained.append(day.isoformat())

    publish(range(1))
    floors, runs = Samples(), Samples()
    for repetition in range(args.repeat):
        with stopwatch(floors):
            floor(spark, settings, first + timedelta(days=1))
        with phases() as progress, stopwatch(runs):
            run_date(spark, settings, first + timedelta(days=1), f"bench{repetition}")
    figures = {"floor": floors.as_dict(), "end_to_end": runs.as_dict(), "memory": driver_peak(),
               "phases": progress.phases()}  # fmt: skip
    done = 2
    if args.depth:
        publish(range(2, args.depth))
        deep = Samples()
        for repetition in range(args.repeat):
            with stopwatch(deep):
                run_date(spark, settings, first + timedelta(days=args.depth), f"bench{repetition}")
        figures["depth"] = {"depth": args.depth, "depth_1": runs.as_dict(),
                            "depth_n": deep.as_dict()}  # fmt: skip
        done = args.depth + 1
    publish(range(done, args.days))
    figures["maintained"] = maintained
    figures["empty_day"] = _empty_day(spark, settings, first + timedelta(days=args.days + 1), args)
    return figures


def _empty_day(
    spark: SparkSession, settings: Settings, day: date, args: argparse.Namespace
) -> dict[str, Any]:
    """The daily run of a date with no landing file at all, in the same warm session: what a
    run costs whatever its data (its lake holds every day the step published)."""
    if any(feed_files(settings.landing, feed, day) for feed in FEEDS):
        raise SystemExit(f"benchmark: {day} was to have no landing files")
    empty = Samples()
    for repetition in range(args.repeat):
        with stopwatch(empty):
            run_date(spark, settings, day, f"empty{repetition}")
    return empty.as_dict()


STEPS = {"landing": _landing, "pipeline": _pipeline}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("step", choices=sorted(STEPS))
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--days", type=int, required=True, help="landing days in the home")
    parser.add_argument("--events", type=int, required=True, help="events per day")
    parser.add_argument("--repeat", type=int, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--depth", type=int, default=0, help="also time the run at this depth")
    parser.add_argument(
        "--maintain-every", type=int, default=WEEKLY, help="days between maintenance"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("pyiceberg").setLevel(logging.ERROR)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    settings = load_settings(args.home)
    settings.home.mkdir(parents=True, exist_ok=True)
    spark = get_spark(settings, app_name=f"viewership-benchmark-{args.step}")
    try:
        figures = STEPS[args.step](spark, settings, args)
    finally:
        spark.stop()
    args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
