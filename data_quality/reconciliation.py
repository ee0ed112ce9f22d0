"""Run-level checks: every line is accounted for, and bad lines stay under the threshold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass
class FeedCounts:
    """Reconciliation of one feed in one run: read = accepted + duplicates + quarantined."""

    feed: str
    lines_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0

    @property
    def reconciled(self) -> bool:
        return self.lines_read == self.accepted + self.duplicates + self.quarantined

    @property
    def bad_ratio(self) -> float:
        return self.quarantined / self.lines_read if self.lines_read else 0.0


def problems(feeds: Iterable[FeedCounts], max_bad_ratio: float) -> list[str]:
    """Why a run must not publish; empty when it may."""
    found = []
    for counts in feeds:
        if not counts.reconciled:
            found.append(
                f"{counts.feed}: {counts.lines_read:,} lines read but {counts.accepted:,} "
                f"accepted + {counts.duplicates:,} duplicates + {counts.quarantined:,} quarantined"
            )
        if counts.bad_ratio > max_bad_ratio:
            found.append(
                f"{counts.feed}: {counts.bad_ratio:.1%} of lines quarantined "
                f"({counts.quarantined:,} of {counts.lines_read:,}), "
                f"above the {max_bad_ratio:.1%} threshold"
            )
    return found
