"""What the Airflow DAGs call: cheap to import (no pyspark, no GX, no database at parse time).

The Spark work goes through spark-submit (Airflow's SparkSubmitOperator) running
``jobs/submit.py``, which is the ``viewership`` command line itself: the DAG and the CLI run
the same code. Spark properties come from the same ``viewership.spark.spark_conf`` the CLI
uses, computed when the task runs; the master comes from the Airflow connection
(``spark_default``, local mode unless pointed at a cluster).
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowFailException

from jobs.landing import feed_dir
from schemas.contract import FEEDS
from viewership.config import REPO_ROOT, load_settings
from viewership.errors import PublicationRefused

log = logging.getLogger("viewership.orchestration")

SUBMIT_APPLICATION = str(REPO_ROOT / "jobs" / "submit.py")
LAKEHOUSE_POOL = "viewership_lakehouse"


def lakehouse_slots() -> int:
    """The lakehouse pool's size, ``VIEWERSHIP_LAKEHOUSE_SLOTS`` (1 unless set).

    One slot serialises every Spark task, which the embedded catalog needs. With a REST catalog
    the pool may be larger so that a date's aggregates run side by side (each writes its own
    table). Tasks that change the inputs every aggregate reads (ingestion) or rewrite files
    under them (maintenance) take all the slots, so no aggregate ever publishes from an input
    that changed while it ran.
    """
    value = os.environ.get("VIEWERSHIP_LAKEHOUSE_SLOTS", "1")
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"VIEWERSHIP_LAKEHOUSE_SLOTS must be a positive whole number: {value!r}")
    return int(value)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": "viewership",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}
_EXIT_CODE = re.compile(r"Error code is: (\d+)")


class ViewershipSubmitOperator(SparkSubmitOperator):
    """spark-submit of one ``viewership`` command, with the pipeline's Spark properties.

    A refusal by the quality gate (exit code 3) fails the task without retrying: the data, not
    the machine, is wrong, and a person must look (``viewership audit --date D``).
    """

    def __init__(self, *, command: list[str], **kwargs: Any) -> None:
        super().__init__(
            application=SUBMIT_APPLICATION,
            application_args=command,
            name=f"viewership-{command[0]}",
            **kwargs,
        )

    def execute(self, context: Any) -> None:
        from viewership.spark import spark_conf  # imports pyspark: only when the task runs

        self.conf = {**spark_conf(load_settings()), **(self.conf or {})}
        try:
            super().execute(context)
        except Exception as exc:
            code = _EXIT_CODE.search(str(exc))
            if code and int(code.group(1)) == PublicationRefused.exit_code:
                raise AirflowFailException(
                    "the quality gate refused the run; nothing was published "
                    f"(see viewership audit --date {context['ds']})"
                ) from exc
            raise


def landing_arrived(day: str) -> bool:
    """The date's landing zone has at least one feed folder (a missing feed is zero rows)."""
    landing = load_settings().landing
    return any(feed_dir(landing, feed, date.fromisoformat(day)).is_dir() for feed in FEEDS)


def aggregate_tasks() -> int | None:
    """How many mapped tasks share a date's aggregates, ``VIEWERSHIP_AGGREGATE_TASKS``.

    Unset, each aggregate is a task (and a Spark application) of its own: its own log, retry
    and state in the UI. Every application pays its start-up (JVMs, Python imports, catalog
    loads; about 40 CPU-seconds on a small machine, more than a small aggregate's work), so a
    small cluster may deal the aggregates into fewer tasks, each running its share one after
    the other in one application, every aggregate still in a Write-Audit-Publish cycle of its
    own. Set it to the pool's slots to keep them all busy.
    """
    value = os.environ.get("VIEWERSHIP_AGGREGATE_TASKS", "")
    if not value:
        return None
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"VIEWERSHIP_AGGREGATE_TASKS must be a positive whole number: {value!r}")
    return int(value)


def aggregate_commands(day: str, run_id: str) -> list[list[str]]:
    """The ``viewership aggregate`` commands of the DAG's mapped tasks, one per aggregate or
    ``aggregate_tasks()`` of them with the aggregates dealt in turn.

    Names come from the aggregates package without importing it, so a broken declaration
    fails its own task with the reason while the other aggregates run.
    """
    from aggregates import names

    declared = names()
    tasks = min(aggregate_tasks() or len(declared), len(declared))
    shares = [declared[i::tasks] for i in range(tasks)]
    return [["aggregate", "--date", day, "--run-id", run_id, *share] for share in shares]


def check_published(day: str, commands: list[list[str]] | None = None) -> str:
    """Fail unless the date's latest run and every aggregate published; log the warnings."""
    from viewership.report import latest_audit

    report = latest_audit(load_settings(), date.fromisoformat(day))
    if report is None or report.status != "published":
        status = "no run" if report is None else report.status
        raise AirflowFailException(f"{day} is not published ({status})")
    missing = report.unpublished([name for command in commands or [] for name in command[5:]])
    if missing:
        raise AirflowFailException(f"{day}: aggregate(s) not published: {', '.join(missing)}")
    warned = [f"{e['table_name']} {e['check_name']}" for e in report.failed]
    if warned:
        log.warning("%s published with warnings: %s", day, ", ".join(warned))
    return f"{day} published by run {report.run_id} with {len(report.aggregates)} aggregate(s)"


def record_failure(context: Any) -> None:
    """Failure callback: put the failed task in the run log, where `viewership audit` reads."""
    import pyarrow as pa

    from schemas import tables as T
    from viewership.catalog import load_catalog

    settings = load_settings()
    task = context["task_instance"]
    row = {
        "run_id": str(context["run_id"]),
        "logical_date": date.fromisoformat(context["ds"]),
        "feed": "*",
        "status": "failed",
        "lines_read": 0,
        "accepted": 0,
        "duplicates": 0,
        "quarantined": 0,
        "reconciled": True,
        "branch": None,
        "message": f"task {task.task_id} failed: {str(context.get('exception'))[:500]}",
        "recorded_at": datetime.now(UTC),
    }
    try:
        table = load_catalog(settings).load_table(T.RUN_LOG.identifier)
        table.append(pa.Table.from_pylist([row], schema=table.schema().as_arrow()))
    except Exception:  # the callback must never hide the task's own failure
        log.exception("could not record the failure of %s in the run log", task.task_id)
