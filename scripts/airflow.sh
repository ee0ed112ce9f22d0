#!/usr/bin/env bash
# Start Airflow embedded (`airflow standalone`): the project's DAGs, a local Spark connection,
# the lakehouse pool, AIRFLOW_HOME under the viewership home, the UI on http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
REPO="$PWD"
export PATH="$REPO/.venv/bin:$PATH"   # spark-submit comes with the pinned PySpark
export VIEWERSHIP_HOME="${VIEWERSHIP_HOME:-$REPO/.home}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$VIEWERSHIP_HOME/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
# Local mode by default; point the connection at spark://host:7077 to use a cluster instead.
export AIRFLOW_CONN_SPARK_DEFAULT="${AIRFLOW_CONN_SPARK_DEFAULT:-{\"conn_type\": \"spark\", \"host\": \"local[*]\"\}}"
mkdir -p "$AIRFLOW_HOME"
airflow db migrate >/dev/null
# One slot for the embedded catalog; the DAGs read the same variable for their pool_slots.
airflow pools set viewership_lakehouse "${VIEWERSHIP_LAKEHOUSE_SLOTS:-1}" "Spark tasks on the lakehouse" >/dev/null
echo "Airflow home: $AIRFLOW_HOME; UI on http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT" >&2
echo "admin password: see $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" >&2
exec airflow standalone
