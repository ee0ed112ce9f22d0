"""The file spark-submit runs: the ``viewership`` command line inside spark-submit's driver.

Airflow's SparkSubmitOperator needs a Python file, not a console script; this one hands its
arguments to the same ``viewership.cli.main`` that ``viewership run`` executes, so the DAG and
the CLI cannot drift apart. The master comes from spark-submit (the Airflow connection).
"""

from __future__ import annotations

import sys

from viewership.cli import main

if __name__ == "__main__":
    sys.exit(main())
