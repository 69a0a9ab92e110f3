#!/usr/bin/env bash
# sge-queue.sh - a queue of its own for a test suite, on the cluster made by
# sge-up.sh, so suites that run at the same time do not see each other's jobs:
#   sge-queue.sh add QUEUE @HOSTGROUP [SLOTS]   hostgroup (empty) + queue on it
#                                               (PE smp, /bin/sh, no load thresholds)
# The queue also lists the master host with 0 slots there: qsub refuses a queue
# without any queue instance, and jobs must wait until exec hosts join the group.
#   sge-queue.sh del QUEUE @HOSTGROUP           deletes its jobs, the queue and the group
# Idempotent. Run as root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "sge-queue.sh: run as root" >&2; exit 1; }
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
cmd=${1:-help} q=${2:-} g=${3:-} slots=${4:-2}
case "$q" in ''|*[!A-Za-z0-9._-]*) echo "bad queue name '$q'" >&2; exit 1;; esac
case "$g" in @*) ;; *) echo "bad host group '$g' (starts with @)" >&2; exit 1;; esac
case "$g" in @|*[!@A-Za-z0-9._-]*) echo "bad host group '$g'" >&2; exit 1;; esac
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
case "$cmd" in
add)
  if ! qconf -shgrpl 2>/dev/null | grep -qx -- "$g"; then
    printf 'group_name %s\nhostlist NONE\n' "$g" > "$tmp/hg"; qconf -Ahgrp "$tmp/hg" >/dev/null
  fi
  me=$(cat /var/lib/sge-local/master-name)
  if ! qconf -sql 2>/dev/null | grep -qx -- "$q"; then
    qconf -sq 2>/dev/null | sed -E "s/^qname[[:space:]].*/qname $q/; s/^hostlist[[:space:]].*/hostlist $g $me/; s/^slots[[:space:]].*/slots $slots,[$me=0]/; s/^pe_list[[:space:]].*/pe_list smp/; s/^shell[[:space:]].*/shell \/bin\/sh/; s/^load_thresholds[[:space:]].*/load_thresholds NONE/" > "$tmp/q"
    qconf -Aq "$tmp/q" >/dev/null
  fi
  echo "queue $q on $g ready" ;;
del)
  for j in $(qstat -u '*' -q "$q" 2>/dev/null | awk 'NR>2{print $1}' | sort -u); do qdel -f "$j" >/dev/null 2>&1 || true; done
  for j in $(qstat -u '*' -xml -r 2>/dev/null | awk -v q="$q" '/<JB_job_number>/{gsub(/<[^>]*>| /,"");id=$0} /<hard_req_queue>/{gsub(/<[^>]*>| /,""); if ($0==q) print id}'); do
    qdel -f "$j" >/dev/null 2>&1 || true
  done
  qconf -dq "$q" >/dev/null 2>&1 || true
  qconf -dhgrp "$g" >/dev/null 2>&1 || true
  echo "queue $q and $g deleted" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
esac
