"""What an aggregate declares to be asked over a period: ``viewership query NAME``.

An aggregate's ``query`` names the answer on the command line, the function that computes it
from the published tables, the columns it prints (in order) and any options beyond the ones
every query takes (``--start``, ``--end``, ``--format``). The command line builds its
``query`` subcommands from these declarations, so a new aggregate's question needs no edit
of ``viewership/cli.py``. :func:`sql_answer` turns a SQL file into such a function.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from schemas.tables import TableDef
from viewership.config import Settings
from viewership.errors import UsageError

Row = dict[str, object]
Answer = Callable[..., list[Row]]


def whole(minimum: int) -> Callable[[str], int]:
    """An argument type for whole numbers of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    return parse


@dataclass(frozen=True)
class Option:
    """One extra command-line option of a query, as ``argparse.add_argument`` takes it."""

    flag: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


LIMIT = Option("--limit", {"type": whole(1), "default": 10, "help": "rows to show (default 10)"})


@dataclass(frozen=True)
class Query:
    """A period question: ``answer(settings, start, end, **options)`` returns rows whose keys
    are ``columns`` (or ``columns(options)`` when an option changes the shape)."""

    name: str
    answer: Answer
    columns: Sequence[str] | Callable[[Mapping[str, object]], Sequence[str]]
    options: tuple[Option, ...] = ()
    help: str = ""

    def columns_for(self, options: Mapping[str, object]) -> list[str]:
        columns = self.columns(options) if callable(self.columns) else self.columns
        return list(columns)


def sql_answer(sql_file: Path, reads: Mapping[str, TableDef]) -> Answer:
    """An answer that runs ``sql_file`` in DuckDB over published tables of the period.

    ``reads`` maps the SQL's table names to tables (an aggregate's own ``TABLE``,
    ``schemas.tables.USER_SHOW_DAILY``...); each is scanned for the rows whose first column,
    if it is a date, lies in the period (else whole). The SQL may use ``$start``, ``$end``
    and ``$limit``.
    """

    def answer(settings: Settings, start: date, end: date, limit: int = 10) -> list[Row]:
        from viewership.query import is_empty, period_tables, run_sql

        if end < start:
            raise UsageError(f"end {end} is before start {start}")
        tables = period_tables(settings, reads, start, end)
        if all(is_empty(t) for t in tables.values()):
            return []
        params = {"start": start, "end": end, "limit": limit}
        return run_sql(sql_file.read_text(encoding="utf-8"), tables, params)

    return answer
