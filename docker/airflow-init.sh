#!/usr/bin/env bash
# The compose stack's one-shot Airflow init: migrate the metadata database, write the admin
# user's password (from docker/.env) where the simple auth manager reads it, and create the
# lakehouse pool that bounds concurrent Iceberg commits.
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
airflow pools set viewership_lakehouse "${VIEWERSHIP_LAKEHOUSE_SLOTS:-1}" \
  "concurrent Iceberg commits (one for the embedded SQLite catalog)"
mkdir -p /data/landing
echo "airflow-init: ready; sign in as ${AIRFLOW_ADMIN_USER} at http://127.0.0.1:8080"
