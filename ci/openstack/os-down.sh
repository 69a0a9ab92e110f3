#!/usr/bin/env bash
# os-down.sh - stops what os-up.sh started (only the pids in its pid files that carry
# os-up.sh's mark in their environment, with their process groups). Servers, images,
# users stay in the databases.
#   --purge   also delete $OS_LOCAL_DIR (databases, keys, passwords, logs)
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "os-down.sh: run as root" >&2; exit 1; }
BASE=${OS_LOCAL_DIR:-/var/lib/openstack-local}
RUN=$BASE/run
PURGE=0; [ "${1:-}" = --purge ] && PURGE=1
[ -d "$BASE" ] || { echo "nothing at $BASE"; exit 0; }

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
stop_pid() {
  local f=$1 p i
  if pid_alive "$f"; then
    p=$(cat "$f"); kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 100); do pid_alive "$f" || break; sleep 0.1; done
    if pid_alive "$f"; then echo "killing $(basename "$f" .pid) $p"; kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$f"
}

for s in nova-api nova-compute nova-scheduler nova-conductor neutron-stub placement glance-api keystone; do stop_pid "$RUN/$s.pid"; done
# RabbitMQ: ask the node to stop (its Erlang VM runs as the rabbitmq user), then the rest
if pid_alive "$RUN/rabbitmq.pid"; then
  ERL_EPMD_ADDRESS=127.0.0.1 timeout 60 rabbitmqctl -q -n rabbit@localhost stop >/dev/null 2>&1 || true
  stop_pid "$RUN/rabbitmq.pid"
fi
echo "os-down: stopped"
[ "$PURGE" = 1 ] && rm -rf "$BASE" && echo "os-down: removed $BASE"
exit 0
