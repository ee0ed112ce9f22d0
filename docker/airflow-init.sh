#!/usr/bin/env bash
# The compose stack's one-shot Airflow init: migrate the metadata database, write the admin
# user's password (from docker/.env) where the simple auth manager reads it, and create the
# lakehouse pool that bounds the DAGs' Spark tasks.
set -euo pipefail
airflow db migrate
python - <<'PY'
import json
import os
from pathlib import Path

path = Path(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text(json.dumps({os.environ["AIRFLOW_ADMIN_USER"]: os.environ["AIRFLOW_ADMIN_PASSWORD"]}))
path.chmod(0o600)
PY
# With the REST catalog a date's aggregates may run side by side (each publishes its own table);
# ingestion and maintenance take every slot (pool_slots in the DAGs), so no aggregate publishes
# from a user-show fact that changed while it ran.
airflow pools set viewership_lakehouse "${VIEWERSHIP_LAKEHOUSE_SLOTS}" "Spark tasks on the lakehouse"
mkdir -p /data/landing
echo "airflow-init: ready; sign in as ${AIRFLOW_ADMIN_USER} at http://127.0.0.1:8080"
