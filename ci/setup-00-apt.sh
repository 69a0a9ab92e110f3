#!/usr/bin/env bash
# Debian packages the tests use: Chromium (dashboard and report in a real browser),
# promtool (the /metrics format check), wrk (bench/api's native load generator).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
