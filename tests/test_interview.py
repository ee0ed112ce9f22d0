"""docs/interview.md quotes the project's own code, and the SQL it adds under docs/sql is right.

Every fenced block whose info string names a file (```sql file=PATH) must be that file byte for
byte; a block that names an excerpt (```python excerpt=PATH) must be lines of that file. The
SQL of docs/sql runs the way a declared query runs (``viewership.queries.sql_answer``: a
PyIceberg scan of the period into DuckDB) over hand-made Iceberg tables; no JVM is started.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pyiceberg.catalog import Catalog

from aggregates.signups import TABLE as SIGNUPS_DAILY
from schemas import tables as T
from tests import test_query
from tests.test_query import D0, D1, D2, D3, D4, END, START, _arrow, _fresh_home
from viewership import query
from viewership.catalog import load_catalog
from viewership.config import Settings
from viewership.queries import sql_answer

ROOT = Path(__file__).resolve().parents[1]
INTERVIEW = ROOT / "docs" / "interview.md"
DOCS_SQL = ROOT / "docs" / "sql"
PACKAGED = [
    "viewership/sql/top_shows.sql",
    "viewership/sql/genres_by_region.sql",
    "viewership/sql/signups.sql",
    "viewership/sql/co_watch.sql",
    "viewership/sql/signups_by_region_day.sql",
]

# A fence whose info string names a whole file or an excerpt of one, and what it holds.
_QUOTE = re.compile(
    r"^```(?P<lang>\w+) (?P<kind>file|excerpt)=(?P<path>\S+)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)

home = test_query.home  # the hand-made gold and silver data of the query tests


def _text(path: Path) -> str:
    """A file's exact text: bytes decoded, no newline translation."""
    return path.read_bytes().decode("utf-8")


def quotes(document: str) -> list[tuple[str, str, str]]:
    """Each quoting block as (kind, path, body without the newline before the closing fence)."""
    return [(m["kind"], m["path"], m["body"].removesuffix("\n")) for m in _QUOTE.finditer(document)]


def misquotes(document: str, root: Path = ROOT) -> list[str]:
    """Every block that is not what it says it quotes, with why."""
    problems = []
    for kind, path, body in quotes(document):
        source = root / path
        if not source.is_file():
            problems.append(f"{path}: no such file")
        elif kind == "file" and body != _text(source).removesuffix("\n"):
            problems.append(f"{path}: the block differs from the file")
        elif kind == "excerpt" and not _is_excerpt(body, _text(source)):
            problems.append(f"{path}: the block is not a run of the file's lines")
    return problems


def _is_excerpt(body: str, text: str) -> bool:
    """The block's lines, indentation aside, are consecutive lines of the file."""
    wanted = [line.strip() for line in body.splitlines()]
    lines = [line.strip() for line in text.splitlines()]
    return bool(wanted) and any(
        lines[i : i + len(wanted)] == wanted for i in range(len(lines) - len(wanted) + 1)
    )


# --- the document quotes the code ------------------------------------------------------------


def test_every_quoted_file_is_the_file_byte_for_byte() -> None:
    document = _text(INTERVIEW)
    assert quotes(document), "docs/interview.md quotes no file"
    assert misquotes(document) == []
    # A fence naming a file that the pattern does not read (indented, say) would go unchecked.
    fences = re.findall(r"^\s*```\w* (?:file|excerpt)=", document, re.MULTILINE)
    assert len(fences) == len(quotes(document))


def test_the_packaged_queries_and_every_docs_sql_file_are_quoted() -> None:
    quoted = {path for kind, path, _ in quotes(_text(INTERVIEW)) if kind == "file"}
    added = sorted(p.relative_to(ROOT).as_posix() for p in DOCS_SQL.glob("*.sql"))
    assert added, "docs/sql holds no SQL"
    for path in PACKAGED + added:
        assert path in quoted, path


def test_a_changed_or_missing_quote_is_caught() -> None:
    document = _text(INTERVIEW)
    top = "```sql file=viewership/sql/top_shows.sql\n"
    assert top in document
    # One character of the quoted SQL changed, and a trailing space added.
    changed = document.replace(top + "-- Top shows", top + "-- Top Shows", 1)
    assert misquotes(changed) == ["viewership/sql/top_shows.sql: the block differs from the file"]
    spaced = document.replace(top, top + " ", 1)
    assert misquotes(spaced) == ["viewership/sql/top_shows.sql: the block differs from the file"]
    missing = "```sql file=docs/sql/nowhere.sql\nSELECT 1\n```\n"
    assert misquotes(document + missing) == ["docs/sql/nowhere.sql: no such file"]
    excerpt = "```python excerpt=jobs/run.py\nWHEN MATCHED THEN DELETE\n```\n"
    assert misquotes(document + excerpt) == [
        "jobs/run.py: the block is not a run of the file's lines"
    ]


# --- viewership/sql/signups_by_region_day.sql ----------------------------------------------

BY_REGION_DAY = sql_answer(ROOT / PACKAGED[-1], {"signups": SIGNUPS_DAILY})


def test_new_users_per_day_and_region(home: Settings) -> None:
    # A second plan on D1 in UCAN: the day and region sum their plans (2 basic + 4 premium).
    extra = [{"signup_date": D1, "region": "UCAN", "plan": "premium", "new_users": 4}]
    table = load_catalog(home).load_table(SIGNUPS_DAILY.identifier)
    table.append(_arrow(SIGNUPS_DAILY, extra))
    rows = BY_REGION_DAY(home, START, END)
    # test_query.SIGNUP_ROWS of D1..D3: D0 and D4 are outside, and LATAM's 0 on D3 has no row.
    assert rows == [
        {"date": "2024-03-01", "region": "EMEA", "new_users": 1},
        {"date": "2024-03-01", "region": "UCAN", "new_users": 6},
        {"date": "2024-03-02", "region": "APAC", "new_users": 1},
        {"date": "2024-03-02", "region": "UCAN", "new_users": 3},
        {"date": "2024-03-03", "region": "EMEA", "new_users": 4},
    ]
    # The packaged answer's groupings are the margins of this one.
    days: dict[object, int] = {}
    regions: dict[object, int] = {}
    for row in rows:
        assert isinstance(row["new_users"], int)
        days[row["date"]] = days.get(row["date"], 0) + row["new_users"]
        regions[row["region"]] = regions.get(row["region"], 0) + row["new_users"]
    by_day = query.signups(home, START, END, by="day")
    assert {r["date"]: r["new_users"] for r in by_day} == days
    by_region = query.signups(home, START, END, by="region")
    assert {r["region"]: r["new_users"] for r in by_region} == regions
    assert query.signups(home, START, END) == [{"new_users": 15}]


def test_new_users_per_day_and_region_at_the_period_bounds(home: Settings) -> None:
    assert BY_REGION_DAY(home, D4, D4) == [
        {"date": "2024-03-04", "region": "LATAM", "new_users": 7}
    ]
    assert BY_REGION_DAY(home, D0, D0) == [{"date": "2024-02-29", "region": "UCAN", "new_users": 5}]
    assert BY_REGION_DAY(home, date(2025, 1, 1), date(2025, 1, 2)) == []


# --- docs/sql/signups_freshness.sql -------------------------------------------------------------

FRESHNESS = sql_answer(DOCS_SQL / "signups_freshness.sql", {"run_log": T.RUN_LOG})
D5 = date(2024, 3, 5)  # never ran


def _at(hour: int) -> datetime:
    return datetime(2024, 3, 6, hour, tzinfo=UTC)


# (run_id, logical_date, feed, status, lines_read, accepted, duplicates, quarantined, hour)
RUN_LOG_ROWS = [
    # Before the period: a complete date that must not show.
    ("r0", D0, "signups", "published", 5, 5, 0, 0, 0),
    ("r0", D0, "aggregate:signups", "published", 2, 2, 0, 0, 0),
    # D1: published, then the aggregate published: the answer holds it.
    ("r1", D1, "signups", "publishing", 10, 8, 1, 1, 1),
    ("r1", D1, "viewing_events", "published", 99, 90, 0, 9, 2),  # another feed's counts
    ("r1", D1, "signups", "published", 10, 8, 1, 1, 2),
    ("r1", D1, "aggregate:signups", "published", 3, 3, 0, 0, 3),
    # D2: published; a later rerun was refused and another task failed: the first stands.
    ("r2a", D2, "signups", "publishing", 6, 6, 0, 0, 4),
    ("r2a", D2, "signups", "published", 6, 6, 0, 0, 5),
    ("r2a", D2, "aggregate:signups", "published", 1, 1, 0, 0, 6),
    ("r2b", D2, "signups", "refused", 7, 5, 0, 2, 7),
    ("r2b", D2, "*", "failed", 0, 0, 0, 0, 8),
    # D3: a rerun published new counts, but its signups aggregate was refused: the answer
    # still holds the first run's signups.
    ("r3a", D3, "signups", "published", 4, 4, 0, 0, 9),
    ("r3a", D3, "aggregate:signups", "published", 2, 2, 0, 0, 10),
    ("r3b", D3, "signups", "published", 5, 3, 1, 1, 11),
    ("r3b", D3, "aggregate:signups", "refused", 2, 2, 0, 0, 12),
    # D4: killed mid-publication (no "published" yet); another aggregate is no proof.
    ("r4", D4, "signups", "publishing", 3, 3, 0, 0, 13),
    ("r4", D4, "aggregate:top_shows", "published", 9, 9, 0, 0, 14),
]


def _run_log_home(tmp_path: Path) -> tuple[Settings, Catalog]:
    """A fresh home whose ops.run_log holds RUN_LOG_ROWS."""
    settings, catalog = _fresh_home(tmp_path)
    catalog.create_namespace_if_not_exists(T.RUN_LOG.namespace)
    table = catalog.create_table(
        T.RUN_LOG.identifier,
        schema=T.RUN_LOG.schema,
        partition_spec=T.RUN_LOG.partition_spec,
        properties=T.RUN_LOG.properties,
    )
    rows: list[dict[str, object]] = [
        {"run_id": run, "logical_date": day, "feed": feed, "status": status, "lines_read": read,
         "accepted": accepted, "duplicates": duplicates, "quarantined": quarantined,
         "reconciled": True, "branch": None, "message": None, "recorded_at": _at(hour)}
        for run, day, feed, status, read, accepted, duplicates, quarantined, hour in RUN_LOG_ROWS
    ]  # fmt: skip
    table.append(_arrow(T.RUN_LOG, rows))
    return settings, catalog


def test_signups_freshness_per_arrival_date(tmp_path: Path) -> None:
    settings, _ = _run_log_home(tmp_path)
    columns = ["arrival_date", "lines_read", "accepted", "duplicates", "quarantined",
               "answer_published"]  # fmt: skip
    rows = FRESHNESS(settings, D1, D5)
    assert [list(row) for row in rows] == [columns] * 5
    assert [tuple(row.values()) for row in rows] == [
        (D1, 10, 8, 1, 1, True),
        (D2, 6, 6, 0, 0, True),
        (D3, 5, 3, 1, 1, False),
        (D4, None, None, None, None, False),
        (D5, None, None, None, None, False),
    ]


def test_signups_freshness_once_the_aggregate_catches_up(tmp_path: Path) -> None:
    settings, catalog = _run_log_home(tmp_path)
    # `viewership aggregate signups --date D3` publishes after the rerun r3b.
    late = {"run_id": "r3c", "logical_date": D3, "feed": "aggregate:signups",
            "status": "published", "lines_read": 2, "accepted": 2, "duplicates": 0,
            "quarantined": 0, "reconciled": True, "branch": None, "message": None,
            "recorded_at": _at(15)}  # fmt: skip
    catalog.load_table(T.RUN_LOG.identifier).append(_arrow(T.RUN_LOG, [late]))
    assert FRESHNESS(settings, D3, D3) == [
        {"arrival_date": D3, "lines_read": 5, "accepted": 3, "duplicates": 1, "quarantined": 1,
         "answer_published": True},
    ]  # fmt: skip


@pytest.mark.parametrize(("start", "end"), [(D0, D0), (D2, D2)])
def test_signups_freshness_keeps_to_the_period(tmp_path: Path, start: date, end: date) -> None:
    settings, _ = _run_log_home(tmp_path)
    assert [(r["arrival_date"], r["accepted"]) for r in FRESHNESS(settings, start, end)] == [
        (start, 5 if start == D0 else 6)
    ]
