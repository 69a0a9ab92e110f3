#!/usr/bin/env bash
# Debian packages the tests use: Chromium (dashboard and report in a real browser),
# promtool (the /metrics format check), wrk (bench/api's native load generator),
# systemd (systemd-analyze verify of the shipped unit, ci/pack-check.sh; systemd
# need not run as PID 1 for that), openssl (the admin API's TLS test).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v promtool >/dev/null || need+=(prometheus)
command -v wrk >/dev/null || need+=(wrk)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
