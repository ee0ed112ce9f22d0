"""The four period answers of contract section 2, read from the published tables without a JVM.

PyIceberg plans the scan (partition pruning by event or signup date, file statistics) and an
in-memory DuckDB reads the planned Parquet files itself, then joins, aggregates and ranks with
the SQL in ``viewership/sql``. Where DuckDB alone could misread a table (delete files, a column
whose name or type changed, files off the local disk) PyIceberg reads it and hands DuckDB Arrow.
Every function returns rows as dicts whose keys are exactly the contract's JSON keys, in its
order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources
from typing import Any, TypeAlias
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
)
from pyiceberg.table import Table
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
    facts = reader.relation(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "watch_seconds", "qualified"),
        period_filter("event_date", start, end),
    )
    if is_empty(facts):
        return []
    shows = reader.relation(SHOWS, ("show_id", "title", "snapshot_date"))
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
    facts = reader.relation(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "region", "watch_seconds", "qualified_in_region"),
        row_filter,
    )
    if is_empty(facts):
        return []
    shows = reader.relation(SHOWS, ("show_id", "genres", "snapshot_date"))
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
    facts = reader.relation(
        USER_SHOW_DAILY,
        ("user_id", "show_id", "qualified"),
        And(period_filter("event_date", start, end), EqualTo("qualified", True)),
    )
    if is_empty(facts):
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
    table = reader.relation(
        SIGNUPS_DAILY,
        ("signup_date", "region", "plan", "new_users"),
        period_filter("signup_date", start, end),
    )
    rows = [] if is_empty(table) else _run("signups.sql", {"signups": table}, {"by": by})
    if by == "total":
        return [{"new_users": int(rows[0]["new_users"]) if rows else 0}]
    (key,) = SIGNUP_KEYS[by]
    return [{key: r["key"], "new_users": r["new_users"]} for r in rows]


@dataclass(frozen=True)
class ParquetFiles:
    """A scan that DuckDB reads itself: the planned data files, the columns and the filter.

    PyIceberg has already pruned the files by partition and statistics; the filter, the same
    one in SQL, drops the rows of a kept file that fall outside it.
    """

    paths: tuple[str, ...]
    columns: tuple[str, ...]
    where: str

    def select_sql(self) -> str:
        """The rows as one DuckDB ``SELECT`` over the files."""
        files = ", ".join(_sql_string(path) for path in self.paths)
        columns = ", ".join(_sql_name(column) for column in self.columns)
        return (
            f"SELECT {columns} FROM read_parquet([{files}], hive_partitioning = false, "
            f"union_by_name = true) WHERE {self.where}"
        )


# What a query reads: Parquet files for DuckDB, or Arrow that PyIceberg read.
Relation: TypeAlias = ParquetFiles | pa.Table


def is_empty(relation: Relation) -> bool:
    """Whether a scan found nothing at all (planned files may still hold no matching row)."""
    return isinstance(relation, pa.Table) and relation.num_rows == 0


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
        iceberg = self._load(table)
        if iceberg is None:
            return _empty(table, columns)
        scan = iceberg.scan(selected_fields=columns, row_filter=row_filter or AlwaysTrue())
        return scan.to_arrow()

    def relation(
        self,
        table: TableDef,
        columns: tuple[str, ...],
        row_filter: BooleanExpression | None = None,
    ) -> Relation:
        """The rows :meth:`scan` returns, as files DuckDB reads itself wherever that is exact.

        DuckDB scans Parquet on every core without first copying it into Arrow, which is most
        of a query's time once a period holds millions of rows. It reads columns by name and
        knows nothing of Iceberg's delete files, so PyIceberg reads the table instead when one
        is planned, when a selected column was ever renamed or retyped, or when a file is not
        on the local disk (the cluster profile's object store).
        """
        iceberg = self._load(table)
        if iceberg is None:
            return _empty(table, columns)
        scan = iceberg.scan(selected_fields=columns, row_filter=row_filter or AlwaysTrue())
        where = "true" if row_filter is None else _sql_filter(row_filter)
        tasks = list(scan.plan_files())
        if not tasks:
            return _empty(table, columns)
        paths = [_local_path(task.file.file_path) for task in tasks]
        local = tuple(path for path in paths if path is not None)
        if (
            where is None
            or len(local) < len(paths)
            or any(task.delete_files for task in tasks)
            or not _stable_columns(iceberg, columns)
        ):
            return scan.to_arrow()
        return ParquetFiles(local, columns, where)

    def _load(self, table: TableDef) -> Table | None:
        """The table's current state, or None when the catalog does not hold it yet."""
        if self._catalog is None:
            return None
        try:
            return self._catalog.load_table(table.identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def tables_with_branch(self, tables: tuple[TableDef, ...], branch: str) -> list[str]:
        """The tables on which a branch still exists (an audit branch not published or dropped)."""
        found: list[str] = []
        for table in tables:
            iceberg = self._load(table)
            if iceberg is not None and branch in iceberg.metadata.refs:
                found.append(table.identifier)
        return found


def _empty(table: TableDef, columns: tuple[str, ...]) -> pa.Table:
    """No rows, typed as the table's columns (PyIceberg's Arrow layer loads only when needed)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(table.schema.select(*columns)).empty_table()


def _stable_columns(table: Table, columns: tuple[str, ...]) -> bool:
    """Whether every selected column had its name and type in every schema the table ever had,
    so that each data file holds it as it is now (a file predating an added column does not)."""
    current = table.schema()
    for name in columns:
        field = current.find_field(name)
        for schema in table.schemas().values():
            try:
                old = schema.find_field(field.field_id)
            except ValueError:
                return False
            if old.name != field.name or old.field_type != field.field_type:
                return False
    return True


def _local_path(location: str) -> str | None:
    """A data file's path on this machine, or None for one in an object store."""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return None
    return unquote(parsed.path)


_SQL_COMPARISONS: dict[type, str] = {
    EqualTo: "=",
    GreaterThanOrEqual: ">=",
    LessThanOrEqual: "<=",
}


def _sql_filter(expression: BooleanExpression) -> str | None:
    """A scan filter as DuckDB SQL, or None when it holds a predicate not translated here (the
    scan is then read through PyIceberg, which evaluates any filter)."""
    if isinstance(expression, AlwaysTrue):
        return "true"
    if isinstance(expression, And):
        left, right = _sql_filter(expression.left), _sql_filter(expression.right)
        return None if left is None or right is None else f"({left} AND {right})"
    operator = _SQL_COMPARISONS.get(type(expression))
    if operator is None:
        return None
    value = expression.literal.value  # type: ignore[attr-defined]
    if isinstance(value, bool):
        literal = "true" if value else "false"
    elif isinstance(value, str):  # dates are compared as ISO text, which DuckDB casts
        literal = _sql_string(value)
    elif isinstance(value, int | float):
        literal = repr(value)
    else:
        return None
    return f"{_sql_name(expression.term.name)} {operator} {literal}"  # type: ignore[attr-defined]


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _run(
    sql_file: str, tables: Mapping[str, Relation], params: dict[str, object]
) -> list[dict[str, Any]]:
    """Run one packaged SQL file over the scanned tables."""
    return run_sql(packaged_sql(sql_file), tables, params)


def run_sql(
    sql: str, tables: Mapping[str, Relation], params: Mapping[str, object]
) -> list[dict[str, Any]]:
    """Run SQL over the scanned tables on a fresh in-memory DuckDB, each under its name; only
    the ``$parameters`` the text uses are bound (DuckDB refuses unused ones)."""
    used = set(_PARAMETER.findall(sql))
    con = connect()
    try:
        for name, table in tables.items():
            if isinstance(table, ParquetFiles):
                con.execute(f"CREATE VIEW {_sql_name(name)} AS {table.select_sql()}")
            else:
                con.register(name, table)
        result = con.execute(sql, {k: v for k, v in params.items() if k in used})
        names = [d[0] for d in result.description or []]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    finally:
        con.close()


def period_tables(
    settings: Settings, reads: Mapping[str, TableDef], start: date, end: date
) -> dict[str, Relation]:
    """Each table's rows of the period by its first column when that is a date, else whole."""
    reader = Reader.open(settings)
    scanned = {}
    for name, table in reads.items():
        first = table.schema.fields[0]
        columns = tuple(f.name for f in table.schema.fields)
        if isinstance(first.field_type, DateType):
            scanned[name] = reader.relation(table, columns, period_filter(first.name, start, end))
        else:
            scanned[name] = reader.relation(table, columns)
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
