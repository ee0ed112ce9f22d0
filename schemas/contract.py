"""The landing contract's fixed values, named once (see shared contract, sections 1 and 2)."""

from __future__ import annotations

from typing import Final

FEEDS: Final = ("viewing_events", "signups", "catalog")

DEVICES: Final = frozenset({"tv", "mobile", "tablet", "web", "console"})
PLANS: Final = frozenset({"basic", "standard", "premium", "standard_with_ads"})
SHOW_TYPES: Final = frozenset({"series", "film"})

ID_MAX_CHARS: Final = 64
WATCH_SECONDS_MAX: Final = 86_400

# Late data: an event date up to this many days before the arrival date is accepted.
LATE_DAYS: Final = 30
# An event stamped up to this long after the end of the arrival day is accepted (clock skew).
FUTURE_TOLERANCE_SECONDS: Final = 3_600

# Netflix's public two-minute rule: a qualified view is >= 120 s of a show on one day.
QUALIFIED_SECONDS: Final = 120

DEFAULT_MAX_BAD_RATIO: Final = 0.05
