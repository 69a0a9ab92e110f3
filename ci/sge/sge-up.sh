#!/usr/bin/env bash
# sge-up.sh - bring up a single-machine Grid Engine 8.1.9 (Debian 12 gridengine-*)
# cluster: qmaster + one execd on this host, queue all.q on hostgroup @allhosts,
# parallel environment smp, root allowed to submit, scheduler every second.
# Idempotent: installs the packages (debconf preseeded) if missing, (re)applies the
# configuration, starts whichever daemon is not running. More exec hosts, each in its
# own network namespace: sge-node.sh. Stop: sge-down.sh.
#
#   SGE_LOCAL_SLOTS   slots per host in all.q (default: 2)
# Run as root.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "sge-up.sh: run as root" >&2; exit 1; }
SLOTS=${SGE_LOCAL_SLOTS:-2}
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
COMMON=$SGE_ROOT/$SGE_CELL/common
QSPOOL=/var/spool/gridengine/qmaster
ESPOOL=/var/spool/gridengine/execd
STATE=/var/lib/sge-local
t0=$(date +%s)
log() { printf '[sge-up +%ss] %s\n' "$(( $(date +%s) - t0 ))" "$*"; }

clean_exec() {  # empty signal mask + default dispositions, then exec
  perl -MPOSIX -e '
    $SIG{$_} = "DEFAULT" for qw(HUP INT QUIT PIPE TERM USR1 USR2 ALRM CHLD);
    sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
    exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}
pid_alive() {  # pidfile comm
  local p
  [ -s "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null); case "$p" in ''|*[!0-9]*) return 1;; esac
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && ! grep -qE '^State:[[:space:]]+Z' "/proc/$p/status" 2>/dev/null
}

# ---------------------------------------------------------------- packages
if ! command -v sge_qmaster >/dev/null || ! command -v sge_execd >/dev/null || ! command -v qconf >/dev/null; then
  log "installing gridengine-master gridengine-exec gridengine-client (debconf preseeded)"
  export DEBIAN_FRONTEND=noninteractive
  h=$(hostname)
  for o in gridengine-common gridengine-client gridengine-master gridengine-exec; do
    printf '%s shared/gridengineconfig boolean true\n%s shared/gridenginecell string default\n%s shared/gridenginemaster string %s\n' "$o" "$o" "$o" "$h"
  done | debconf-set-selections
  # keep the init scripts (and exim4, pulled in for mail) from starting daemons
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends gridengine-master gridengine-exec gridengine-client iproute2 >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
  trap - EXIT
fi
[ -f "$COMMON/bootstrap" ] || { echo "no $COMMON/bootstrap: the gridengine-master postinst did not initialise a cell" >&2; exit 1; }
mkdir -p "$STATE"

# Fast path: both daemons up and configured by this very script (same content).
stamp=$(cksum < "$0" | awk '{print $1}')-$SLOTS
ME0=$(cat "$STATE/master-name" 2>/dev/null || true)
if [ -n "$ME0" ] && [ "$(cat "$STATE/configured" 2>/dev/null)" = "$stamp" ] \
   && pid_alive "$QSPOOL/qmaster.pid" sge_qmaster && pid_alive "$ESPOOL/$ME0/execd.pid" sge_execd \
   && qconf -sh >/dev/null 2>&1; then
  log "Grid Engine is already up (qmaster + execd on $ME0)"
  exit 0
fi
rm -f "$STATE/configured"

# ---------------------------------------------------------------- host names
# SGE wants the name a client claims (gethostname) to equal the name its address
# resolves back to. Here the host name usually resolves to 127.0.0.1, whose name is
# "localhost": alias the host name to localhost.
h=$(hostname)
if [ "$h" != localhost ] && getent ahostsv4 "$h" | awk '{print $1}' | grep -q '^127\.'; then
  if ! grep -qE "^localhost( |.* )$h( |$)" "$COMMON/host_aliases" 2>/dev/null; then
    echo "localhost $h" >> "$COMMON/host_aliases"
  fi
fi

# ---------------------------------------------------------------- qmaster
export SGE_MASTER_PIDFILE=$QSPOOL/qmaster.pid
if ! pid_alive "$QSPOOL/qmaster.pid" sge_qmaster; then
  log "starting sge_qmaster"
  ( cd / && clean_exec /usr/sbin/sge_qmaster )
  for i in $(seq 1 100); do qconf -sh >/dev/null 2>&1 && break; sleep 0.2; done
fi
qconf -sh >/dev/null || { echo "qmaster does not answer; see $QSPOOL/messages" >&2; tail -5 "$QSPOOL/messages" >&2; exit 1; }
ME=$(/usr/lib/gridengine/gethostname -aname)
echo "$ME" > "$STATE/master-name"

# ---------------------------------------------------------------- configuration
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# global config: allow root (uid 0) jobs
# and a dead exec host is noticed within max_unheard (20 s; default 5 min): execds report
# every 5 s (default 40 s), so a machine that dies without telling the qmaster (a crashed
# VM) turns unknown (u) in bounded time, as a scaler's administrator would configure it.
qconf -sconf global | grep -v '^#' | sed -E 's/^(min_uid|min_gid)[[:space:]].*/\1 0/; s/^load_report_time[[:space:]].*/load_report_time 00:00:05/; s/^max_unheard[[:space:]].*/max_unheard 00:00:20/' > "$tmp/global"
(cd "$tmp" && qconf -Mconf global >/dev/null)
# scheduler: every second instead of every 15 s
qconf -ssconf | sed -E 's/^schedule_interval[[:space:]].*/schedule_interval 0:0:1/' > "$tmp/sconf"
qconf -Msconf "$tmp/sconf" >/dev/null
qconf -ss 2>/dev/null | grep -qx "$ME" || qconf -as "$ME" >/dev/null
if ! qconf -sel 2>/dev/null | grep -qx "$ME"; then
  printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$ME" > "$tmp/eh"
  qconf -Ae "$tmp/eh" >/dev/null
fi
if ! qconf -shgrpl 2>/dev/null | grep -qx '@allhosts'; then
  printf 'group_name @allhosts\nhostlist %s\n' "$ME" > "$tmp/hg"; qconf -Ahgrp "$tmp/hg" >/dev/null
fi
if ! qconf -spl 2>/dev/null | grep -qx smp; then
  printf 'pe_name smp\nslots 9999\nuser_lists NONE\nxuser_lists NONE\nstart_proc_args NONE\nstop_proc_args NONE\nallocation_rule $pe_slots\ncontrol_slaves FALSE\njob_is_first_task TRUE\nurgency_slots min\naccounting_summary FALSE\nqsort_args NONE\n' > "$tmp/pe"
  qconf -Ap "$tmp/pe" >/dev/null
fi
if ! qconf -sql 2>/dev/null | grep -qx all.q; then
  qconf -sq 2>/dev/null | sed -E "s/^qname[[:space:]].*/qname all.q/; s/^hostlist[[:space:]].*/hostlist @allhosts/; s/^slots[[:space:]].*/slots $SLOTS/; s/^pe_list[[:space:]].*/pe_list smp/; s/^shell[[:space:]].*/shell \/bin\/sh/; s/^load_thresholds[[:space:]].*/load_thresholds NONE/" > "$tmp/q"
  qconf -Aq "$tmp/q" >/dev/null
else
  qconf -mattr queue slots "$SLOTS" all.q >/dev/null
fi
# A busy test machine (load 10+ on 2 cores) must not put the queues in alarm state.
qconf -sq all.q | grep -qE '^load_thresholds[[:space:]]+NONE$' || qconf -rattr queue load_thresholds NONE all.q >/dev/null

# ---------------------------------------------------------------- execd on this host
mkdir -p "$ESPOOL"; chown sgeadmin:sgeadmin "$ESPOOL"
if ! pid_alive "$ESPOOL/$ME/execd.pid" sge_execd; then
  log "starting sge_execd ($ME)"
  ( cd / && unset SGE_MASTER_PIDFILE && clean_exec /usr/sbin/sge_execd )
fi
for i in $(seq 1 100); do
  qhost -h "$ME" 2>/dev/null | awk -v h="$ME" '$1==h && $4!="-"{f=1} END{exit !f}' && break; sleep 0.2
done
echo "$stamp" > "$STATE/configured"
log "Grid Engine is up"
cat <<EOF

  Grid Engine $(qconf -help 2>&1 | head -1 | awk '{print $2}') qmaster + execd on "$ME"; queue all.q (@allhosts, $SLOTS slots/host), PE smp
  clients need: export SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL      (or . $COMMON/settings.sh)
  qhost -xml | qstat -xml -r -u '*' | qstat -f -xml | qstat -j ID
  echo 'hostname' | qsub -terse -o /tmp -e /tmp        # run a job (as root is allowed)
  qmod -d all.q@$ME ; qmod -e all.q@$ME                # disable / enable
  bash $(cd "$(dirname "$0")" && pwd)/sge-node.sh add NAME   # new exec host in its own netns
  bash $(cd "$(dirname "$0")" && pwd)/sge-down.sh             # stop what these scripts started
EOF
