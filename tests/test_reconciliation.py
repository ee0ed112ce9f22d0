"""Run-level counts: what reconciles, and how a bad share is explained."""

from __future__ import annotations

from data_quality.reconciliation import FeedCounts, bad_share


def test_counts_reconcile_when_every_line_is_accounted_for() -> None:
    assert FeedCounts("signups", 100, 90, 5, 5).reconciled
    assert not FeedCounts("signups", 10, 5, 1, 0).reconciled
    assert FeedCounts("signups").reconciled


def test_the_bad_ratio_of_an_empty_feed_is_zero() -> None:
    assert FeedCounts("signups").bad_ratio == 0.0
    assert FeedCounts("viewing_events", 100, 93, 1, 6).bad_ratio == 0.06


def test_a_bad_share_names_the_feed_the_share_and_the_threshold() -> None:
    assert bad_share(FeedCounts("viewing_events", 100, 93, 1, 6), 0.05) == (
        "viewing_events: 6.0% of lines quarantined (6 of 100), above the 5.0% threshold"
    )
