#!/usr/bin/env bash
# sge-down.sh - stop what sge-up.sh / sge-node.sh started: deletes all jobs, removes
# the extra exec hosts from the configuration, stops their execd, the local execd and
# the qmaster (by pid file only), deletes the namespaces, the bridge and the
# "# sge-local" lines in /etc/hosts. The packages and the base configuration stay.
set -uo pipefail
[ "$(id -u)" = 0 ] || { echo "sge-down.sh: run as root" >&2; exit 1; }
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
STATE=/var/lib/sge-local ESPOOL=/var/spool/gridengine/execd QSPOOL=/var/spool/gridengine/qmaster
pid_alive() {
  local p
  [ -s "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null); case "$p" in ''|*[!0-9]*) return 1;; esac
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && ! grep -qE '^State:[[:space:]]+Z' "/proc/$p/status" 2>/dev/null
}
stop_pid() {
  local p i
  pid_alive "$1" "$2" || return 0
  p=$(cat "$1"); kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 150); do pid_alive "$1" "$2" || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null; echo "killed $2 $p"
}
up=0; pid_alive "$QSPOOL/qmaster.pid" sge_qmaster && up=1
if [ "$up" = 1 ]; then
  timeout 10 qdel -u '*' '*' >/dev/null 2>&1 || true
  for i in $(seq 1 50); do [ -z "$(timeout 5 qstat -u '*' 2>/dev/null)" ] && break; sleep 0.2; done
fi
for f in "$STATE"/nodes/*.idx; do
  [ -e "$f" ] || continue
  n=${f##*/}; n=${n%.idx}
  if [ "$up" = 1 ]; then
    for g in $(qconf -shgrpl 2>/dev/null); do
      qconf -shgrp "$g" | grep -qw "$n" && qconf -dattr hostgroup hostlist "$n" "$g" >/dev/null 2>&1
    done
    qconf -de "$n" >/dev/null 2>&1; qconf -ds "$n" >/dev/null 2>&1
  fi
  stop_pid "$ESPOOL/$n/execd.pid" sge_execd
  ip netns del "sge-$n" 2>/dev/null
  ip link del "sgev$(cat "$f")" 2>/dev/null
  rm -f "$f" "$STATE/nodes/$n.hosts"
done
ME=$(cat "$STATE/master-name" 2>/dev/null || true)
[ -n "$ME" ] && stop_pid "$ESPOOL/$ME/execd.pid" sge_execd
stop_pid "$QSPOOL/qmaster.pid" sge_qmaster
sed -i '/# sge-local$/d' /etc/hosts
if [ -e "$STATE/bridge.created" ]; then ip link del sgebr0 2>/dev/null; rm -f "$STATE/bridge.created"; fi
echo "sge-down: stopped"
