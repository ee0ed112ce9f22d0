"""Erasure of one user (the right to be forgotten): every row, every branch, every old snapshot.

A request holds the embedded profile's commit lock and runs three steps:

1. Row-level deletes through Spark (``MERGE ... WHEN MATCHED THEN DELETE``; the tables are
   copy-on-write, so the data files that held the user are rewritten without them), on main and
   on every audit branch a refused run kept: silver by ``user_id``, gold by the user's
   pseudonym, bronze raw and quarantined lines wherever the id stands in the line as a token.
2. The quality gate's records (``ops.audit_results`` and GX's result files and Data Docs)
   have the id replaced by ``[erased]``: a failed check may have quoted the user's rows.
3. Snapshot expiry of every table step 1 changed, down to its heads: the files that still held
   the user go with the snapshots that referenced them. Time travel to before the request
   ends there, by design.

The user id never reaches SQL as text: it travels in a one-row view or as a regex literal of the
DataFrame API. The request is logged in ``ops.erasures`` by a SHA-256 of the id, never the id.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.wap import branches, staging
from schemas import tables as T
from viewership import pseudonyms
from viewership.config import Settings
from viewership.errors import UsageError
from viewership.locking import commit_lock

log = logging.getLogger("viewership.forget")

ERASED = "[erased]"
# Tables whose rows belong to one user, by the user_id column.
USER_TABLES: tuple[T.TableDef, ...] = (T.VIEWING_EVENTS, T.SIGNUPS, T.USER_SHOW_DAILY)
# Tables that keep lines as they arrived: the id is found in the line's text.
LINE_TABLES: tuple[T.TableDef, ...] = (T.VIEWING_EVENTS_RAW, T.SIGNUPS_RAW, T.QUARANTINE)
# Text columns of the gate's records that may quote rows.
AUDIT_TEXT = ("observed", "details")
# Characters that continue an id: a match must not be part of a longer one ("u1" in "u10").
_ID_CHARS = r"A-Za-z0-9_\-"
_MAX_ID = 64
_MAX_REQUESTER = 200


@dataclass
class ErasureReport:
    """What one request removed, per table and branch, and what it scrubbed."""

    request_id: str
    user_sha256: str
    requested_at: datetime
    requested_by: str
    deleted: dict[str, int] = field(default_factory=dict)
    audit_rows_scrubbed: int = 0
    quality_files_scrubbed: int = 0
    expired_files: dict[str, int] = field(default_factory=dict)

    @property
    def rows_deleted(self) -> int:
        return sum(self.deleted.values())


def user_sha256(user_id: str) -> str:
    """The form in which the erasure log keeps a user: enough to recognise, not to read."""
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def spellings(user_id: str) -> list[str]:
    """The id as a line or a page may spell it: verbatim, JSON-escaped, and HTML-escaped."""
    forms = [
        user_id,
        json.dumps(user_id)[1:-1],
        json.dumps(user_id, ensure_ascii=False)[1:-1],
        html.escape(user_id),
    ]
    return sorted(set(forms), key=forms.index)


def token_pattern(user_id: str) -> str:
    """A Java and Python regex matching the id (any spelling) as a whole token."""
    alternatives = "|".join(_quote(form) for form in spellings(user_id))
    return f"(?<![{_ID_CHARS}])(?:{alternatives})(?![{_ID_CHARS}])"


def _quote(text: str) -> str:
    # A backslash before an ASCII character that is not a letter or digit makes it literal, in
    # java.util.regex as in re; other characters are never metacharacters.
    return "".join("\\" + c if c.isascii() and not c.isalnum() else c for c in text)


def check_user_id(user_id: str) -> str:
    """The contract's user ids are 1 to 64 characters; anything else cannot be in the tables."""
    if not 1 <= len(user_id) <= _MAX_ID or user_id != user_id.strip() or not user_id.isprintable():
        raise UsageError(
            f"--user must be a user id as the feeds carry it (1-{_MAX_ID} printable characters, "
            "no surrounding spaces)"
        )
    return user_id


def check_requester(requested_by: str) -> str:
    """Who asked: a name, an e-mail or a ticket, kept as given in the erasure log."""
    requested_by = requested_by.strip()
    if not 1 <= len(requested_by) <= _MAX_REQUESTER or not requested_by.isprintable():
        raise UsageError(
            f"--requested-by must name who asked (1-{_MAX_REQUESTER} printable characters)"
        )
    return requested_by


def _matches_line(column: str, pattern: str) -> Column:
    return F.col(column).cast("string").rlike(pattern)


def _delete_matching(
    spark: SparkSession, table: T.TableDef, doomed: DataFrame, keys: list[str], label: str
) -> int:
    """Delete the target rows whose keys are in ``doomed`` (the branch read is the one staged)."""
    count = doomed.count()
    if count:
        view = f"forget_{uuid.uuid4().hex}"
        doomed.select(*keys).distinct().createOrReplaceTempView(view)
        on = " AND ".join(f"t.{k} <=> d.{k}" for k in keys)
        try:
            spark.sql(
                f"MERGE INTO {table.spark_name} t USING {view} d ON {on} WHEN MATCHED THEN DELETE"
            )
        finally:
            spark.catalog.dropTempView(view)
        log.info("deleted %s row(s) from %s", f"{count:,}", label)
    return count


def _erase_rows(
    spark: SparkSession, user_id: str, pseudonym: str, report: ErasureReport
) -> list[T.TableDef]:
    """Delete the user's rows on every branch of every table that holds them."""
    pattern = token_pattern(user_id)
    changed = []
    for table in USER_TABLES + LINE_TABLES:
        touched = False
        for branch in sorted(branches(spark, table)) or ["main"]:
            # spark.wap.branch routes the MERGE's read and write to the branch.
            with staging(spark, branch) if branch != "main" else nullcontext():
                rows = spark.table(table.spark_name)
                if table in USER_TABLES:
                    # Gold knows the user by pseudonym only (viewership/pseudonyms.py).
                    known_as = pseudonym if table is T.USER_SHOW_DAILY else user_id
                    doomed = rows.where(F.col("user_id") == F.lit(known_as))
                    keys = ["user_id"]
                else:
                    doomed = rows.where(_matches_line("raw_line", pattern))
                    keys = [f.name for f in table.schema.fields if f.name != "raw_line"]
                label = f"{table.identifier}@{branch}"
                deleted = _delete_matching(spark, table, doomed, keys, label)
            report.deleted[label] = deleted
            touched = touched or deleted > 0
        if touched:
            changed.append(table)
    return changed


def _scrub_audit_results(spark: SparkSession, user_id: str, report: ErasureReport) -> bool:
    """Replace the id in the gate's recorded verdicts; the verdicts themselves stay."""
    pattern = token_pattern(user_id)
    audit = spark.table(T.AUDIT_RESULTS.spark_name)
    quoting = audit.where(
        F.greatest(*(F.col(c).rlike(pattern) for c in AUDIT_TEXT)).cast("boolean")
    )
    keys = [f.name for f in T.AUDIT_RESULTS.schema.fields if f.name not in AUDIT_TEXT]
    scrubbed = quoting.select(
        *keys, *(F.regexp_replace(c, pattern, ERASED).alias(c) for c in AUDIT_TEXT)
    ).localCheckpoint()
    report.audit_rows_scrubbed = scrubbed.count()
    if not report.audit_rows_scrubbed:
        return False
    view = f"forget_{uuid.uuid4().hex}"
    scrubbed.createOrReplaceTempView(view)
    on = " AND ".join(f"t.{k} <=> s.{k}" for k in keys)
    updates = ", ".join(f"t.{c} = s.{c}" for c in AUDIT_TEXT)
    try:
        spark.sql(
            f"MERGE INTO {T.AUDIT_RESULTS.spark_name} t USING {view} s ON {on} "
            f"WHEN MATCHED THEN UPDATE SET {updates}"
        )
    finally:
        spark.catalog.dropTempView(view)
    return True


def scrub_quality_files(root: Path, user_id: str) -> int:
    """Replace the id in GX's stored results and rendered Data Docs; returns files changed."""
    if not root.is_dir():
        return 0
    pattern = re.compile(token_pattern(user_id))
    changed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        text = path.read_text("utf-8", errors="surrogateescape")
        scrubbed = pattern.sub(ERASED, text)
        if scrubbed != text:
            path.write_text(scrubbed, "utf-8", errors="surrogateescape")
            changed += 1
    return changed


def _expire_to_heads(spark: SparkSession, table: T.TableDef, report: ErasureReport) -> None:
    """Expire every snapshot but the branch heads: the user's old files are deleted with them."""
    # A minute ahead of now: every snapshot so far is older; the heads are kept regardless.
    after = datetime.now(UTC) + timedelta(minutes=1)
    row = spark.sql(
        f"CALL lake.system.expire_snapshots(table => '{table.identifier}', "
        f"older_than => TIMESTAMP '{after:%Y-%m-%d %H:%M:%S}', retain_last => 1)"
    ).first()
    report.expired_files[table.identifier] = row["deleted_data_files_count"] if row else 0


def _log_request(spark: SparkSession, report: ErasureReport) -> None:
    row = (
        report.request_id,
        report.user_sha256,
        report.requested_at,
        report.rows_deleted,
        report.audit_rows_scrubbed,
        report.quality_files_scrubbed,
        json.dumps(report.deleted, sort_keys=True),
        report.requested_by,
    )
    schema = spark.table(T.ERASURES.spark_name).schema
    spark.createDataFrame([row], schema).writeTo(T.ERASURES.spark_name).append()


def forget(
    spark: SparkSession, settings: Settings, user_id: str, requested_by: str
) -> ErasureReport:
    """Erase one user from every table, branch and kept snapshot, and log the request and who
    made it (an erasure must be answerable for, as the deletion it is)."""
    user_id = check_user_id(user_id)
    report = ErasureReport(
        request_id=uuid.uuid4().hex,
        user_sha256=user_sha256(user_id),
        requested_at=datetime.now(UTC),
        requested_by=check_requester(requested_by),
    )
    with commit_lock(settings):
        T.ensure_tables(spark, T.ALL_TABLES)
        gold_id = pseudonyms.pseudonym(user_id, pseudonyms.key(settings))
        changed = _erase_rows(spark, user_id, gold_id, report)
        if _scrub_audit_results(spark, user_id, report):
            changed.append(T.AUDIT_RESULTS)
        report.quality_files_scrubbed = scrub_quality_files(
            settings.gx_root / "uncommitted", user_id
        )
        for table in changed:
            _expire_to_heads(spark, table, report)
        _log_request(spark, report)
    return report
