#!/usr/bin/env bash
# The compose stack's one-shot Airflow init: migrate the metadata database, write the admin
# user's password (from docker/.env) where the simple auth manager reads it, and create the
# lakehouse pool that serialises the DAGs' Spark tasks.
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
# One slot, also with the REST catalog: an aggregate task reads the user-show fact and publishes
# in one go, and only serialised tasks keep a later date's run from being overwritten by an
# earlier date's task that read the fact before it.
airflow pools set viewership_lakehouse 1 "one Spark task on the lakehouse at a time"
mkdir -p /data/landing
echo "airflow-init: ready; sign in as ${AIRFLOW_ADMIN_USER} at http://127.0.0.1:8080"
