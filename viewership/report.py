"""``viewership audit``: what the quality gate said about a date's latest run, without a JVM.

Reads the run log and the audit results (both on main, outside Write-Audit-Publish) through
PyIceberg, and the audit branches' presence from table metadata.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from pyiceberg.expressions import EqualTo

from schemas import tables as T
from viewership.config import Settings
from viewership.query import Reader

_RUN_COLUMNS = tuple(f.name for f in T.RUN_LOG.schema.fields)
_AUDIT_COLUMNS = tuple(f.name for f in T.AUDIT_RESULTS.schema.fields)
# A run's statuses in the order a run writes them; the furthest one reached is its outcome.
_PROGRESS = ("failed", "refused", "publishing", "published")
# Run-log rows of an aggregate's cycle carry ``aggregate:<name>`` in place of a feed.
_AGGREGATE = "aggregate:"


@dataclass
class AuditReport:
    """A date's latest run: its outcome, its counts and every expectation's verdict."""

    logical_date: str
    run_id: str
    status: str
    branch: str
    message: str | None
    feeds: list[dict[str, Any]]
    expectations: list[dict[str, Any]]
    branch_kept_on: list[str] = field(default_factory=list)
    data_docs: str = ""
    aggregates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [e for e in self.expectations if not e["success"]]

    def unpublished(self, names: list[str]) -> list[str]:
        """The named aggregates whose latest cycle for the date did not publish."""
        status = {a["aggregate"]: a["status"] for a in self.aggregates}
        return [n for n in names if status.get(n) != "published"]


def latest_audit(settings: Settings, day: date) -> AuditReport | None:
    """The report of the latest run recorded for ``day``, or None when it never ran.

    The run is the latest ingest of the date; each aggregate is reported by its own latest
    cycle for the date (the DAG may rerun one aggregate alone).
    """
    reader = Reader.open(settings)
    log = reader.scan(T.RUN_LOG, _RUN_COLUMNS, EqualTo("logical_date", day)).to_pylist()
    ingest = [r for r in log if not r["feed"].startswith(_AGGREGATE)]
    if not ingest:
        return None
    latest = max(ingest, key=lambda r: r["recorded_at"])["run_id"]
    rows = [r for r in ingest if r["run_id"] == latest]
    status = max((r["status"] for r in rows), key=_PROGRESS.index)
    cycles: dict[str, dict[str, Any]] = {}
    for r in sorted((r for r in log if r["feed"].startswith(_AGGREGATE)),
                    key=lambda r: r["recorded_at"]):  # fmt: skip
        cycles[r["feed"].removeprefix(_AGGREGATE)] = r
    results = reader.scan(T.AUDIT_RESULTS, _AUDIT_COLUMNS, EqualTo("logical_date", day)).to_pylist()
    owner = {(r["branch"] or ""): r["run_id"] for r in cycles.values()}
    branch = rows[0]["branch"] or ""
    feeds = {
        r["feed"]: {k: r[k] for k in ("feed", "lines_read", "accepted", "duplicates",
                                      "quarantined", "reconciled")}
        for r in rows
    }  # fmt: skip
    return AuditReport(
        logical_date=day.isoformat(),
        run_id=latest,
        status=status,
        branch=branch,
        message=next((r["message"] for r in rows if r["status"] == status), None),
        feeds=sorted(feeds.values(), key=lambda f: f["feed"]),
        expectations=sorted(
            (
                {
                    k: r[k]
                    for k in (
                        "table_name",
                        "check_name",
                        "severity",
                        "success",
                        "observed",
                        "unexpected",
                        "expectation",
                    )
                }
                for r in results
                if (r["branch"] == branch and r["run_id"] == latest)
                or owner.get(r["branch"]) == r["run_id"]
            ),
            key=lambda e: (
                e["success"],
                e["severity"] != "error",
                e["table_name"],
                e["check_name"],
            ),
        ),  # fmt: skip
        branch_kept_on=reader.tables_with_branch(T.AUDITED_TABLES, branch) if branch else [],
        data_docs=settings.data_docs_index.as_uri(),
        aggregates=[
            {
                "aggregate": name,
                "status": r["status"],
                "rows": r["accepted"],
                "message": r["message"],
                "run_id": r["run_id"],
            }
            for name, r in sorted(cycles.items())
        ],  # fmt: skip
    )


def render_report(report: AuditReport, fmt: str) -> str:
    """The report for people (``table``) or as one JSON object (``json``)."""
    if fmt == "json":
        return json.dumps(asdict(report) | {"failed": len(report.failed)}, default=str)
    lines = [f"{report.logical_date}  run {report.run_id}  {_STATUS_LINE[report.status]}"]
    if report.message:
        lines.append(f"  {report.message}")
    if report.status == "publishing":
        lines.append(
            f"  publication was interrupted; {len(report.branch_kept_on)} table(s) still wait "
            f"on branch {report.branch}: the next run (of any date) finishes it"
        )
    elif report.branch_kept_on:
        lines.append(f"  staged data kept on branch {report.branch}; inspect it with")
        lines.append(
            f"    SELECT * FROM lake.{report.branch_kept_on[0]} VERSION AS OF '{report.branch}'"
        )
    lines.append("")
    lines.append(f"  {'feed':<16}{'read':>10}{'accepted':>10}{'duplicates':>12}{'quarantined':>13}")
    for feed in report.feeds:
        lines.append(
            f"  {feed['feed']:<16}{feed['lines_read']:>10,}{feed['accepted']:>10,}"
            f"{feed['duplicates']:>12,}{feed['quarantined']:>13,}"
        )
    if report.aggregates:
        lines.append("")
        lines.append(f"  {'aggregate':<24}{'status':<12}{'rows':>10}")
        for agg in report.aggregates:
            lines.append(f"  {agg['aggregate']:<24}{agg['status']:<12}{agg['rows']:>10,}")
    lines.append("")
    failed = report.failed
    for outcome in failed:
        lines.append(
            f"  FAILED [{outcome['severity']}] {outcome['table_name']} {outcome['check_name']}: "
            f"{outcome['observed']}"
        )
    passed = len(report.expectations) - len(failed)
    lines.append(f"  {passed} of {len(report.expectations)} expectations passed")
    lines.append(f"  Data Docs: {report.data_docs}")
    return "\n".join(lines)


_STATUS_LINE = {
    "published": "published",
    "publishing": "PUBLICATION INTERRUPTED",
    "refused": "REFUSED: nothing published",
    "failed": "FAILED before its audit",
}
