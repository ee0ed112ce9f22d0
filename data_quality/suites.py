"""The expectation suites of the quality gate: one per audited table, declared as code.

Each expectation carries a stable check name (``meta["check"]``) and a severity. ``error``
(GX's ``critical``) blocks publication; ``warn`` (GX's ``warning``) is recorded and shown but
lets the run publish. Values that change per run (the arrival date, the bad-record threshold,
the volume band) are GX expectation parameters, so the suites themselves never change.

Every suite validates a batch built by ``data_quality.batches`` from what the run staged on its
audit branch; the derived columns those batches add (``arrival_lag_days``,
``show_in_catalog``, ``fact_viewers``...) are what lets GX judge rules that span tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
from great_expectations.expectations.metadata_types import FailureSeverity

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

ERROR = "error"
WARN = "warn"
SEVERITIES = {ERROR: FailureSeverity.CRITICAL, WARN: FailureSeverity.WARNING}

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


Check = tuple[str, gxe.Expectation]


def _not_null(*columns: str) -> list[Check]:
    return [(f"{c}_not_null", gxe.ExpectColumnValuesToNotBeNull(column=c)) for c in columns]


def _id_lengths(*columns: str) -> list[Check]:
    return [
        (
            f"{c}_length",
            gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=1, max_value=ID_MAX_CHARS),
        )
        for c in columns
    ]


def _in_set(check: str, column: str, values: object) -> Check:
    return check, gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values))


def _rows_where(check: str, condition: str, description: str) -> Check:
    """Rows matching ``condition`` break a rule that spans columns; GX counts them."""
    return check, gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=f"SELECT * FROM {{batch}} WHERE {condition}",
        description=description,
    )


def _key(*columns: str) -> Check:
    """A gold table holds one row per key."""
    return "key_unique", gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns))


def _hours_from_seconds() -> Check:
    """Hours are derived from exact seconds (a double, within rounding)."""
    return _rows_where(
        "hours_from_seconds",
        "abs(hours_viewed - watch_seconds / 3600D) > 1e-9",
        "hours_viewed is watch_seconds / 3600",
    )


def _regions() -> Check:
    return _in_set("region_known", "region", regions())


def _arrival_window() -> Check:
    """An accepted record's date lies within the contract's window around its arrival date."""
    return "arrival_window", gxe.ExpectColumnValuesToBeBetween(
        column="arrival_lag_days", min_value=_EARLIEST_EVENT_LAG, max_value=LATE_DAYS
    )


def _raw(feed: str) -> list[Check]:
    return [
        *_not_null("source_file", "line_number", "raw_line", "run_id"),
        ("arrival_date", gxe.ExpectColumnValuesToBeInSet(
            column="arrival_date", value_set=_param("arrival_dates"))),
        ("line_number_positive", gxe.ExpectColumnValuesToBeBetween(
            column="line_number", min_value=1)),
        ("line_unique", gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["source_file", "line_number"])),
    ]  # fmt: skip


def _quarantine() -> list[Check]:
    return [
        *_not_null("source_file", "line_number", "raw_line", "reason", "detail"),
        _in_set("feed_known", "feed", FEEDS),
        _in_set("reason_known", "reason", [r.value for r in Reason]),
        ("arrival_date", gxe.ExpectColumnValuesToBeInSet(
            column="arrival_date", value_set=_param("arrival_dates"))),
        ("line_unique", gxe.ExpectCompoundColumnsToBeUnique(
            column_list=["feed", "source_file", "line_number"])),
    ]  # fmt: skip


def _shows() -> list[Check]:
    return [
        *_not_null("title", "type", "release_year", "snapshot_date"),
        *_id_lengths("show_id"),
        ("show_id_unique", gxe.ExpectColumnValuesToBeUnique(column="show_id")),
        _in_set("type_known", "type", SHOW_TYPES),
        ("has_a_genre", gxe.ExpectColumnValuesToBeBetween(column="genre_count", min_value=1)),
    ]  # fmt: skip


def _viewing_events() -> list[Check]:
    return [
        *_not_null("event_ts", "watch_seconds", "device", "country", "arrival_date"),
        *_id_lengths("event_id", "user_id", "show_id"),
        ("event_id_unique", gxe.ExpectColumnValuesToBeUnique(column="event_id")),
        ("watch_seconds_range", gxe.ExpectColumnValuesToBeBetween(
            column="watch_seconds", min_value=0, max_value=WATCH_SECONDS_MAX)),
        _in_set("device_known", "device", DEVICES),
        ("country_code", gxe.ExpectColumnValuesToMatchRegex(
            column="country", regex="^[A-Z]{2}$")),
        _regions(),
        _arrival_window(),
        _in_set("show_in_catalog", "show_in_catalog", [True]),
    ]  # fmt: skip


def _signups() -> list[Check]:
    return [
        *_not_null("signup_ts", "country", "arrival_date"),
        *_id_lengths("user_id"),
        ("user_id_unique", gxe.ExpectColumnValuesToBeUnique(column="user_id")),
        _in_set("plan_known", "plan", PLANS),
        _regions(),
        _arrival_window(),
    ]


def _user_show_daily() -> list[Check]:
    return [
        *_not_null("event_date", "user_id", "show_id", "region", "watch_seconds"),
        _key("event_date", "user_id", "show_id", "region"),
        ("watch_seconds_positive", gxe.ExpectColumnValuesToBeBetween(
            column="watch_seconds", min_value=0)),
        _regions(),
        _rows_where("qualified_consistent", "qualified_in_region AND NOT qualified",
                    "a view that qualifies in its region qualifies overall"),
        _rows_where("seconds_match_silver", "NOT (watch_seconds <=> silver_seconds)",
                    "seconds per user, show, region and day equal silver's events"),
    ]  # fmt: skip


def _top_shows_daily() -> list[Check]:
    return [
        _key("event_date", "show_id"),
        _rows_where("viewers_match_fact", "NOT (viewers <=> fact_viewers)",
                    "viewers per show and day equal the fact's qualified users"),
        _rows_where("seconds_match_fact", "NOT (watch_seconds <=> fact_seconds)",
                    "seconds per show and day equal the fact's"),
        _hours_from_seconds(),
    ]  # fmt: skip


def _genres_by_region_daily() -> list[Check]:
    return [
        _key("event_date", "region", "genre"),
        _regions(),
        ("viewers_range", gxe.ExpectColumnValuesToBeBetween(column="viewers", min_value=0)),
        _rows_where("hours_add_up", "NOT (genre_seconds <=> shows_seconds)",
                    "a genre's seconds over all regions equal those of its shows that day"),
        _rows_where("viewers_within_shows", "viewers > genre_show_viewers",
                    "a genre has no more viewers in a region than its shows have in all"),
        _hours_from_seconds(),
    ]  # fmt: skip


def _signups_daily() -> list[Check]:
    return [
        _key("signup_date", "region", "plan"),
        ("new_users_positive", gxe.ExpectColumnValuesToBeBetween(
            column="new_users", min_value=1)),
        _rows_where("new_users_match_silver", "NOT (new_users <=> silver_new_users)",
                    "new users per day, region and plan equal silver's accounts"),
        _in_set("plan_known", "plan", PLANS),
        _regions(),
    ]  # fmt: skip


def _run_log() -> list[Check]:
    """The run as a whole, one row per feed: reconciliation, bad-record share, volume, freshness."""
    return [
        _rows_where("reconciled", "lines_read <> accepted + duplicates + quarantined",
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


SUITES: dict[str, Callable[[], list[Check]]] = {
    T.VIEWING_EVENTS_RAW.identifier: lambda: _raw("viewing_events"),
    T.SIGNUPS_RAW.identifier: lambda: _raw("signups"),
    T.CATALOG_RAW.identifier: lambda: _raw("catalog"),
    T.QUARANTINE.identifier: _quarantine,
    T.SHOWS.identifier: _shows,
    T.VIEWING_EVENTS.identifier: _viewing_events,
    T.SIGNUPS.identifier: _signups,
    T.USER_SHOW_DAILY.identifier: _user_show_daily,
    T.TOP_SHOWS_DAILY.identifier: _top_shows_daily,
    T.GENRES_BY_REGION_DAILY.identifier: _genres_by_region_daily,
    T.SIGNUPS_DAILY.identifier: _signups_daily,
    T.RUN_LOG.identifier: _run_log,
}


def severity_of(check: str, overrides: Mapping[str, str]) -> str:
    """A check's severity: configured, else warn for the checks in DEFAULT_WARN, else error."""
    return overrides.get(check, WARN if check in DEFAULT_WARN else ERROR)


def build_suite(table: str, overrides: Mapping[str, str] | None = None) -> gx.ExpectationSuite:
    """The suite of one table, its expectations named and graded."""
    overrides = overrides or {}
    expectations = []
    for check, expectation in SUITES[table]():
        expectation.meta = {"check": check}
        expectation.severity = SEVERITIES[severity_of(check, overrides)]
        expectations.append(expectation)
    return gx.ExpectationSuite(name=table, expectations=expectations)


@cache
def check_names() -> frozenset[str]:
    """Every check name any suite uses (severity overrides must name one of these)."""
    return frozenset(check for make in SUITES.values() for check, _ in make())
