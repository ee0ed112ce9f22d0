#!/usr/bin/env bash
# Set up what the live test tier's native stack runs (tests/live_stack.py); idempotent, quick
# when already done, and needed only by that tier (pytest -m "not live" skips both):
#   - PostgreSQL's server from Debian's packages (Airflow's metadata, the catalog's store)
#   - the Iceberg REST catalog server's classpath, from Maven Central (docker/rest-catalog/pom.xml)
#   - moto's S3 server, from PyPI, in a virtualenv of its own (its botocore pins conflict with
#     the pipeline's stack, and nothing of the pipeline imports it: it is a service)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${VIEWERSHIP_CACHE:-$HOME/.cache/viewership}"
MOTO_VERSION=5.2.5
say() { printf 'setup_live: %s\n' "$*" >&2; }
fail() { printf 'setup_live: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/debian.sh
. scripts/debian.sh
if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  debian_install postgresql "PostgreSQL's server"
fi

iceberg=$(sed -n 's:.*<iceberg.version>\(.*\)</iceberg.version>.*:\1:p' docker/rest-catalog/pom.xml)
rest="$CACHE/rest-catalog-$iceberg"
if [ ! -f "$rest/.complete" ]; then
  say "fetching the Iceberg $iceberg REST catalog server's classpath"
  mvn -q -B -f docker/rest-catalog/pom.xml dependency:copy-dependencies -DoutputDirectory="$rest" \
    || fail "could not fetch the REST catalog's jars from Maven Central"
  touch "$rest/.complete"
fi

moto="$CACHE/moto-$MOTO_VERSION"
if [ ! -x "$moto/bin/moto_server" ]; then
  say "installing moto $MOTO_VERSION's S3 server into $moto"
  python3 -m venv "$moto"
  "$moto/bin/pip" install --quiet "moto[server]==$MOTO_VERSION" || fail "could not install moto"
fi
say "ready: PostgreSQL, $rest, $moto"
