"""The four period answers of contract section 2, read from the published tables without a JVM.

PyIceberg prunes partitions (event/signup date) and columns and hands Arrow to an in-memory
DuckDB, which joins, aggregates and ranks with the SQL in ``viewership/sql``. Every function
returns rows as dicts whose keys are exactly the contract's JSON keys, in its order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
)
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.types import DateType

from schemas.regions import regions
from schemas.tables import SHOWS, USER_SHOW_DAILY, TableDef
from viewership.catalog import Tables, open_tables
from viewership.config import Settings
from viewership.errors import UsageError

Row = dict[str, object]

SIGNUPS_BY = ("total", "day", "region", "plan")
# The keys each ``signups --by`` grouping is reported under (``total`` has none).
SIGNUP_KEYS: dict[str, tuple[str, ...]] = {
    "total": (),
    "day": ("date",),
    "region": ("region",),
    "plan": ("plan",),
}
_MAX_SEED_SHOWS = 64
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def top_shows(settings: Settings, start: date, end: date, limit: int = 10) -> list[Row]:
    """Shows by viewers, hours, show_id: ``rank, show_id, title, viewers, hours_viewed``."""
    _check_period(start, end)
    _check_limit(limit)
    reader = Reader.open(settings)
    facts = reader.scan(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "watch_seconds", "qualified"),
        period_filter("event_date", start, end),
    )
    if facts.num_rows == 0:
        return []
    shows = reader.scan(SHOWS, ("show_id", "title", "snapshot_date"))
    rows = _run("top_shows.sql", {"facts": facts, "shows": shows}, {"limit": limit})
    return [
        {
            "rank": r["rank"],
            "show_id": r["show_id"],
            "title": r["title"],
            "viewers": r["viewers"],
            "hours_viewed": _hours(r["watch_seconds"]),
        }
        for r in rows
    ]


def genres(
    settings: Settings, start: date, end: date, region: str | None = None, limit: int = 10
) -> list[Row]:
    """Genres ranked within each region: ``region, genre, rank, viewers, hours_viewed``."""
    _check_period(start, end)
    _check_limit(limit)
    region = None if region is None else _known_region(region)
    reader = Reader.open(settings)
    row_filter = period_filter("event_date", start, end)
    if region is not None:
        row_filter = And(row_filter, EqualTo("region", region))
    facts = reader.scan(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "region", "watch_seconds", "qualified_in_region"),
        row_filter,
    )
    if facts.num_rows == 0:
        return []
    shows = reader.scan(SHOWS, ("show_id", "genres", "snapshot_date"))
    rows = _run(
        "genres_by_region.sql",
        {"facts": facts, "shows": shows},
        {"region": region, "limit": limit},
    )
    return [
        {
            "region": r["region"],
            "genre": r["genre"],
            "rank": r["rank"],
            "viewers": r["viewers"],
            "hours_viewed": _hours(r["watch_seconds"]),
        }
        for r in rows
    ]


def co_watch(settings: Settings, start: date, end: date, limit: int = 10) -> list[Row]:
    """Show pairs by users who qualified on both: ``rank, show_a, show_b, co_viewers``."""
    _check_period(start, end)
    _check_limit(limit)
    reader = Reader.open(settings)
    facts = reader.scan(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "qualified"),
        And(period_filter("event_date", start, end), EqualTo("qualified", True)),
    )
    if facts.num_rows == 0:
        return []
    rows = _run("co_watch.sql", {"facts": facts}, {"limit": limit, "seed": seed_shows(limit)})
    return [
        {
            "rank": r["rank"],
            "show_a": r["show_a"],
            "show_b": r["show_b"],
            "co_viewers": r["co_viewers"],
        }
        for r in rows
    ]


def signups(settings: Settings, start: date, end: date, by: str = "total") -> list[Row]:
    """New users in total or by day, region or plan; ``[{"new_users": 0}]`` when none."""
    _check_period(start, end)
    if by not in SIGNUPS_BY:
        raise UsageError(f"unknown --by {by!r}; choose one of {', '.join(SIGNUPS_BY)}")
    from aggregates.signups import TABLE as SIGNUPS_DAILY  # it declares this answer

    reader = Reader.open(settings)
    table = reader.scan(
        SIGNUPS_DAILY,
        ("signup_date", "region", "plan", "new_users"),
        period_filter("signup_date", start, end),
    )
    rows = _run("signups.sql", {"signups": table}, {"by": by}) if table.num_rows else []
    if by == "total":
        return [{"new_users": int(rows[0]["new_users"]) if rows else 0}]
    (key,) = SIGNUP_KEYS[by]
    return [{key: r["key"], "new_users": r["new_users"]} for r in rows]


class Reader:
    """Published tables through PyIceberg; a table not created yet reads as empty."""

    def __init__(self, catalog: Tables | None) -> None:
        self._catalog = catalog

    @classmethod
    def open(cls, settings: Settings) -> Reader:
        """Open the catalog, without creating anything in a home that has no catalog yet."""
        if not settings.home.is_dir():
            raise UsageError(f"home folder {settings.home} does not exist")
        return cls(open_tables(settings))

    def scan(
        self,
        table: TableDef,
        columns: tuple[str, ...],
        row_filter: BooleanExpression | None = None,
    ) -> pa.Table:
        """The main branch's rows matching the filter, only the named columns."""
        if self._catalog is not None:
            try:
                iceberg = self._catalog.load_table(table.identifier)
            except (NoSuchTableError, NoSuchNamespaceError):
                pass
            else:
                scan = iceberg.scan(selected_fields=columns)
                if row_filter is not None:
                    scan = scan.filter(row_filter)
                return scan.to_arrow()
        return schema_to_pyarrow(table.schema.select(*columns)).empty_table()

    def tables_with_branch(self, tables: tuple[TableDef, ...], branch: str) -> list[str]:
        """The tables on which a branch still exists (an audit branch not published or dropped)."""
        found: list[str] = []
        if self._catalog is None:
            return found
        for table in tables:
            try:
                refs = self._catalog.load_table(table.identifier).metadata.refs
            except (NoSuchTableError, NoSuchNamespaceError):
                continue
            if branch in refs:
                found.append(table.identifier)
        return found


def _run(
    sql_file: str, tables: dict[str, pa.Table], params: dict[str, object]
) -> list[dict[str, Any]]:
    """Run one packaged SQL file over the Arrow tables."""
    return run_sql(packaged_sql(sql_file), tables, params)


def run_sql(
    sql: str, tables: Mapping[str, pa.Table], params: Mapping[str, object]
) -> list[dict[str, Any]]:
    """Run SQL over the Arrow tables on a fresh in-memory DuckDB; only the ``$parameters`` the
    text uses are bound (DuckDB refuses unused ones)."""
    used = set(_PARAMETER.findall(sql))
    con = connect()
    try:
        for name, table in tables.items():
            con.register(name, table)
        result = con.execute(sql, {k: v for k, v in params.items() if k in used})
        names = [d[0] for d in result.description or []]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    finally:
        con.close()


def period_tables(
    settings: Settings, reads: Mapping[str, TableDef], start: date, end: date
) -> dict[str, pa.Table]:
    """Each table's rows of the period by its first column when that is a date, else whole."""
    reader = Reader.open(settings)
    scanned = {}
    for name, table in reads.items():
        first = table.schema.fields[0]
        columns = tuple(f.name for f in table.schema.fields)
        if isinstance(first.field_type, DateType):
            scanned[name] = reader.scan(table, columns, period_filter(first.name, start, end))
        else:
            scanned[name] = reader.scan(table, columns)
    return scanned


def connect() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB on every core, silent: its progress bar goes to standard output."""
    # A query slower than 2 s would otherwise draw a bar on stdout and break --format json.
    con = duckdb.connect(":memory:", config={"threads": _cores()})
    con.execute("SET enable_progress_bar = false")  # a session option, not a config one
    return con


def _cores() -> int:
    """Cores this process may run on (affinity-aware where the platform tells)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


@cache
def packaged_sql(name: str) -> str:
    """The text of one packaged SQL file (package data, so it ships with the wheel)."""
    return resources.files("viewership").joinpath("sql", name).read_text(encoding="utf-8")


def seed_shows(limit: int) -> int:
    """Fewest most-viewed shows whose pairs can bound the ``limit``-th pair (co_watch.sql).

    Past 64 shows the seed join would cost about as much as the full one: co_watch.sql then
    finds fewer than ``limit`` seed pairs and prunes nothing, which is still exact.
    """
    shows = 2
    while shows * (shows - 1) // 2 < limit and shows < _MAX_SEED_SHOWS:
        shows += 1
    return shows


def period_filter(column: str, start: date, end: date) -> BooleanExpression:
    """The inclusive period as a partition-pruning scan filter."""
    return And(
        GreaterThanOrEqual(column, start.isoformat()),
        LessThanOrEqual(column, end.isoformat()),
    )


def _hours(seconds: int) -> float:
    """Seconds as hours rounded to 2 decimals, the contract's output precision."""
    return round(seconds / 3600, 2)


def _check_period(start: date, end: date) -> None:
    """Reject an inverted period: a one-line usage error, not an empty answer."""
    if end < start:
        raise UsageError(f"end {end} is before start {start}")


def _check_limit(limit: int) -> None:
    """A limit below 1 would silently hide every row."""
    if limit < 1:
        raise UsageError(f"--limit must be at least 1, not {limit}")


def _known_region(region: str) -> str:
    """The reference's spelling of a region named in any case, or a usage error listing them."""
    known = regions()
    for name in known:
        if name.casefold() == region.casefold():
            return name
    raise UsageError(f"unknown region {region!r}; known regions: {', '.join(known)}")
