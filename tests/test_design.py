"""docs/design.md's capacity figures follow from its stated assumptions and the landing schema.

The arithmetic is done again here from the assumptions (and, for the key overhead of an event
line, from ``schemas/landing/viewing_events.schema.json``); each result must appear in the
document as written, so a changed assumption or schema cannot leave a stale figure behind.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")

# The assumptions of section 2.1 and 2.3.
MEMBERS = 300e6
ACTIVE_SHARE = 0.5
HOURS_PER_ACTIVE = 2
EVENTS_PER_HOUR = 60
SESSIONS, EVENTS_PER_SESSION = 3, 2
VALUE_BYTES = 36 + 20 + 10 + 24 + 2 + 6 + 2  # the bytes column of the event-size table
BRONZE_B, SILVER_B, FACT_B = 50, 30, 40  # bytes per row at scale
FACT_ROWS = 150e6 * 1.5


def key_overhead() -> int:
    """Bytes of a minified event line with every required field present and its value empty."""
    schema = json.loads((ROOT / "schemas/landing/viewing_events.schema.json").read_text("utf-8"))
    fields = [
        f'"{name}":' + ('""' if schema["properties"][name]["type"] == "string" else "")
        for name in schema["required"]
    ]
    return len("{" + ",".join(fields) + "}")


def half_up(value: float, places: int) -> str:
    """A figure rounded as a person rounds it (0.945 to 0.95), not as binary floats do."""
    step = Decimal(1).scaleb(-places)
    return str(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def figures() -> dict[str, str]:
    """Each derived figure, formatted as the document writes it."""
    active = MEMBERS * ACTIVE_SHARE
    heartbeats = active * HOURS_PER_ACTIVE * EVENTS_PER_HOUR
    events = heartbeats + active * SESSIONS * EVENTS_PER_SESSION
    line = key_overhead() + VALUE_BYTES + 1
    raw = events * line
    bronze, silver, fact = events * BRONZE_B, events * SILVER_B, FACT_ROWS * FACT_B
    lakehouse = bronze + silver + fact
    return {
        "key overhead": f"**{key_overhead()} bytes**",
        "line": f"= {line} bytes",
        "heartbeats": f"= {heartbeats / 1e9:.1f} billion",
        "events per day": f"= {events / 1e9:.1f} billion",
        "average rate": f"≈ {round(events / 86_400, -3):,.0f} events/s",
        "raw per day": f"≈ {raw / 1e12:.2f} TB/day",
        "raw per year": f"≈ {raw * 365 / 1e15:.2f} PB/year",
        "bronze per day": f"| {half_up(bronze / 1e12, 2)} TB |",
        "silver per day": f"| {half_up(silver / 1e12, 2)} TB |",
        "fact per day": f"| {fact / 1e9:.0f} GB |",
        "lakehouse per day": f"about **{lakehouse / 1e12:.1f} TB of lakehouse per day**",
        "lakehouse per year": f"about **{lakehouse * 365 / 1e12:.0f} TB a year**",
    }


@pytest.mark.parametrize(("name", "written"), sorted(figures().items()))
def test_each_capacity_figure_is_the_arithmetic_of_its_assumptions(name: str, written: str) -> None:
    assert written in DESIGN, f"{name}: expected {written!r} in docs/design.md"


def test_the_assumptions_are_the_documents() -> None:
    for stated in ("| members | 300 M |", "50% → 150 M active members", "2 h a day",
                   "60 events per viewing hour", "| 3 a day |", "225 M rows a day"):  # fmt: skip
        assert stated in DESIGN, stated
