"""Run one DAG with ``dag.test()`` for one logical date and print its task states as JSON.

A separate process: Airflow configures logging and its database from the environment, which
the calling test sets (AIRFLOW_HOME, VIEWERSHIP_HOME, the Spark connection).
"""

from __future__ import annotations

import json
import sys
from datetime import date

import pendulum
from airflow.dag_processing.dagbag import DagBag

from viewership.config import REPO_ROOT


def main(dag_id: str, day: str) -> None:
    dag = DagBag(dag_folder=REPO_ROOT / "dags").dags[dag_id]
    logical = date.fromisoformat(day)
    run = dag.test(logical_date=pendulum.datetime(logical.year, logical.month, logical.day))
    states = {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.rendered_map_index}]": [
            str(ti.state),
            ti.try_number,
        ]
        for ti in run.get_task_instances()
    }
    print(json.dumps({"state": str(run.state), "tasks": states}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
