"""`viewership forget`: a user leaves no row, branch, snapshot, file or quality record behind."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs import silver
from jobs.forget import forget, token_pattern, user_sha256
from jobs.wap import branches
from schemas import tables as T
from tests.lake_kit import doubled_events, rows, run
from tests.landing_kit import catalog, ev, signup, write_lines
from viewership import pseudonyms
from viewership.cli import main
from viewership.config import Settings
from viewership.errors import PublicationRefused

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)
GONE = "fm-0001"  # the user who asks to be forgotten
# Users who stay; the first has GONE's id as a prefix, so only a whole-token match is right.
STAY = ("fm-00012", "fm-0002")


def _day(settings: Settings, day: date) -> None:
    catalog(settings.landing, day)
    users = (GONE, *STAY)
    lines: list[object] = [
        ev(f"{day:%d}-{i}", users[i % 3], ("s1", "s2")[i % 2], f"{day}T1{i}:00:00Z", 600)
        for i in range(6)
    ]
    # A line of GONE's that breaks the contract: kept byte for byte in quarantine, until now.
    lines.append(f'{{"event_id": "{day:%d}-bad", "user_id": "{GONE}", "watch_seconds": "x"}}')
    write_lines(settings.landing, "viewing_events", day, lines)  # type: ignore[arg-type]
    write_lines(settings.landing, "signups", day, [signup(u, f"{day}T08:00:00Z") for u in users])


def _mentions(pattern: re.Pattern[str], value: object) -> bool:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return isinstance(value, str) and pattern.search(value) is not None


def _files_mentioning(root: Path, user_id: str) -> list[str]:
    """Every file under root that holds the id: Parquet files read value by value (they are
    compressed), every other file byte for byte."""
    pattern = re.compile(token_pattern(user_id))
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            hit = any(_mentions(pattern, v) for c in table.columns for v in c.to_pylist())
        else:
            hit = _mentions(pattern, path.read_bytes())
        if hit:
            found.append(str(path.relative_to(root)))
    return found


def _user_rows(spark: SparkSession, settings: Settings) -> dict[str, list[str]]:
    """The users of each table; gold's pseudonyms translated back (the test knows everyone)."""
    secret = pseudonyms.key(settings)
    known = {pseudonyms.pseudonym(u, secret): u for u in (GONE, *STAY)}
    users = {t.identifier: sorted(r[0] for r in rows(spark, t, "user_id"))
             for t in (T.VIEWING_EVENTS, T.SIGNUPS)}  # fmt: skip
    gold = [r[0] for r in rows(spark, T.USER_SHOW_DAILY, "user_id")]
    assert not set(gold) & set(known.values()), "gold holds pseudonyms, never user ids"
    users[T.USER_SHOW_DAILY.identifier] = sorted(known[p] for p in gold)
    return users


def test_a_forgotten_user_is_gone_from_every_table_branch_snapshot_and_file(
    spark: SparkSession, lakehouse: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a published day, and a refused one whose audit branch is kept for inspection
    _day(lakehouse, D1)
    run(spark, lakehouse, D1, ratio=0.5, aggregates=["top_shows"])
    _day(lakehouse, D2)
    monkeypatch.setattr(silver, "events_rows", doubled_events)
    with pytest.raises(PublicationRefused):
        run(spark, lakehouse, D2, ratio=0.5)
    monkeypatch.undo()
    kept = sorted(b for b in branches(spark, T.VIEWING_EVENTS) if b != "main")
    assert kept == ["audit_20261102_t02"]
    before = _user_rows(spark, lakehouse)
    assert len(rows(spark, T.QUARANTINE, "raw_line")) == 1
    warehouse = lakehouse.home / "warehouse"
    assert _files_mentioning(warehouse, GONE), "the user is on disk before the request"
    # and the gate once quoted one of the user's rows, in its table and in GX's files
    quoted = json.dumps({"unexpected_rows": [{"user_id": GONE, "show_id": "s1"}]})
    audit_name = T.AUDIT_RESULTS.spark_name
    quoting = spark.table(audit_name).limit(1).withColumn("details", F.lit(quoted))
    quoting.writeTo(audit_name).append()
    (lakehouse.gx_root / "uncommitted" / "quoted.json").write_text(quoted)
    # When the user asks to be forgotten
    report = forget(spark, lakehouse, GONE, "privacy ticket 4711")
    assert report.audit_rows_scrubbed >= 1 and report.quality_files_scrubbed >= 1

    # Then no table's main holds a row of theirs, and everyone else's rows are all there
    after = _user_rows(spark, lakehouse)
    for table, users in before.items():
        assert after[table] == [u for u in users if u != GONE], table
        assert GONE in users and STAY[0] in after[table], table
    pattern = re.compile(token_pattern(GONE))
    for table in (T.VIEWING_EVENTS_RAW, T.SIGNUPS_RAW):
        lines = [r[0] for r in rows(spark, table, "raw_line")]
        assert lines and not [x for x in lines if _mentions(pattern, x)], table
    assert rows(spark, T.QUARANTINE, "raw_line") == []  # GONE's were the only bad lines
    # nor does the refused run's branch
    branch = spark.read.option("branch", kept[0]).table(T.VIEWING_EVENTS.spark_name)
    assert {r["user_id"] for r in branch.collect()} == set(STAY)
    # and no file of the warehouse, nor any quality record, still contains the id
    assert _files_mentioning(warehouse, GONE) == []
    assert _files_mentioning(lakehouse.gx_root, GONE) == []
    audit = rows(spark, T.AUDIT_RESULTS, "observed", "details")
    assert audit and not [r for r in audit if _mentions(pattern, r[0] + r[1])]
    # nor can time travel reach them: only the branch heads' snapshots are left
    for table in (T.VIEWING_EVENTS, T.QUARANTINE):
        snapshots = spark.table(f"{table.spark_name}.snapshots").count()
        assert snapshots == len(branches(spark, table)), table
    # and the request is logged by a hash of the id, never the id itself, with who asked
    logged = spark.table(T.ERASURES.spark_name).collect()
    assert [(r["request_id"], r["user_sha256"], r["requested_by"]) for r in logged] == [
        (report.request_id, user_sha256(GONE), "privacy ticket 4711")
    ]
    assert logged[0]["rows_deleted"] == report.rows_deleted > 0
    # and a second request for the same user finds nothing more to delete
    assert forget(spark, lakehouse, GONE, "dpo@example.com").rows_deleted == 0


@pytest.mark.parametrize("user", ["", " fm-1", "x" * 65, "tab\there"])
def test_a_user_id_the_feeds_cannot_carry_is_refused_in_one_line(
    user: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--home", str(tmp_path), "forget", "--user", user]) == 2
    err = capsys.readouterr().err
    assert err.startswith("viewership: error: --user must be a user id") and err.count("\n") == 1


@pytest.mark.parametrize("requester", ["", "   ", "x" * 201, "line\nbreak"])
def test_an_erasure_must_name_who_asked_in_one_line(
    requester: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--home", str(tmp_path), "forget", "--user", "u1", "--requested-by", requester]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("viewership: error: --requested-by must name who asked")
    assert err.count("\n") == 1


def test_a_hostile_user_id_is_matched_literally(spark: SparkSession) -> None:
    # Regex and SQL metacharacters in an id mean themselves, in Spark's regex engine as in Python's
    hostile = "a.b'*(\\E)|\"x"
    frame = spark.createDataFrame(
        [(f'{{"user_id": "{hostile}"}}',), ('{"user_id": "aXb"}',), (hostile + "z",)], ["line"]
    )
    pattern = token_pattern(hostile)
    matched = [r[0] for r in frame.where(frame.line.rlike(pattern)).collect()]
    assert matched == [f'{{"user_id": "{hostile}"}}']
    assert re.search(pattern, matched[0])
