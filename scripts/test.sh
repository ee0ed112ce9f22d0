#!/usr/bin/env bash
# Run the test suite (setting up first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Two workers (pytest-xdist): much of a test's time is a JVM starting, a subprocess or a
# scheduler waiting, which the other worker fills. Each starts on half the tests (the longest
# tiers first, tests/conftest.py) and steals from the other's queue when its own runs dry.
# `-n 0` runs everything in one process.
exec .venv/bin/python -m pytest -n "${VIEWERSHIP_TEST_WORKERS:-2}" --dist worksteal "$@"
