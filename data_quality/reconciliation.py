"""Run-level counts: every line read is accepted, collapsed as a duplicate, or quarantined."""

from __future__ import annotations

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


def bad_share(counts: FeedCounts, max_bad_ratio: float) -> str:
    """Why a feed's quarantined share stops the run, in the words the contract asks for."""
    return (
        f"{counts.feed}: {counts.bad_ratio:.1%} of lines quarantined "
        f"({counts.quarantined:,} of {counts.lines_read:,}), "
        f"above the {max_bad_ratio:.1%} threshold"
    )
