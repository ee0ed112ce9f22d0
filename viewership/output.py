"""How query answers are printed: an aligned table for people, JSON or CSV for programs.

``columns`` fixes the keys and their order, so even an empty answer has a known shape.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Sequence
from typing import Any

from viewership.errors import UsageError

FORMATS = ("table", "json", "csv")
NO_ROWS = "(no rows)"


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> str:
    """The rows in one format, without a trailing newline (the caller prints it)."""
    if fmt == "json":
        return _json(rows, columns)
    if fmt == "csv":
        return _csv(rows, columns)
    if fmt == "table":
        return _table(rows, columns)
    raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _json(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """One JSON array of objects; ASCII escapes keep it intact on any terminal encoding."""
    return json.dumps([{c: row.get(c) for c in columns} for row in rows], allow_nan=False)


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A header line, then one line per row; a missing value is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return buffer.getvalue().rstrip("\n")


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Columns padded to their widest cell; numbers right-aligned so digits line up."""
    if not rows:
        return NO_ROWS
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    numeric = [all(_is_number(row.get(c)) or row.get(c) is None for row in rows) for c in columns]
    widths = [
        max(_width(text) for text in [column, *(line[i] for line in cells)])
        for i, column in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            _pad(text, width, right=right)
            for text, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    header = line(list(columns))
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([header, rule, *(line(values) for values in cells)])


def _cell(value: Any) -> str:
    """A value as people read it: hours with two decimals, nothing for a missing value."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _is_number(value: Any) -> bool:
    """Ints and floats align right; bools are not numbers here."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _width(text: str) -> int:
    """Terminal columns of a string: wide East Asian characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    """Pad to a terminal width (str.ljust counts characters, not columns)."""
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill
