#!/usr/bin/env bash
# Stops the moto server of ci/setup-40-moto.sh (by its pid file; the unpacked source stays).
set -uo pipefail
PORT="${MOTO_PORT:-5055}"; BASE=/var/lib/dyncluster-moto; PID="$BASE/moto-$PORT.pid"
[ -f "$PID" ] || exit 0
p=$(cat "$PID")
if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "-m moto.server -H 127.0.0.1 -p $PORT\b"; then
  kill "$p"; for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null
fi
rm -f "$PID"
