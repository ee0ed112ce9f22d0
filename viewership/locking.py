"""File locks: one run per date at a time, and serialised catalog commits in the embedded profile.

A SQLite-backed Iceberg catalog fails concurrent commits with SQLITE_BUSY, which Iceberg does
not retry, so embedded runs take the commit lock for their whole write-audit-publish cycle.
In the cluster profile runs overlap (Iceberg retries conflicting commits), and only the quality
gate's file project under the home, which GX rewrites as it validates, is taken in turn.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from viewership.config import Settings
from viewership.errors import ViewershipError


class RunInProgress(ViewershipError):
    """Another process is running the same date."""


@contextmanager
def _flock(path: Path, blocking: bool) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def date_lock(settings: Settings, logical_date: date, scope: str = "") -> Iterator[None]:
    """Refuse a second run of a date (or of one aggregate's date) while one is in flight."""
    suffix = f"-{scope}" if scope else ""
    path = settings.lock_dir / f"run-{logical_date.isoformat()}{suffix}.lock"
    with _flock(path, blocking=False) as acquired:
        if not acquired:
            what = f"{scope} run" if scope else "run"
            raise RunInProgress(
                f"a {what} for {logical_date} is already in progress; not racing it"
            )
        yield


@contextmanager
def commit_lock(settings: Settings) -> Iterator[None]:
    """Serialise catalog commits in the embedded profile; a no-op for the REST catalog."""
    if settings.profile != "local":
        yield
        return
    with _flock(settings.lock_dir / "catalog-commits.lock", blocking=True):
        yield


@contextmanager
def publication_lock(settings: Settings) -> Iterator[None]:
    """Publish in turn, in every profile: between a run's check that no table's main moved
    and its last fast-forward, no other run may fast-forward (``jobs.wap.check_heads``)."""
    with _flock(settings.lock_dir / "publication.lock", blocking=True):
        yield


@contextmanager
def gate_lock(settings: Settings) -> Iterator[None]:
    """Take the GX file project in turn: GX rewrites its configuration, suites and Data Docs
    as it validates, and two processes doing so at once could read each other's half-written
    files."""
    with _flock(settings.lock_dir / "quality-gate.lock", blocking=True):
        yield
