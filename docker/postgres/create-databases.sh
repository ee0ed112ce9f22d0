#!/usr/bin/env bash
# Runs once, when the PostgreSQL volume is first initialised: the Iceberg REST catalog's
# JDBC store gets a database of its own beside Airflow's metadata database (POSTGRES_DB).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE \"${CATALOG_DB}\" OWNER \"${POSTGRES_USER}\""
