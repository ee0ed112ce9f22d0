"""The landing zone's layout (contract section 1): feed folders with one folder per arrival day."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from viewership.errors import LandingError

LINE_SUFFIXES = (".jsonl", ".jsonl.gz")


def feed_dir(landing: Path, feed: str, arrival_date: date) -> Path:
    """The folder that holds a feed's files for one arrival date."""
    return landing / feed / f"dt={arrival_date.isoformat()}"


def feed_files(landing: Path, feed: str, arrival_date: date) -> list[Path]:
    """A feed's landing files for the date, sorted; a missing folder means zero rows arrived."""
    folder = feed_dir(landing, feed, arrival_date)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(LINE_SUFFIXES))


def snapshot_dates(landing: Path, feed: str = "catalog") -> list[date]:
    """Arrival dates that hold at least one file of the feed, oldest first."""
    root = landing / feed
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if not folder.name.startswith("dt="):
            continue
        try:
            day = date.fromisoformat(folder.name.removeprefix("dt="))
        except ValueError:
            continue
        if feed_files(landing, feed, day):
            found.append(day)
    return sorted(found)


def catalog_in_effect(landing: Path, arrival_date: date) -> date:
    """The newest catalog snapshot date at or before the arrival date; none is an error."""
    candidates = [d for d in snapshot_dates(landing) if d <= arrival_date]
    if not candidates:
        raise LandingError(
            f"no catalog snapshot at or before {arrival_date} under {landing / 'catalog'}"
        )
    return candidates[-1]


def snapshot_fingerprint(landing: Path, day: date) -> str:
    """A digest of one catalog snapshot: its date, and each file's name and bytes.

    silver.shows records the fingerprint of the snapshot it merged last, so a run whose catalog
    in effect is that very snapshot knows merging it again would change nothing; a file
    corrected in place changes the fingerprint, and the snapshot is merged again.
    """
    digest = hashlib.sha256(day.isoformat().encode())
    for path in feed_files(landing, "catalog", day):
        digest.update(b"\0" + path.name.encode() + b"\0")
        with path.open("rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()
