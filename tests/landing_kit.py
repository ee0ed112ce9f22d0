"""Helpers that write small hand-made landing files for tests."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from jobs.landing import feed_dir

SHOWS = [
    {
        "show_id": "s1",
        "title": "Alpha",
        "genres": ["drama", "comedy"],
        "type": "series",
        "release_year": 2020,
    },
    {"show_id": "s2", "title": "Béta", "genres": ["drama"], "type": "film", "release_year": 2021},
    {"show_id": "s3", "title": "Gamma", "genres": ["kids"], "type": "film", "release_year": 2019},
]


def write_lines(
    landing: Path,
    feed: str,
    day: date,
    lines: Iterable[bytes | str | dict[str, Any]],
    name: str = "part-0.jsonl",
) -> Path:
    """Write one landing file (gzip when the name ends in .gz) and return its path."""
    folder = feed_dir(landing, feed, day)
    folder.mkdir(parents=True, exist_ok=True)
    encoded = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line, ensure_ascii=False)
        encoded.append(line.encode() if isinstance(line, str) else line)
    payload = b"".join(item + b"\n" for item in encoded)
    path = folder / name
    path.write_bytes(gzip.compress(payload, mtime=0) if name.endswith(".gz") else payload)
    return path


def catalog(landing: Path, day: date, shows: list[dict[str, Any]] | None = None) -> Path:
    return write_lines(landing, "catalog", day, shows if shows is not None else SHOWS)


def ev(
    event_id: str,
    user: str,
    show: str,
    ts: str,
    seconds: int,
    country: str = "US",
    device: str = "tv",
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "user_id": user,
        "show_id": show,
        "event_ts": ts,
        "watch_seconds": seconds,
        "device": device,
        "country": country,
    }


def signup(user: str, ts: str, country: str = "US", plan: str = "basic") -> dict[str, Any]:
    return {"user_id": user, "signup_ts": ts, "country": country, "plan": plan}
