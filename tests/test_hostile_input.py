"""Hostile input, generated: whatever the landing zone holds, nothing crashes and nothing is lost.

Hypothesis throws random and adversarial lines at validation: invalid UTF-8, byte-order marks,
huge lines, deep nesting, numbers past 64 bits, NaN and Infinity, duplicate keys, control
characters, long strings and right names with wrong types. Line by line (pure Python, many
examples) every line gets exactly one verdict; through Spark (files written to a landing
folder, fewer examples) every line read is one row, the rows reconcile, and every quarantined
line is kept byte for byte.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from jobs.ingest import bom_files, mark_unreadable, read_lines, unreadable_files
from jobs.validate import UTF8_BOM, Context, Reason, check_line, validated
from schemas.contract import FEEDS
from schemas.regions import country_regions
from tests.reliability.report import write_matrix

D = date(2026, 11, 10)
CTX = Context(D, country_regions(), frozenset({"s1", "s2"}))
GOOD_EVENT: dict[str, Any] = {
    "event_id": "e1", "user_id": "u1", "show_id": "s1", "event_ts": "2026-11-10T12:00:00Z",
    "watch_seconds": 300, "device": "tv", "country": "US",
}  # fmt: skip

# What the examples tried, for the reliability report (tests/reliability/report.py).
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed != failed:
        return  # the failure is the report
    write_matrix(request.config.rootpath, "hostile-input", [
        {"where": "validation, line by line", "lines tried": TALLY["lines"],
         "quarantined": TALLY["lines quarantined"], "crashes": 0, "rows lost": 0},
        {"where": "right name, wrong value or duplicate key", "lines tried": TALLY["typed"],
         "quarantined": TALLY["typed quarantined"], "crashes": 0, "rows lost": 0},
        {"where": "Spark batches of files (plain, gzip, fake gzip)",
         "lines tried": TALLY["batch lines"], "quarantined": TALLY["batch quarantined"],
         "crashes": 0, "rows lost": TALLY["batch lost"]},
    ])  # fmt: skip


json_leaf = st.one_of(
    st.none(), st.booleans(), st.text(max_size=30),
    st.integers(min_value=-(2**80), max_value=2**80), st.floats(allow_nan=False),
)  # fmt: skip
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def wrong_types(draw: st.DrawFn) -> bytes:
    """A good event with one field of the right name and any other JSON value."""
    name = draw(st.sampled_from(sorted(GOOD_EVENT)))
    return json.dumps(GOOD_EVENT | {name: draw(json_value)}).encode()


@st.composite
def duplicate_keys(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(sorted(GOOD_EVENT)))
    body = json.dumps(GOOD_EVENT)[1:-1]
    return ("{" + body + f', "{name}": ' + json.dumps(draw(json_value)) + "}").encode()


def _nested(depth: int) -> bytes:
    return b'{"event_id": ' + b"[" * depth + b"]" * depth + b"}"


ADVERSARIAL = [
    b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf" + json.dumps(GOOD_EVENT).encode(), b"\xff\xfe\x00",
    b"\xc3\x28", b"\xed\xa0\x80", b'{"event_id": "\\ud800"}', b"NaN", b"Infinity",
    json.dumps(GOOD_EVENT).replace("300", "NaN").encode(),
    json.dumps(GOOD_EVENT).replace("300", "-Infinity").encode(),
    json.dumps(GOOD_EVENT).replace("300", str(2**64 + 1)).encode(),
    json.dumps(GOOD_EVENT).replace("300", "1e400").encode(),
    json.dumps(GOOD_EVENT | {"user_id": "u" * 100_000}).encode(),
    json.dumps(GOOD_EVENT | {"title": "x" * 1_000_000}).encode(),
    json.dumps(GOOD_EVENT | {"user_id": "a\u0000b\u001fc"}).encode(),
    b'{"event_id": "e\x01"}', _nested(50_000), b"[" * 200_000, b"{" * 100_000,
    b"\x1f\x8b\x08\x00garbage", b'{"event_id": "a\rb"}', json.dumps(GOOD_EVENT).encode() + b"\r",
    b"null", b"[]", b'"a string"', b"0", b"{}",
]  # fmt: skip
hostile_line = st.one_of(
    st.sampled_from(ADVERSARIAL),
    st.binary(max_size=200).filter(lambda b: b"\n" not in b),
    st.text(max_size=200).map(lambda t: t.replace("\n", " ").encode("utf-8", "surrogatepass")),
    json_value.map(lambda v: json.dumps(v).encode()),
    wrong_types(),
    duplicate_keys(),
)


@settings(max_examples=400, deadline=None)
@given(feed=st.sampled_from(FEEDS), line=hostile_line)
def test_every_line_gets_one_verdict_and_never_crashes_validation(feed: str, line: bytes) -> None:
    problem, values = check_line(feed, line, CTX)
    TALLY.update({"lines": 1, "lines quarantined": problem is not None})
    if problem is None:
        assert values, "an accepted line yields its fields"
    else:
        assert problem.reason in Reason and values == {}


@settings(max_examples=200, deadline=None)
@given(line=st.one_of(wrong_types(), duplicate_keys()))
def test_a_right_name_with_a_wrong_value_is_never_accepted_as_something_else(line: bytes) -> None:
    problem, values = check_line("viewing_events", line, CTX)
    TALLY.update({"typed": 1, "typed quarantined": problem is not None})
    if problem is None:  # the value happened to be valid for its field: it is kept as given
        parsed = json.loads(line)
        assert values["event_id"] == parsed["event_id"]
        assert values["watch_seconds"] == parsed["watch_seconds"]


def _write(folder: Path, files: list[tuple[str, list[bytes]]]) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for index, (kind, lines) in enumerate(files):
        payload = b"".join(line + b"\n" for line in lines)
        path = folder / f"part-{index}.jsonl{'.gz' if kind != 'plain' else ''}"
        path.write_bytes(gzip.compress(payload, mtime=0) if kind == "gzip" else payload)
        paths.append(path)
    return paths


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["plain", "gzip", "fake-gzip"]),
            st.lists(hostile_line, max_size=12),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_hostile_batch_reconciles_and_keeps_quarantined_lines_byte_for_byte(
    spark: SparkSession, tmp_path: Path, files: list[tuple[str, list[bytes]]]
) -> None:
    landing = tmp_path / "landing"
    shutil.rmtree(landing, ignore_errors=True)
    paths = _write(landing / "viewing_events", files)
    lines = read_lines(spark, landing, paths)
    checked = mark_unreadable(
        validated(lines, "viewing_events", CTX, bom_files(landing, paths)), unreadable_files(paths)
    )
    rows = checked.select("source_file", "line_number", "raw_line", "reason").collect()

    expected = {}
    for path, (kind, file_lines) in zip(paths, files, strict=True):
        name = str(path.relative_to(landing))
        if kind == "fake-gzip":  # one record holding the whole file, quarantined as such
            expected[(name, 1)] = (path.read_bytes(), Reason.UNREADABLE_FILE.value)
        else:
            for number, line in enumerate(file_lines, start=1):
                problem, _ = check_line("viewing_events", line, CTX)
                expected[(name, number)] = (line, problem.reason.value if problem else None)
    # Every line read is one row (nothing dropped, nothing invented), with its verdict, and a
    # quarantined one keeps its exact bytes.
    got = {(r["source_file"], r["line_number"]): (bytes(r["raw_line"]), r["reason"]) for r in rows}
    TALLY.update({
        "batch lines": len(expected),
        "batch quarantined": sum(reason is not None for _, reason in expected.values()),
        "batch lost": len(expected.keys() - got.keys()),
    })  # fmt: skip
    assert got == expected


def test_a_corrupt_gzip_and_an_empty_file_are_kept_not_fatal(
    spark: SparkSession, tmp_path: Path
) -> None:
    # A .gz that starts like gzip but breaks off, an empty .gz and an empty plain file.
    folder = tmp_path / "landing" / "viewing_events"
    folder.mkdir(parents=True)
    whole = gzip.compress(json.dumps(GOOD_EVENT).encode() * 50 + b"\n", mtime=0)
    (folder / "broken.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.jsonl.gz").write_bytes(b"")
    (folder / "empty.jsonl").write_bytes(b"")
    paths = sorted(folder.iterdir())
    lines = read_lines(spark, tmp_path / "landing", paths)
    checked = mark_unreadable(validated(lines, "viewing_events", CTX), unreadable_files(paths))
    rows = {r["source_file"]: (bytes(r["raw_line"]), r["reason"]) for r in checked.collect()}
    assert rows == {
        "viewing_events/broken.jsonl.gz": (whole[: len(whole) // 2], "unreadable_file"),
        "viewing_events/empty.jsonl.gz": (b"", "unreadable_file"),
    }


def test_a_file_that_spark_splits_is_numbered_as_one_file(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Spark reads a large plain file as several splits, one per task, and would number each
    # split's lines from 1. Splits of 16 KiB make a file of 300 events (60 KiB) several.
    folder = tmp_path / "landing" / "viewing_events"
    folder.mkdir(parents=True)
    good = json.dumps(GOOD_EVENT).encode()
    big = [UTF8_BOM + good] + [good if i % 7 else b"not json %d" % i for i in range(1, 300)]
    (folder / "big.jsonl").write_bytes(b"".join(line + b"\n" for line in big))
    (folder / "small.jsonl").write_bytes(b"{}\n" + good + b"\n")
    paths = sorted(folder.iterdir())
    conf = {"spark.sql.files.maxPartitionBytes": "16k", "spark.sql.files.openCostInBytes": "0"}
    saved = {key: spark.conf.get(key) for key in conf}
    try:
        for key, value in conf.items():
            spark.conf.set(key, value)
        lines = read_lines(spark, tmp_path / "landing", paths)
        splits = sorted(
            r["first_line"]
            for r in lines.select("source_file", "first_line").distinct().collect()
            if r["source_file"].endswith("big.jsonl")
        )
        assert len(splits) >= 3 and splits[0] == 1, splits
        checked = validated(lines, "viewing_events", CTX, bom_files(tmp_path / "landing", paths))
        got = {
            (r["source_file"], r["line_number"]): bytes(r["raw_line"])
            for r in checked.select("source_file", "line_number", "raw_line").collect()
        }
    finally:
        for key, value in saved.items():
            spark.conf.set(key, value)
    expected = {("viewing_events/big.jsonl", n): line for n, line in enumerate(big, start=1)}
    expected |= {("viewing_events/small.jsonl", 1): b"{}", ("viewing_events/small.jsonl", 2): good}
    assert got == expected
