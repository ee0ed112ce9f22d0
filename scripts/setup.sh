#!/usr/bin/env bash
# Set up everything the pipeline needs on this machine; idempotent, quick when already done.
#   - checks Python 3.11 and Java 17+
#   - creates .venv and installs the project with the pinned stack (constraints.txt)
#   - fetches the Iceberg Spark runtime and SQLite JDBC jars from Maven Central into a cache
#   - writes the driver JVM's class archive next to that cache (once; about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."

JAR_CACHE="${VIEWERSHIP_JAR_CACHE:-$HOME/.cache/viewership/jars}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

say() { printf 'setup: %s\n' "$*" >&2; }
fail() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Java 17+ (Spark 4 requires it).
command -v java >/dev/null 2>&1 || fail "Java 17 or newer is required (for example: apt-get install openjdk-17-jdk-headless)"
java_major=$(java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1])}')
[ "${java_major:-0}" -ge 17 ] || fail "Java 17 or newer is required, found Java ${java_major:-unknown}"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || fail "Python 3.11 is required (found $("$PYTHON" --version 2>&1))"

# Python environment, pinned by constraints.txt; reinstalled only when the pins change.
stamp=.venv/.installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  say "installing the Python stack into .venv (pinned by constraints.txt)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
  # pyspark-client (from Airflow's Spark provider) overwrites pyspark's files: prove they agree.
  .venv/bin/python - <<'PY'
from importlib.metadata import version
import pyspark
assert version("pyspark") == version("pyspark-client") == pyspark.__version__, (
    version("pyspark"), version("pyspark-client"), pyspark.__version__)
PY
  echo "$want" > "$stamp"
fi

# JVM jars from Maven Central, with the ordinary Maven client, cached outside git.
mkdir -p "$JAR_CACHE"
grep -v '^#' viewership/jars.txt | sed '/^$/d' | while read -r coordinate; do
  IFS=: read -r _group artifact ver <<<"$coordinate"
  if [ ! -s "$JAR_CACHE/$artifact-$ver.jar" ]; then
    say "fetching $coordinate"
    mvn -q -B dependency:copy -Dartifact="$coordinate" -DoutputDirectory="$JAR_CACHE" \
      || fail "could not fetch $coordinate from Maven Central"
  fi
done

# The driver JVM's class archive (jobs/class_archive.py): written once by a small run, it saves
# every later cold start seconds of class loading. Without it everything works, only slower.
.venv/bin/python -m jobs.class_archive \
  || say "warning: no JVM class archive was written; every Spark start will be a few seconds slower"
say "ready: .venv, jars in $JAR_CACHE"
