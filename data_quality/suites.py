"""The expectation suites of the quality gate: one per audited table, declared as code.

Each expectation carries a stable check name (``meta["check"]``) and a severity. ``error``
(GX's ``critical``) blocks publication; ``warn`` (GX's ``warning``) is recorded and shown but
lets the run publish. Values that change per run (the arrival date, the bad-record threshold,
the volume band) are GX expectation parameters, so the suites themselves never change.

Every suite validates a batch built by ``data_quality.batches`` from what the run staged on its
audit branch; the derived columns those batches add (``arrival_lag_days``, ``show_in_catalog``,
``silver_seconds``...) are what lets GX judge rules that span tables. The public builders here
(``key_unique``, ``rows_where``...) are also how each aggregate declares its own suite.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobs.validate import Reason
from schemas import tables as T
from schemas.contract import (
    DEVICES,
    FEEDS,
    ID_MAX_CHARS,
    LATE_DAYS,
    PLANS,
    SHOW_TYPES,
    WATCH_SECONDS_MAX,
)
from schemas.regions import regions

if TYPE_CHECKING:
    import great_expectations.expectations as gxe
    from great_expectations.expectations import Expectation


class _Expectations:
    """``great_expectations.expectations``, imported when a suite is first built.

    GX takes seconds to import; declaring suites (every aggregate module does) must not, so the
    query command, which never validates, stays fast.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("great_expectations.expectations"), name)


if not TYPE_CHECKING:
    gxe = _Expectations()

ERROR = "error"
WARN = "warn"

# Checks that are warn-level unless configured otherwise: volume and freshness depend on the
# business's rhythm (a holiday, a backfill after an outage) and a person should judge them.
DEFAULT_WARN = frozenset({"volume", "freshness"})

# The newest accepted event may be stamped up to 1 hour after the end of its arrival day.
_EARLIEST_EVENT_LAG = -1


def _param(name: str) -> dict[str, str]:
    """A GX expectation parameter, filled in per run by ``Parameters.as_gx``."""
    return {"$PARAMETER": name}


@dataclass(frozen=True)
class Parameters:
    """The values a run fills into its suites."""

    arrival_date: str
    max_bad_ratio: float
    volume_low: float
    volume_high: float
    freshness_hours: float

    def as_gx(self) -> dict[str, Any]:
        return {
            "arrival_dates": [self.arrival_date],
            "max_bad_ratio": self.max_bad_ratio,
            "volume_low": self.volume_low,
            "volume_high": self.volume_high,
            "freshness_hours": self.freshness_hours,
        }


Check = tuple[str, "Expectation"]


def not_null(*columns: str) -> list[Check]:
    return [(f"{c}_not_null", gxe.ExpectColumnValuesToNotBeNull(column=c)) for c in columns]


def _id_lengths(*columns: str) -> list[Check]:
    return [
        (
            f"{c}_length",
            gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=1, max_value=ID_MAX_CHARS),
        )
        for c in columns
    ]


def in_set(check: str, column: str, values: object) -> Check:
    return check, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values))


def between(check: str, column: str, min_value: object = None, max_value: object = None) -> Check:
    """Values of a column lie within bounds (either may be open)."""
    return check, gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value
    )


def rows_where(check: str, condition: str, description: str) -> Check:
    """Rows matching ``condition`` break a rule that spans columns; GX counts them."""
    return check, gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {condition}",
        description=description,
    )


def key_unique(*columns: str) -> Check:
    """A gold table holds one row per key."""
    return "key_unique", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))


def hours_from_seconds() -> Check:
    """Hours are derived from exact seconds (a double, within rounding)."""
    return rows_where(
        "hours_from_seconds",
        "abs(hours_viewed - watch_seconds / 3600D) > 1e-9",
        "hours_viewed is watch_seconds / 3600",
    )


def region_known() -> Check:
    return in_set("region_known", "region", regions())


def _arrival_window() -> Check:
    """An accepted record's date lies within the contract's window around its arrival date."""
    return "arrival_window", gxe.ExpectColumnValuesToBeBetween(
        column="arrival_lag_days", min_value=_EARLIEST_EVENT_LAG, max_value=LATE_DAYS
    )


def _raw(feed: str) -> list[Check]:
    return [
        *not_null("source_file", "line_number", "raw_line", "run_id"),
        ("arrival_date", gxe.ExpectColumnValuesToBeInSet(
            column="arrival_date", value_set=_param("arrival_dates"))),
        ("line_number_positive", gxe.ExpectColumnValuesToBeBetween(
            column="line_number", min_value=1)),
        ("line_unique", gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["source_file", "line_number"])),
    ]  # fmt: skip


def _quarantine() -> list[Check]:
    return [
        *not_null("source_file", "line_number", "raw_line", "reason", "detail"),
        in_set("feed_known", "feed", FEEDS),
        in_set("reason_known", "reason", [r.value for r in Reason]),
        ("arrival_date", gxe.ExpectColumnValuesToBeInSet(
            column="arrival_date", value_set=_param("arrival_dates"))),
        ("line_unique", gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["feed", "source_file", "line_number"])),
    ]  # fmt: skip


def _shows() -> list[Check]:
    return [
        *not_null("title", "type", "release_year", "snapshot_date"),
        *_id_lengths("show_id"),
        ("show_id_unique", gxe.ExpectColumnValuesToBeUnique(column="show_id")),
        in_set("type_known", "type", SHOW_TYPES),
        ("has_a_genre", gxe.ExpectColumnValuesToBeBetween(column="genre_count", min_value=1)),
    ]  # fmt: skip


def _viewing_events() -> list[Check]:
    return [
        *not_null("event_ts", "watch_seconds", "device", "country", "arrival_date"),
        *_id_lengths("event_id", "user_id", "show_id"),
        ("event_id_unique", gxe.ExpectColumnValuesToBeUnique(column="event_id")),
        ("watch_seconds_range", gxe.ExpectColumnValuesToBeBetween(
            column="watch_seconds", min_value=0, max_value=WATCH_SECONDS_MAX)),
        in_set("device_known", "device", DEVICES),
        ("country_code", gxe.ExpectColumnValuesToMatchRegex(
            column="country", regex="^[A-Z]{2}$")),
        region_known(),
        _arrival_window(),
        in_set("show_in_catalog", "show_in_catalog", [True]),
    ]  # fmt: skip


def _signups() -> list[Check]:
    return [
        *not_null("signup_ts", "country", "arrival_date"),
        *_id_lengths("user_id"),
        ("user_id_unique", gxe.ExpectColumnValuesToBeUnique(column="user_id")),
        in_set("plan_known", "plan", PLANS),
        region_known(),
        _arrival_window(),
    ]


def _user_show_daily() -> list[Check]:
    return [
        *not_null("event_date", "user_id", "show_id", "region", "watch_seconds"),
        key_unique("event_date", "user_id", "show_id", "region"),
        ("watch_seconds_positive", gxe.ExpectColumnValuesToBeBetween(
            column="watch_seconds", min_value=0)),
        region_known(),
        rows_where("qualified_consistent", "qualified_in_region AND NOT qualified",
                    "a view that qualifies in its region qualifies overall"),
        rows_where("seconds_match_silver", "NOT (watch_seconds <=> silver_seconds)",
                    "seconds per user, show, region and day equal silver's events"),
    ]  # fmt: skip


def _run_log() -> list[Check]:
    """The run as a whole, one row per feed: reconciliation, bad-record share, volume, freshness."""
    return [
        rows_where("reconciled", "lines_read <> accepted + duplicates + quarantined",
                    "lines read = accepted + duplicates + quarantined"),
        ("raw_matches_lines_read", gxe.ExpectColumnPairValuesToBeEqual(
            column_A="raw_rows", column_B="lines_read")),
        ("quarantine_matches", gxe.ExpectColumnPairValuesToBeEqual(
            column_A="quarantine_rows", column_B="quarantined")),
        ("silver_matches_accepted", gxe.ExpectColumnPairValuesToBeEqual(
            column_A="silver_rows", column_B="accepted")),
        ("quarantine_share", gxe.ExpectColumnValuesToBeBetween(
            column="bad_ratio", min_value=0, max_value=_param("max_bad_ratio"))),
        ("volume", gxe.ExpectColumnValuesToBeBetween(
            column="volume_ratio", min_value=_param("volume_low"),
            max_value=_param("volume_high"))),
        ("freshness", gxe.ExpectColumnValuesToBeBetween(
            column="newest_event_lag_hours", max_value=_param("freshness_hours"))),
    ]  # fmt: skip


Suite = Callable[[], list[Check]]

# The core tables' suites; each aggregate declares its own (jobs.registry.all_suites).
SUITES: dict[str, Suite] = {
    T.VIEWING_EVENTS_RAW.identifier: lambda: _raw("viewing_events"),
    T.SIGNUPS_RAW.identifier: lambda: _raw("signups"),
    T.CATALOG_RAW.identifier: lambda: _raw("catalog"),
    T.QUARANTINE.identifier: _quarantine,
    T.SHOWS.identifier: _shows,
    T.VIEWING_EVENTS.identifier: _viewing_events,
    T.SIGNUPS.identifier: _signups,
    T.USER_SHOW_DAILY.identifier: _user_show_daily,
    T.RUN_LOG.identifier: _run_log,
}


def severity_of(check: str, overrides: Mapping[str, str]) -> str:
    """A check's severity: configured, else warn for the checks in DEFAULT_WARN, else error."""
    return overrides.get(check, WARN if check in DEFAULT_WARN else ERROR)


def check_names(suites: Mapping[str, Suite] = SUITES) -> frozenset[str]:
    """Every check name the suites use (severity overrides must name one of these)."""
    return frozenset(check for make in suites.values() for check, _ in make())
