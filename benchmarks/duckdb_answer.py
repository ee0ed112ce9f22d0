"""The baseline a user would otherwise pick on one machine: DuckDB reading the Iceberg data files.

``python -m benchmarks.duckdb_answer QUERY --home H --start D --end D2`` asks PyIceberg only for
the main branch's data files of the period (partition pruning, no rows read) and lets DuckDB
scan those Parquet files itself and compute the answer with the same SQL text the command line
runs (``viewership/sql``). It prints the rows as JSON, which the harness compares with the
command line's answer: a fast wrong answer would not count.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import unquote, urlparse

from pyiceberg.expressions import And, BooleanExpression, EqualTo

from viewership.catalog import load_catalog
from viewership.config import Settings, load_settings
from viewership.query import connect, packaged_sql, period_filter, seed_shows

LIMIT = 10


@dataclass(frozen=True)
class Source:
    """One table the SQL reads: its columns, and the column that holds the period's dates."""

    table: str
    columns: tuple[str, ...]
    date_column: str | None = None
    qualified_only: bool = False


@dataclass(frozen=True)
class Baseline:
    sql_file: str
    sources: dict[str, Source]
    params: dict[str, Any] = field(default_factory=dict)


FACTS = "gold.user_show_daily"
BASELINES = {
    "top-shows": Baseline(
        "top_shows.sql",
        {
            "facts": Source(FACTS, ("user_id", "show_id", "watch_seconds", "qualified"),
                            "event_date"),
            "shows": Source("silver.shows", ("show_id", "title", "snapshot_date")),
        },
        {"limit": LIMIT},
    ),
    "genres": Baseline(
        "genres_by_region.sql",
        {
            "facts": Source(FACTS, ("user_id", "show_id", "region", "watch_seconds",
                                    "qualified_in_region"), "event_date"),
            "shows": Source("silver.shows", ("show_id", "genres", "snapshot_date")),
        },
        {"region": None, "limit": LIMIT},
    ),
    "co-watch": Baseline(
        "co_watch.sql",
        {"facts": Source(FACTS, ("user_id", "show_id", "qualified"), "event_date", True)},
        {"limit": LIMIT, "seed": seed_shows(LIMIT)},
    ),
    "signups": Baseline(
        "signups.sql",
        {"signups": Source("gold.signups_daily", ("signup_date", "region", "plan", "new_users"),
                           "signup_date")},
        {"by": "day"},
    ),
}  # fmt: skip


def data_files(settings: Settings, source: Source, start: date, end: date) -> list[str]:
    """The local paths of the data files PyIceberg plans for the period (pruned, unread)."""
    table = load_catalog(settings).load_table(source.table)
    row_filter: BooleanExpression | None = None
    if source.date_column is not None:
        row_filter = period_filter(source.date_column, start, end)
        if source.qualified_only:
            row_filter = And(row_filter, EqualTo("qualified", True))
    scan = table.scan(row_filter=row_filter) if row_filter is not None else table.scan()
    paths = []
    for task in scan.plan_files():
        if task.delete_files:  # the pipeline writes copy-on-write: none are expected
            raise SystemExit(f"{source.table} has delete files: DuckDB alone would misread it")
        paths.append(unquote(urlparse(task.file.file_path).path))
    return paths


def answer(settings: Settings, name: str, start: date, end: date) -> list[dict[str, Any]]:
    """The query's rows, computed by DuckDB from the Parquet files."""
    baseline = BASELINES[name]
    con = connect()
    try:
        for view, source in baseline.sources.items():
            paths = data_files(settings, source, start, end)
            columns = ", ".join(source.columns)
            where = []
            if source.date_column is not None:
                where.append(f"{source.date_column} BETWEEN DATE '{start}' AND DATE '{end}'")
            if source.qualified_only:
                where.append("qualified")
            if not paths:
                raise SystemExit(f"{source.table} has no data files for {start}..{end}")
            body = f"SELECT {columns} FROM read_parquet({paths!r})"
            if where:
                body += " WHERE " + " AND ".join(where)
            con.execute(f"CREATE VIEW {view} AS {body}")
        sql = packaged_sql(baseline.sql_file)
        used = {k: v for k, v in baseline.params.items() if f"${k}" in sql}
        result = con.execute(sql, used)
        names = [d[0] for d in result.description or []]
        return [dict(zip(names, values, strict=True)) for values in result.fetchall()]
    finally:
        con.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.duckdb_answer")
    parser.add_argument("query", choices=sorted(BASELINES))
    parser.add_argument("--home", required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True)
    parser.add_argument("--end", type=date.fromisoformat, required=True)
    args = parser.parse_args(argv)
    rows = answer(load_settings(args.home), args.query, args.start, args.end)
    print(json.dumps(rows, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
