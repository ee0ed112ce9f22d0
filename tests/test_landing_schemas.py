"""The published JSON Schemas and the validator agree on what a well-formed line is."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import jsonschema
import pytest

from jobs.validate import Context, check_line
from schemas.contract import FEEDS
from schemas.regions import country_regions

CTX = Context(date(2026, 11, 10), country_regions(), frozenset({"s1"}))
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "viewing_events": [
        {"event_id": "e", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00Z",
         "watch_seconds": 10, "device": "TV", "country": "us"},
        {"event_id": "", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00Z",
         "watch_seconds": 10, "device": "tv", "country": "US"},
        {"event_id": "e", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00",
         "watch_seconds": 10, "device": "tv", "country": "US"},
        {"event_id": "e", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00Z",
         "watch_seconds": "10", "device": "tv", "country": "US"},
        {"event_id": "e", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00Z",
         "watch_seconds": 10, "device": "vr", "country": "US"},
        {"event_id": "e", "user_id": "u", "show_id": "s1", "event_ts": "2026-11-10T10:00:00Z",
         "device": "tv", "country": "US"},
    ],
    "signups": [
        {"user_id": "u", "signup_ts": "2026-11-10T10:00:00+01:00", "country": "BR",
         "plan": "Basic"},
        {"user_id": "u", "signup_ts": "2026-11-10T10:00:00Z", "country": "BR", "plan": "free"},
        {"user_id": 7, "signup_ts": "2026-11-10T10:00:00Z", "country": "BR", "plan": "basic"},
    ],
    "catalog": [
        {"show_id": "s1", "title": "T", "genres": ["drama"], "type": "film", "release_year": 1},
        {"show_id": "s1", "title": "T", "genres": [], "type": "film", "release_year": 1},
        {"show_id": "s1", "title": "T", "genres": ["drama"], "type": "movie", "release_year": 1},
    ],
}  # fmt: skip


def schema(feed: str) -> dict[str, Any]:
    text = resources.files("schemas").joinpath(f"landing/{feed}.schema.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.mark.parametrize("feed", FEEDS)
def test_schema_is_valid_json_schema(feed: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(feed))


@pytest.mark.parametrize("feed", FEEDS)
def test_schema_and_validator_agree(feed: str) -> None:
    validator = jsonschema.Draft202012Validator(schema(feed))
    verdicts = [
        (validator.is_valid(sample), check_line(feed, json.dumps(sample).encode(), CTX)[0] is None)
        for sample in SAMPLES[feed]
    ]
    assert [by_schema for by_schema, _ in verdicts] == [by_check for _, by_check in verdicts]
    assert verdicts[0] == (True, True)
    assert all(not ok for ok, _ in verdicts[1:])
