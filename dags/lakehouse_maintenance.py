"""
### lakehouse_maintenance

Weekly care of every Iceberg table through Iceberg's own procedures (`viewership maintain`):
region retention deletes (governance by user location, `VIEWERSHIP_REGION_RETENTION`),
`rewrite_data_files`, `rewrite_manifests`, dropping audit branches older than the snapshot
retention, `expire_snapshots` (`VIEWERSHIP_SNAPSHOT_RETENTION_DAYS`) and `remove_orphan_files`.
It takes every slot of the `viewership_lakehouse` pool, so it never runs beside a daily run's
Spark task (in the embedded profile, never commits at the same time as one).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from viewership.orchestration import (
    DEFAULT_ARGS,
    LAKEHOUSE_POOL,
    ViewershipSubmitOperator,
    lakehouse_slots,
    record_failure,
)

with DAG(
    dag_id="lakehouse_maintenance",
    schedule=CronDataIntervalTimetable("0 3 * * 0", timezone="UTC"),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "on_failure_callback": record_failure},
    tags=["viewership", "maintenance", "iceberg"],
    doc_md=__doc__,
) as dag:
    ViewershipSubmitOperator(
        task_id="maintain",
        command=["maintain", "--as-of", "{{ data_interval_end | ds }}"],
        pool=LAKEHOUSE_POOL,
        pool_slots=lakehouse_slots(),  # alone: it rewrites files under every reader
        execution_timeout=timedelta(hours=6),
    )
