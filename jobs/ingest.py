"""Bronze: read landing lines as bytes, split verdicts into accepted rows and quarantine rows."""

from __future__ import annotations

import gzip
import zlib
from datetime import date
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.validate import UTF8_BOM, Reason

LINES_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField("raw_line", T.BinaryType()),
        T.StructField("first_line", T.LongType()),
    ]
)
GZIP_MAGIC = b"\x1f\x8b"


def is_readable(path: Path) -> bool:
    """A .gz file must be one whole gzip stream; anything else Spark reads as text.

    The magic bytes are not enough: a file cut short (an interrupted upload) starts like gzip
    and would fail Spark's read of the whole feed. Decompressing it once here, in 1 MiB steps,
    finds it first, and it is quarantined whole instead.
    """
    if not path.name.endswith(".gz"):
        return True
    with path.open("rb") as handle:
        if handle.read(2) != GZIP_MAGIC:
            return False
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except (OSError, EOFError, zlib.error):
        return False
    return True


def read_lines(spark: SparkSession, landing: Path, files: list[Path]) -> DataFrame:
    """Every line of the files as exact bytes with its file (relative to the landing root).

    Spark splits a large plain file into several partitions, so each row also carries
    ``first_line``: the number, in its file, of the first line of the split it was read from.
    Validation numbers the lines of a split from there (``jobs.validate.validated``).

    A file that claims gzip but is not becomes one line holding its whole content, which
    validation quarantines as ``unreadable_file``: kept, never dropped.
    """
    unreadable = [p for p in files if not is_readable(p)]
    readable = [p for p in files if p not in unreadable]
    root = str(landing.resolve())
    lines = spark.createDataFrame(
        [(str(p.resolve().relative_to(root)), p.read_bytes(), 1) for p in unreadable],
        LINES_SCHEMA,
    )
    if readable:
        # Spark's text reader keeps the line's bytes in the string unvalidated; the cast to
        # binary recovers them exactly, so invalid UTF-8 survives for the quarantine.
        text = spark.read.format("text").option("lineSep", "\n").load([str(p) for p in readable])
        relative = F.regexp_replace(
            F.regexp_replace("_metadata.file_path", "^file:(//)?", ""),
            f"^{_regex_literal(root)}/?",
            "",
        )
        split_lines = text.select(
            relative.alias("source_file"),
            F.col("_metadata.file_block_start").alias("block_start"),
            F.col("value").cast("binary").alias("raw_line"),
        )
        # A split holds the lines that start in its byte range: the lines of the splits
        # before it in the same file come first. Counting them reads the text once more in the
        # JVM, which costs little beside validating each line in Python.
        before = Window.partitionBy("source_file").orderBy("block_start")
        splits = (
            split_lines.groupBy("source_file", "block_start")
            .agg(F.count("*").alias("n"))
            .select(
                "source_file",
                "block_start",
                (F.sum("n").over(before) - F.col("n") + 1).alias("first_line"),
            )
        )
        # Broadcast: the lines keep their partitions and their order within each split.
        lines = (
            split_lines.join(F.broadcast(splits), ["source_file", "block_start"])
            .select("source_file", "raw_line", "first_line")
            .unionByName(lines)
        )
    return lines


def bom_files(landing: Path, files: list[Path]) -> frozenset[str]:
    """The readable files (as ``read_lines`` names them) whose content starts with a UTF-8
    byte-order mark, which Spark's text reader drops from their first line."""
    root = landing.resolve()
    found = set()
    for path in filter(is_readable, files):
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as handle:
            if handle.read(len(UTF8_BOM)) == UTF8_BOM:
                found.add(str(path.resolve().relative_to(root)))
    return frozenset(found)


def _regex_literal(text: str) -> str:
    return "".join("\\" + c if not c.isalnum() and c != "/" else c for c in text)


def unreadable_files(files: list[Path]) -> set[str]:
    """Names of files whose content cannot be decoded as the extension claims."""
    return {p.name for p in files if not is_readable(p)}


def mark_unreadable(validated: DataFrame, names: set[str]) -> DataFrame:
    """Override the verdict of lines that stand for a whole unreadable file."""
    if not names:
        return validated
    hit = F.element_at(F.split("source_file", "/"), -1).isin(sorted(names))
    return validated.withColumns(
        {
            "reason": F.when(hit, F.lit(Reason.UNREADABLE_FILE.value)).otherwise(F.col("reason")),
            "field": F.when(hit, F.lit(None)).otherwise(F.col("field")),
            "detail": F.when(hit, F.lit("the file ends in .gz but is not whole gzip")).otherwise(
                F.col("detail")
            ),
        }
    )


def raw_rows(validated: DataFrame, arrival_date: date, run_id: str) -> DataFrame:
    """Bronze rows: every line as it arrived, good or bad."""
    return validated.select(
        F.lit(arrival_date).alias("arrival_date"),
        "source_file",
        "line_number",
        "raw_line",
        F.lit(run_id).alias("run_id"),
    )


def quarantine_rows(bad: DataFrame, feed: str, arrival_date: date, run_id: str) -> DataFrame:
    """Quarantine rows: the raw bytes with the feed, the arrival date and the reason."""
    return bad.select(
        F.lit(feed).alias("feed"),
        F.lit(arrival_date).alias("arrival_date"),
        "source_file",
        "line_number",
        "raw_line",
        "reason",
        "field",
        "detail",
        F.lit(run_id).alias("run_id"),
    )


def is_bad() -> Column:
    """True for lines that failed validation."""
    return F.col("reason").isNotNull()
