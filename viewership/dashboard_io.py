"""``viewership report``'s reads and its one write; the charts themselves are shaped in
``viewership/dashboard.py``.

The answers come from the query layer exactly as ``viewership query`` computes them (no JVM);
signups by day and region run ``viewership/sql/signups_by_region_day.sql`` the way a declared query
runs SQL; the operations rows are the period's arrival dates of ``ops.run_log`` and
``ops.audit_results``.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from schemas import tables as T
from viewership import query
from viewership.config import Settings
from viewership.dashboard import Inputs
from viewership.errors import UsageError
from viewership.queries import sql_answer

# What the report's top-N charts show: the rows ``viewership query`` prints by default.
LIMIT = 10
RUN_LOG_COLUMNS = ("run_id", "logical_date", "feed", "status", "lines_read", "quarantined",
                   "recorded_at")  # fmt: skip
AUDIT_COLUMNS = ("run_id", "logical_date", "table_name", "severity", "success", "branch",
                 "recorded_at")  # fmt: skip
SIGNUPS_BY_REGION_DAY = Path(__file__).parent / "sql" / "signups_by_region_day.sql"


def read_inputs(settings: Settings, start: date, end: date) -> Inputs:
    """Everything the report shows for the period, read from the published tables."""
    from aggregates.signups import TABLE as SIGNUPS_DAILY  # it declares the signups answer

    if end < start:
        raise UsageError(f"--end {end} is before --start {start}")
    reader = query.Reader.open(settings)
    arrivals = query.period_filter("logical_date", start, end)
    by_region_day = sql_answer(SIGNUPS_BY_REGION_DAY, {"signups": SIGNUPS_DAILY})
    return Inputs(
        start=start,
        end=end,
        top_shows=query.top_shows(settings, start, end, limit=LIMIT),
        genres=query.genres(settings, start, end, limit=LIMIT),
        co_watch=query.co_watch(settings, start, end, limit=LIMIT),
        signups=by_region_day(settings, start, end),
        run_log=reader.scan(T.RUN_LOG, RUN_LOG_COLUMNS, arrivals),
        audit_results=reader.scan(T.AUDIT_RESULTS, AUDIT_COLUMNS, arrivals),
    )


def check_writable(out: Path) -> Path:
    """The absolute path to write, or a usage error before any table is read."""
    out = out.expanduser().resolve()
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; name an .html file in it")
    if not out.parent.is_dir():
        raise UsageError(f"--out {out}: folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(f"--out {out} is not writable")
    return out


def write_page(out: Path, page: str) -> None:
    """Write the page whole or not at all: a reader never opens half a report."""
    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(page, encoding="utf-8")
        os.replace(temp, out)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write --out {out}: {exc.strerror or exc}") from None
