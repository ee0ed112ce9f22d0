#!/usr/bin/env bash
# Quick start: set up, generate three days of synthetic data, run the pipeline, print the answers,
# then write their charts to .home/report.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
START=2026-11-01 END=2026-11-03
viewership generate --start "$START" --days 3 --events-per-day "${DEMO_EVENTS_PER_DAY:-50000}"
viewership run --date "$START" --through "$END"
for answer in top-shows genres co-watch; do
  echo; echo "== $answer $START..$END"
  viewership query "$answer" --start "$START" --end "$END" --limit 5
done
echo; echo "== signups $START..$END by region"
viewership query signups --start "$START" --end "$END" --by region
echo; echo "== the quality gate on $END"
viewership audit --date "$END"
echo; echo "== the report of $START..$END (open it in a browser; it works offline)"
mkdir -p .home
viewership report --start "$START" --end "$END" --out .home/report.html
