#!/usr/bin/env bash
# Set up the headless browser that the report's rendering test drives (tests/test_report_page.py);
# idempotent, quick when already done, and needed only by that test (it calls this itself):
#   - Chromium from Debian's packages
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup_browser: %s\n' "$*" >&2; }
fail() { printf 'setup_browser: error: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/debian.sh
. scripts/debian.sh
if ! command -v chromium >/dev/null 2>&1; then
  debian_install chromium Chromium
fi
say "ready: $(command -v chromium)"
