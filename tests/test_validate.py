"""Every line-level rule of the landing contract, each with its own input (no Spark needed)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from jobs.validate import Context, check_line, parse_timestamp
from schemas.regions import country_regions

D = date(2026, 11, 10)
CTX = Context(D, country_regions(), frozenset({"s1", "s2"}))


def event(**overrides: Any) -> dict[str, Any]:
    base = {
        "event_id": "e1",
        "user_id": "u1",
        "show_id": "s1",
        "event_ts": "2026-11-10T12:00:00Z",
        "watch_seconds": 300,
        "device": "tv",
        "country": "US",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def verdict(feed: str, obj: object) -> tuple[str | None, str | None]:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    problem, _ = check_line(feed, raw, CTX)
    return (problem.reason.value, problem.field) if problem else (None, None)


def test_a_good_event_is_normalised() -> None:
    # Given an event with mixed case, an offset and an extra field
    raw = json.dumps(
        event(device="TV", country="de", event_ts="2026-11-10T01:30:00+02:00", extra=[1])
    ).encode()
    # When it is checked
    problem, values = check_line("viewing_events", raw, CTX)
    # Then it is accepted, in UTC, lower/upper-cased, with its region
    assert problem is None
    assert values == {
        "event_id": "e1",
        "user_id": "u1",
        "show_id": "s1",
        "event_ts": datetime(2026, 11, 9, 23, 30, tzinfo=UTC),
        "watch_seconds": 300,
        "device": "tv",
        "country": "DE",
        "region": "EMEA",
    }


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"not json", ("invalid_json", None)),
        (b'{"event_id": "e1"', ("invalid_json", None)),
        (b"", ("invalid_json", None)),
        (b"[1, 2]", ("not_an_object", None)),
        (b'"a string"', ("not_an_object", None)),
        (b"\xff\xfe{}", ("invalid_utf8", None)),
        (b'{"event_id": "a", "event_id": "b"}', ("duplicate_key", "event_id")),
        (b'{"watch_seconds": NaN}', ("invalid_json", None)),
    ],
)
def test_lines_that_are_not_json_objects(line: bytes, expected: tuple[str, str | None]) -> None:
    assert verdict("viewing_events", line) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"event_id": ...}, ("missing_field", "event_id")),
        ({"country": ...}, ("missing_field", "country")),
        ({"watch_seconds": "120"}, ("wrong_type", "watch_seconds")),
        ({"watch_seconds": None}, ("wrong_type", "watch_seconds")),
        ({"watch_seconds": 120.5}, ("wrong_type", "watch_seconds")),
        ({"watch_seconds": 120.0}, ("wrong_type", "watch_seconds")),
        ({"watch_seconds": True}, ("wrong_type", "watch_seconds")),
        ({"user_id": 123}, ("wrong_type", "user_id")),
        ({"event_id": ""}, ("invalid_value", "event_id")),
        ({"event_id": "x" * 65}, ("invalid_value", "event_id")),
        ({"watch_seconds": -1}, ("invalid_value", "watch_seconds")),
        ({"watch_seconds": 86_401}, ("invalid_value", "watch_seconds")),
        ({"watch_seconds": 2**70}, ("invalid_value", "watch_seconds")),
        ({"device": "fridge"}, ("invalid_value", "device")),
        ({"country": "ZZ"}, ("unknown_country", "country")),
        ({"country": "USA"}, ("unknown_country", "country")),
        ({"show_id": "s9"}, ("unknown_show", "show_id")),
        ({"event_ts": "yesterday"}, ("invalid_value", "event_ts")),
        ({"event_ts": "2026-11-10T12:00:00"}, ("invalid_value", "event_ts")),
        ({"event_ts": "2026-02-30T12:00:00Z"}, ("invalid_value", "event_ts")),
        ({"event_ts": 1762776000}, ("wrong_type", "event_ts")),
    ],
)
def test_event_rules(overrides: dict[str, Any], expected: tuple[str, str]) -> None:
    assert verdict("viewing_events", event(**overrides)) == expected


def test_boundaries_of_the_field_rules_are_accepted() -> None:
    for overrides in (
        {"watch_seconds": 0},
        {"watch_seconds": 86_400},
        {"event_id": "x" * 64},
        {"device": "Console"},
        {"country": "br"},
    ):
        assert verdict("viewing_events", event(**overrides)) == (None, None), overrides


@pytest.mark.parametrize(
    ("event_ts", "expected"),
    [
        ("2026-10-11T00:00:00Z", None),  # 30 days before D, first instant: accepted
        ("2026-10-10T23:59:59Z", "too_late"),  # 31 days before
        ("2026-10-11T01:00:00+02:00", "too_late"),  # the offset moves it to 2026-10-10 UTC
        ("2026-11-11T01:00:00Z", None),  # exactly 1 h after the end of D
        ("2026-11-11T01:00:00.000001Z", "future"),
        ("2026-11-11T02:30:00+02:00", None),  # 00:30 UTC
    ],
)
def test_late_and_future_window(event_ts: str, expected: str | None) -> None:
    reason, _ = verdict("viewing_events", event(event_ts=event_ts))
    assert reason == expected


def test_timestamps_parse_to_utc() -> None:
    assert parse_timestamp("2026-11-10T23:30:00.1234567-01:00") == datetime(
        2026, 11, 11, 0, 30, 0, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2026-11-10t10:00:00z") == datetime(2026, 11, 10, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_timestamp("2026-11-10T10:00:00+24:00")


def test_a_byte_order_mark_is_ignored() -> None:
    assert verdict("viewing_events", b"\xef\xbb\xbf" + json.dumps(event()).encode()) == (
        None,
        None,
    )


def test_signup_rules() -> None:
    good = {"user_id": "u1", "signup_ts": "2026-11-10T08:00:00Z", "country": "mx", "plan": "Basic"}
    problem, values = check_line("signups", json.dumps(good).encode(), CTX)
    assert problem is None
    assert values["plan"] == "basic" and values["region"] == "LATAM" and values["country"] == "MX"
    assert verdict("signups", {**good, "plan": "gold"}) == ("invalid_value", "plan")
    assert verdict("signups", {**good, "signup_ts": "2026-09-01T00:00:00Z"}) == (
        "too_late",
        "signup_ts",
    )
    assert verdict("signups", {k: v for k, v in good.items() if k != "plan"}) == (
        "missing_field",
        "plan",
    )


def test_catalog_rules() -> None:
    good = {"show_id": "s1", "title": "Ünïcode ✓", "genres": ["drama"], "type": "film",
            "release_year": 2020}  # fmt: skip
    assert verdict("catalog", good) == (None, None)
    assert verdict("catalog", {**good, "genres": []}) == ("invalid_value", "genres")
    assert verdict("catalog", {**good, "genres": "drama"}) == ("wrong_type", "genres")
    assert verdict("catalog", {**good, "genres": ["drama", 3]}) == ("wrong_type", "genres")
    assert verdict("catalog", {**good, "type": "episode"}) == ("invalid_value", "type")
    assert verdict("catalog", {**good, "release_year": "2020"}) == ("wrong_type", "release_year")
