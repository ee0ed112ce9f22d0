"""The run-level gate: unreconciled counts and the bad-line threshold block publication."""

from __future__ import annotations

from data_quality.reconciliation import FeedCounts, problems


def test_a_clean_run_has_no_problems() -> None:
    assert problems([FeedCounts("signups", 100, 90, 5, 5)], max_bad_ratio=0.05) == []


def test_the_threshold_is_exclusive_and_configurable() -> None:
    at_limit = FeedCounts("viewing_events", 100, 94, 1, 5)
    over = FeedCounts("viewing_events", 100, 93, 1, 6)
    assert problems([at_limit], 0.05) == []
    assert problems([over], 0.05) == [
        "viewing_events: 6.0% of lines quarantined (6 of 100), above the 5.0% threshold"
    ]
    assert problems([over], 0.1) == []
    assert problems([FeedCounts("catalog", 1, 0, 0, 1)], 0.0) == [
        "catalog: 100.0% of lines quarantined (1 of 1), above the 0.0% threshold"
    ]


def test_lines_that_are_not_accounted_for_block() -> None:
    assert problems([FeedCounts("signups", 10, 5, 1, 0)], 1.0) == [
        "signups: 10 lines read but 5 accepted + 1 duplicates + 0 quarantined"
    ]


def test_an_empty_feed_is_fine() -> None:
    assert problems([FeedCounts("signups")], 0.0) == []
