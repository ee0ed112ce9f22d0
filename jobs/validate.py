"""Line-level validation of landing records against the contract (section 1, "Bad records").

``check_line`` is plain Python, so every rule is unit-testable without Spark; ``validated``
runs it inside Spark through ``mapInArrow`` so lines never pass through the driver.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from schemas import contract

UTF8_BOM = b"\xef\xbb\xbf"


class Reason(StrEnum):
    """Machine-readable quarantine reasons; ``field`` names the offending field where one."""

    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    DUPLICATE_KEY = "duplicate_key"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    UNKNOWN_COUNTRY = "unknown_country"
    UNKNOWN_SHOW = "unknown_show"
    TOO_LATE = "too_late"
    FUTURE = "future"
    DUPLICATE_SHOW = "duplicate_show"
    UNREADABLE_FILE = "unreadable_file"


@dataclass(frozen=True)
class Problem(Exception):
    """Why a line was quarantined."""

    reason: Reason
    field: str | None
    detail: str


@dataclass(frozen=True)
class Context:
    """What a check needs besides the line: the run's date and the references in effect."""

    arrival_date: date
    regions: dict[str, str]
    show_ids: frozenset[str] = frozenset()

    @property
    def earliest(self) -> datetime:
        """Oldest accepted instant: the start of the day LATE_DAYS before the arrival date."""
        day = self.arrival_date - timedelta(days=contract.LATE_DAYS)
        return datetime.combine(day, time(0), UTC)

    @property
    def latest(self) -> datetime:
        """Newest accepted instant: the end of the arrival day plus the clock-skew tolerance."""
        end_of_day = datetime.combine(self.arrival_date + timedelta(days=1), time(0), UTC)
        return end_of_day + timedelta(seconds=contract.FUTURE_TOLERANCE_SECONDS)


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise Problem(Reason.DUPLICATE_KEY, dup if _utf8_ok(dup) else None, "a key appears twice")
    return dict(pairs)


def _utf8_ok(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from \ud800-style escapes
        return False
    return True


def parse_object(raw: bytes) -> dict[str, Any]:
    """Decode one line into a JSON object, or raise the Problem that quarantines it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Problem(Reason.INVALID_UTF8, None, f"not UTF-8 at byte {exc.start}") from None
    text = text.removeprefix("\ufeff")  # RFC 8259 lets a parser ignore a byte-order mark
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except Problem:
        raise
    except (ValueError, RecursionError) as exc:
        raise Problem(Reason.INVALID_JSON, None, f"not JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise Problem(Reason.NOT_AN_OBJECT, None, f"a JSON {type(value).__name__}, not an object")
    return value


def _require(obj: dict[str, Any], name: str, kind: type, kind_name: str) -> Any:
    if name not in obj:
        raise Problem(Reason.MISSING_FIELD, name, f"{name} is required")
    value = obj[name]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        shown = "null" if value is None else type(value).__name__
        raise Problem(Reason.WRONG_TYPE, name, f"{name} must be a JSON {kind_name}, not {shown}")
    if isinstance(value, str) and not _utf8_ok(value):
        raise Problem(Reason.INVALID_VALUE, name, f"{name} holds an unpaired surrogate")
    return value


def _string(obj: dict[str, Any], name: str) -> str:
    value: str = _require(obj, name, str, "string")
    return value


def _identifier(obj: dict[str, Any], name: str) -> str:
    value = _string(obj, name)
    if not 1 <= len(value) <= contract.ID_MAX_CHARS:
        raise Problem(
            Reason.INVALID_VALUE, name, f"{name} must be 1-{contract.ID_MAX_CHARS} characters"
        )
    return value


def _integer(obj: dict[str, Any], name: str) -> int:
    value: int = _require(obj, name, int, "integer")
    return value


def _one_of(obj: dict[str, Any], name: str, allowed: frozenset[str], fold: bool = True) -> str:
    value = _string(obj, name)
    folded = value.lower() if fold else value
    if folded not in allowed:
        raise Problem(Reason.INVALID_VALUE, name, f"{name} must be one of {sorted(allowed)}")
    return folded


def _country(obj: dict[str, Any], ctx: Context) -> tuple[str, str]:
    code = _string(obj, "country").upper()
    region = ctx.regions.get(code)
    if region is None:
        raise Problem(Reason.UNKNOWN_COUNTRY, "country", "not a country the region reference maps")
    return code, region


def parse_timestamp(value: str) -> datetime:
    """Parse RFC 3339 (``Z`` or an offset) to an aware UTC datetime; raise ValueError if not."""
    match = _RFC3339.fullmatch(value)
    if not match:
        raise ValueError("not RFC 3339 with Z or an offset")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    tz = UTC
    if offset not in ("Z", "z"):
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("offset out of range")
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        local = datetime(year, month, day, hour, minute, second, micros, tzinfo=tz)
    except ValueError as exc:  # 2026-02-30, 25:00, leap seconds
        raise ValueError(f"not a valid date and time ({exc})") from None
    return local.astimezone(UTC)


def _instant(obj: dict[str, Any], name: str, ctx: Context) -> datetime:
    value = _string(obj, name)
    try:
        instant = parse_timestamp(value)
    except ValueError as exc:
        raise Problem(Reason.INVALID_VALUE, name, f"{name}: {exc}") from None
    if instant < ctx.earliest:
        raise Problem(
            Reason.TOO_LATE, name, f"{name} is more than {contract.LATE_DAYS} days before arrival"
        )
    if instant > ctx.latest:
        raise Problem(Reason.FUTURE, name, f"{name} is more than 1 hour after the arrival day")
    return instant


def check_viewing_event(obj: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Validate and normalise one viewing event (contract: Viewing events)."""
    event_id = _identifier(obj, "event_id")
    user_id = _identifier(obj, "user_id")
    show_id = _identifier(obj, "show_id")
    event_ts = _instant(obj, "event_ts", ctx)
    seconds = _integer(obj, "watch_seconds")
    if not 0 <= seconds <= contract.WATCH_SECONDS_MAX:
        raise Problem(
            Reason.INVALID_VALUE, "watch_seconds", f"must be 0..{contract.WATCH_SECONDS_MAX}"
        )
    device = _one_of(obj, "device", contract.DEVICES)
    country, region = _country(obj, ctx)
    if show_id not in ctx.show_ids:
        raise Problem(Reason.UNKNOWN_SHOW, "show_id", "not in the catalog in effect")
    return {
        "event_id": event_id,
        "user_id": user_id,
        "show_id": show_id,
        "event_ts": event_ts,
        "watch_seconds": seconds,
        "device": device,
        "country": country,
        "region": region,
    }


def check_signup(obj: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Validate and normalise one signup (contract: Signups)."""
    user_id = _identifier(obj, "user_id")
    signup_ts = _instant(obj, "signup_ts", ctx)
    country, region = _country(obj, ctx)
    plan = _one_of(obj, "plan", contract.PLANS)
    return {
        "user_id": user_id,
        "signup_ts": signup_ts,
        "country": country,
        "region": region,
        "plan": plan,
    }


def check_show(obj: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Validate one catalog entry (contract: Catalog snapshot); uniqueness is checked per set."""
    show_id = _identifier(obj, "show_id")
    title = _string(obj, "title")
    genres = _require(obj, "genres", list, "array")
    if not genres:
        raise Problem(Reason.INVALID_VALUE, "genres", "genres must list at least one genre")
    for genre in genres:
        if not isinstance(genre, str) or not _utf8_ok(genre):
            raise Problem(Reason.WRONG_TYPE, "genres", "genres must be an array of strings")
        if not genre:
            raise Problem(Reason.INVALID_VALUE, "genres", "a genre must not be empty")
    show_type = _one_of(obj, "type", contract.SHOW_TYPES, fold=False)
    release_year = _integer(obj, "release_year")
    if not -(2**63) <= release_year < 2**63:
        raise Problem(Reason.INVALID_VALUE, "release_year", "release_year is out of range")
    return {
        "show_id": show_id,
        "title": title,
        "genres": list(dict.fromkeys(genres)),
        "type": show_type,
        "release_year": release_year,
    }


CHECKS: dict[str, Callable[[dict[str, Any], Context], dict[str, Any]]] = {
    "viewing_events": check_viewing_event,
    "signups": check_signup,
    "catalog": check_show,
}

_TS = pa.timestamp("us", tz="UTC")
FIELDS: dict[str, pa.Schema] = {
    "viewing_events": pa.schema(
        [
            ("event_id", pa.string()),
            ("user_id", pa.string()),
            ("show_id", pa.string()),
            ("event_ts", _TS),
            ("watch_seconds", pa.int32()),
            ("device", pa.string()),
            ("country", pa.string()),
            ("region", pa.string()),
        ]
    ),
    "signups": pa.schema(
        [
            ("user_id", pa.string()),
            ("signup_ts", _TS),
            ("country", pa.string()),
            ("region", pa.string()),
            ("plan", pa.string()),
        ]
    ),
    "catalog": pa.schema(
        [
            ("show_id", pa.string()),
            ("title", pa.string()),
            ("genres", pa.list_(pa.string())),
            ("type", pa.string()),
            ("release_year", pa.int64()),
        ]
    ),
}

# Every validated row carries its origin and verdict beside the feed's own fields.
ENVELOPE = pa.schema(
    [
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("raw_line", pa.binary()),
        ("reason", pa.string()),
        ("field", pa.string()),
        ("detail", pa.string()),
    ]
)


def check_line(feed: str, raw: bytes, ctx: Context) -> tuple[Problem | None, dict[str, Any]]:
    """Return (None, normalised fields) for a good line, or (the Problem, {}) for a bad one."""
    try:
        return None, CHECKS[feed](parse_object(raw), ctx)
    except Problem as problem:
        return problem, {}


def output_schema(feed: str) -> pa.Schema:
    """Arrow schema of ``validated``'s output for a feed."""
    return pa.schema(list(ENVELOPE) + list(FIELDS[feed]))


def _validate_batches(
    feed: str, ctx: Context, bom_files: frozenset[str]
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    schema = output_schema(feed)
    names = FIELDS[feed].names

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        # The lines of one split of a file arrive together and in order; each row names the
        # number of its split's first line in the file.
        current_split, line_number = None, 0
        for batch in batches:
            columns: dict[str, list[Any]] = {name: [] for name in schema.names}
            raws = batch.column("raw_line").to_pylist()
            files = batch.column("source_file").to_pylist()
            firsts = batch.column("first_line").to_pylist()
            for raw, source_file, first in zip(raws, files, firsts, strict=True):
                if (source_file, first) != current_split:
                    current_split, line_number = (source_file, first), first - 1
                line_number += 1
                if line_number == 1 and source_file in bom_files:
                    raw = UTF8_BOM + raw  # the text reader skips a file's leading BOM
                problem, values = check_line(feed, raw, ctx)
                columns["source_file"].append(source_file)
                columns["line_number"].append(line_number)
                columns["raw_line"].append(raw)
                columns["reason"].append(problem.reason.value if problem else None)
                columns["field"].append(problem.field if problem else None)
                columns["detail"].append(problem.detail if problem else None)
                for name in names:
                    columns[name].append(values.get(name))
            yield pa.RecordBatch.from_pydict(columns, schema=schema)

    return run


def validated(
    lines: DataFrame, feed: str, ctx: Context, bom_files: frozenset[str] = frozenset()
) -> DataFrame:
    """Check every line of (source_file, raw_line[, first_line]) and return envelope + typed
    feed fields, each line numbered within its file.

    ``first_line`` is the number of the first line of the split a row was read from
    (``jobs.ingest.read_lines``); without it, each file is taken as read whole, from line 1.
    ``bom_files`` names the files that start with a UTF-8 byte-order mark: Spark's text reader
    drops it from their first line, and it is put back so the line is kept byte for byte.
    """
    from pyspark.sql.pandas.types import from_arrow_schema

    spark_schema = from_arrow_schema(output_schema(feed))
    first_line = F.col("first_line") if "first_line" in lines.columns else F.lit(1)
    return lines.select(
        "source_file", "raw_line", first_line.cast("long").alias("first_line")
    ).mapInArrow(_validate_batches(feed, ctx, bom_files), spark_schema)
