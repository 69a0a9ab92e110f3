#!/usr/bin/env bash
# slurm-up.sh - bring up a private, single-machine Slurm 22.05 cluster on Debian 12.
#
# Idempotent: installs the Debian packages if missing, writes the config, starts
# a private munged, slurmctld and N slurmd ("static nodes"), waits until they are
# idle, prints how to use it. Running it again while the cluster is up with the
# same settings only (re)starts missing static nodes. If the settings changed, it
# restarts the cluster it started before (by pid file).
#
# Usage:  bash slurm-up.sh [N_STATIC_NODES]           (run as root)
# Stop:   bash slurm-down.sh [--purge]
# Nodes:  bash slurm-node.sh help                      (add/remove nodes later)
#
# Settings (environment, all optional):
#   SLURM_LOCAL_DIR        state/log/pid dir            (default /var/lib/slurm-local)
#   SLURM_LOCAL_NODES      static nodes node1..N        (default 2; or 1st argument)
#   SLURM_LOCAL_FUTURE     predefined State=FUTURE nodes fut1..M, started on demand
#                          with `slurm-node.sh start futX`          (default 4)
#   SLURM_LOCAL_CLOUD      predefined State=CLOUD nodes cloud1..K in partition
#                          "cloud", powered up/down by Slurm itself (ResumeProgram)
#                                                       (default 2; 0 disables power saving)
#   SLURM_LOCAL_CPUS       CPUs per node (may exceed the real core count)  (default 2)
#   SLURM_LOCAL_MEM_MB     RealMemory per node, MB      (default 1000)
#   SLURM_LOCAL_CTLD_PORT  slurmctld port               (default 6817)
#   SLURM_LOCAL_SLURMD_PORT port of dynamic nodes' slurmd (default 6818)
#   SLURM_LOCAL_PORT_BASE  static node i -> BASE+i, fut j -> BASE+100+j,
#                          cloud k -> BASE+200+k        (default 17000)
#   SLURM_LOCAL_NETNS      1 = make a private bridge with 127.x/16 addresses so that
#                          dynamic nodes can run in their own network namespaces
#                          (several at once); all daemons then use NET_PREFIX.0.1
#                          instead of 127.0.0.1. 0 = plain 127.0.0.1, at most one
#                          dynamic node at a time.  (default 1; falls back to 0 if
#                          the bridge cannot be made)
#   SLURM_LOCAL_NET_PREFIX two octets of that 127.x/16 range  (default 127.201)
#   SLURM_LOCAL_SUSPEND_TIME  idle seconds before Slurm powers a cloud node down (default 30)
#   SLURM_LOCAL_CLUSTER    ClusterName                  (default localcluster)
#   SLURM_LOCAL_FRESH      1 = wipe controller/job state when starting a stopped
#                          cluster (job ids restart at 1)  (default 1)
#   SLURM_LOCAL_LINK_ETC   1 = symlink /etc/slurm/slurm.conf to the generated config
#                          when that path is free, so plain `sinfo` works (default 1)
#   SLURM_LOCAL_EXTRA_CONF a file whose lines are appended to slurm.conf (more node
#                          sets and partitions; dyncluster: ci/slurm/dyncluster.conf)
#
# dyncluster's copy (the recipe is ../../shared/recipes/slurm-up.sh) adds
# SLURM_LOCAL_EXTRA_CONF, waits for the dpkg lock instead of failing when another
# installer runs, and lets a test take over Slurm's power saving: when
# $SLURM_LOCAL_DIR/etc/power-hook is executable, ResumeProgram/SuspendProgram run
# `power-hook resume|suspend HOSTLIST` instead of starting/stopping a local slurmd.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "slurm-up.sh: run as root" >&2; exit 1; }

BASE=${SLURM_LOCAL_DIR:-/var/lib/slurm-local}
NODES=${1:-${SLURM_LOCAL_NODES:-2}}
FUTURE=${SLURM_LOCAL_FUTURE:-4}
CLOUD=${SLURM_LOCAL_CLOUD:-2}
CPUS=${SLURM_LOCAL_CPUS:-2}
MEM=${SLURM_LOCAL_MEM_MB:-1000}
CTLD_PORT=${SLURM_LOCAL_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_LOCAL_SLURMD_PORT:-6818}
PORT_BASE=${SLURM_LOCAL_PORT_BASE:-17000}
NET_PREFIX=${SLURM_LOCAL_NET_PREFIX:-127.201}
NETNS=${SLURM_LOCAL_NETNS:-1}
SUSPEND_TIME=${SLURM_LOCAL_SUSPEND_TIME:-30}
CLUSTER=${SLURM_LOCAL_CLUSTER:-localcluster}
FRESH=${SLURM_LOCAL_FRESH:-1}
LINK_ETC=${SLURM_LOCAL_LINK_ETC:-1}
EXTRA_CONF=${SLURM_LOCAL_EXTRA_CONF:-}
[ -z "$EXTRA_CONF" ] || [ -r "$EXTRA_CONF" ] || { echo "slurm-up.sh: SLURM_LOCAL_EXTRA_CONF $EXTRA_CONF is not readable" >&2; exit 1; }

[[ "$NET_PREFIX" =~ ^127\.([1-9][0-9]{0,2})$ ]] && [ "${BASH_REMATCH[1]}" -le 255 ] \
  || { echo "SLURM_LOCAL_NET_PREFIX must be 127.N with N in 1..255, got '$NET_PREFIX'" >&2; exit 1; }
for v in NODES FUTURE CLOUD CPUS MEM CTLD_PORT SLURMD_PORT PORT_BASE SUSPEND_TIME; do
  case "${!v}" in ''|*[!0-9]*) echo "slurm-up.sh: $v must be a number, got '${!v}'" >&2; exit 1;; esac
done
[ "$NODES" -le 99 ] && [ "$FUTURE" -le 99 ] && [ "$CLOUD" -le 99 ] || { echo "at most 99 nodes per kind" >&2; exit 1; }

t_start=$(date +%s)
log() { printf '[slurm-up +%ss] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }

# ---------------------------------------------------------------- packages
need_install=0
for c in slurmctld slurmd sinfo munged mungekey ip nsenter unshare perl setpriv; do
  command -v "$c" >/dev/null 2>&1 || need_install=1
done
if [ "$need_install" = 1 ]; then
  log "installing Debian packages (slurmctld slurmd slurm-client munge iproute2)"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the packages' init scripts from starting a system slurmctld/slurmd/munged
  # (they would use /etc/munge/munge.key and /etc/slurm/slurm.conf, not ours).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends slurmctld slurmd slurm-client munge iproute2 perl-base util-linux >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
  trap - EXIT
fi
id munge >/dev/null 2>&1 || { echo "user 'munge' missing (munge package broken?)" >&2; exit 1; }

# ---------------------------------------------------------------- helpers
# Start a program with an empty signal mask and default dispositions: daemons
# started from a process that blocks signals (e.g. slurmctld's ResumeProgram)
# otherwise hang or ignore SIGTERM.
clean_exec() {
  perl -MPOSIX -e '
    $SIG{$_} = "DEFAULT" for qw(HUP INT QUIT PIPE TERM USR1 USR2 ALRM CHLD);
    sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
    exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}
# pid_alive PIDFILE COMM -> true if the pid in PIDFILE runs a process named COMM
pid_alive() {
  local f=$1 comm=$2 p
  [ -s "$f" ] || return 1
  p=$(cat "$f" 2>/dev/null) || return 1
  case "$p" in ''|*[!0-9]*) return 1;; esac
  [ -r "/proc/$p/comm" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] \
    && ! grep -qE '^State:[[:space:]]+Z' "/proc/$p/status" 2>/dev/null   # zombie = gone
}
# stop_pid PIDFILE COMM: TERM, wait up to 15s, then KILL; only that pid.
stop_pid() {
  local f=$1 comm=$2 p i
  if pid_alive "$f" "$comm"; then
    p=$(cat "$f"); kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 150); do pid_alive "$f" "$comm" || break; sleep 0.1; done
    if pid_alive "$f" "$comm"; then kill -KILL "$p" 2>/dev/null || true; sleep 0.2; fi
  fi
  rm -f "$f"
}
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

ETC=$BASE/etc RUN=$BASE/run LOGD=$BASE/log
CONF=$ETC/slurm.conf
CTLD_PID=$RUN/slurmctld.pid
MUNGE_SOCK=$BASE/munge-run/munge.socket
MUNGE_PID=$BASE/munge-run/munged.pid

mkdir -p "$BASE" "$ETC" "$RUN" "$LOGD" "$BASE/ctld" "$BASE/spool" "$BASE/bin" "$RUN/netns"
chmod 755 "$BASE"

# ---------------------------------------------------------------- network
# With NETNS=1 every daemon uses $NET_PREFIX.0.1, an address on a private bridge
# (slurmbr0) that is also reachable from the network namespaces slurm-node.sh makes
# for dynamic nodes: 127.0.0.1 would mean "myself" inside each namespace. The host
# keeps 127.0.0.0/8 on lo; a more specific route for $NET_PREFIX.0.0/16 in the local
# table sends that /16 to the bridge, and route_localnet lets 127.x addresses cross
# the bridge. Nothing is routed anywhere else.
BR=slurmbr0
ensure_bridge() {
  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add "$BR" type bridge || return 1
    touch "$RUN/bridge.created"
  fi
  sysctl -qw "net.ipv6.conf.$BR.disable_ipv6=1" 2>/dev/null || true
  ip addr replace "$NET_PREFIX.0.1/16" dev "$BR" &&
  ip link set "$BR" up &&
  sysctl -qw "net.ipv4.conf.$BR.route_localnet=1" &&
  ip route replace "$NET_PREFIX.0.0/16" dev "$BR" src "$NET_PREFIX.0.1" table local
}
if [ "$NETNS" = 1 ]; then
  if ! ensure_bridge 2>"$RUN/bridge.err"; then
    log "warning: cannot make bridge $BR ($(head -1 "$RUN/bridge.err")); using 127.0.0.1, one dynamic node at most"
    [ -e "$RUN/bridge.created" ] && { ip link del "$BR" 2>/dev/null || true; rm -f "$RUN/bridge.created"; }
    NETNS=0
  fi
fi
if [ "$NETNS" != 1 ] && [ -e "$RUN/bridge.created" ] && ! compgen -G "$RUN/netns/*.idx" >/dev/null; then
  ip link del "$BR" 2>/dev/null || true; rm -f "$RUN/bridge.created"   # left from an earlier NETNS=1 run
fi
if [ "$NETNS" = 1 ]; then ADDR=$NET_PREFIX.0.1; else ADDR=127.0.0.1; fi

# ---------------------------------------------------------------- config
node_line() { # name port state feature
  echo "NodeName=$1 NodeHostname=localhost NodeAddr=$ADDR Port=$2 CPUs=$CPUS RealMemory=$MEM State=$3 Feature=$4"
}
gen_conf() {
  cat <<EOF
# Generated by slurm-up.sh - private single-machine cluster. Do not edit; rerun slurm-up.sh.
ClusterName=$CLUSTER
SlurmctldHost=localhost($ADDR)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
SlurmUser=root
StateSaveLocation=$BASE/ctld
SlurmdSpoolDir=$BASE/spool/%n
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOGD/slurmctld.log
SlurmdLogFile=$LOGD/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups, no accounting daemon
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGD/jobcomp.log
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# node CPUs/memory come from this file, not from the hardware
SlurmdParameters=config_overrides
ReturnToService=2
SlurmdTimeout=30
KillWait=5
MinJobAge=300
# dynamic nodes (slurmd -Z, scontrol create/delete)
MaxNodeCount=$(( NODES + FUTURE + CLOUD + 64 ))
DebugFlags=NO_CONF_HASH
PrivateData=cloud
EOF
  if [ "$CLOUD" -gt 0 ]; then cat <<EOF
# power saving, only for cloud* nodes (partition "cloud")
SuspendProgram=$BASE/bin/suspend.sh
ResumeProgram=$BASE/bin/resume.sh
SuspendTime=$SUSPEND_TIME
SuspendTimeout=15
ResumeTimeout=60
EOF
    local exc=()
    [ "$NODES" -gt 0 ] && exc+=("node[1-$NODES]")
    [ "$FUTURE" -gt 0 ] && exc+=("fut[1-$FUTURE]")
    [ ${#exc[@]} -gt 0 ] && echo "SuspendExcNodes=$(IFS=,; echo "${exc[*]}")"
  fi
  local i
  for i in $(seq 1 "$NODES"); do node_line "node$i" $((PORT_BASE + i)) UNKNOWN static; done
  for i in $(seq 1 "$FUTURE"); do node_line "fut$i" $((PORT_BASE + 100 + i)) FUTURE future; done
  for i in $(seq 1 "$CLOUD"); do node_line "cloud$i" $((PORT_BASE + 200 + i)) CLOUD cloud; done
  echo "NodeSet=dynamic Feature=dynamic"
  local parts=()
  [ "$NODES" -gt 0 ] && parts+=("node[1-$NODES]")
  [ "$FUTURE" -gt 0 ] && parts+=("fut[1-$FUTURE]")
  parts+=(dynamic)
  echo "PartitionName=main Nodes=$(IFS=,; echo "${parts[*]}") Default=YES MaxTime=INFINITE State=UP"
  [ "$CLOUD" -gt 0 ] && echo "PartitionName=cloud Nodes=cloud[1-$CLOUD] MaxTime=INFINITE State=UP"
  if [ -n "$EXTRA_CONF" ]; then echo "# from $EXTRA_CONF"; cat "$EXTRA_CONF"; fi
  return 0
}

gen_conf > "$CONF.new"
cat > "$ETC/local.env.new" <<EOF
BASE=$BASE
NODES=$NODES
FUTURE=$FUTURE
CLOUD=$CLOUD
CPUS=$CPUS
MEM=$MEM
CTLD_PORT=$CTLD_PORT
SLURMD_PORT=$SLURMD_PORT
NET_PREFIX=$NET_PREFIX
NETNS=$NETNS
ADDR=$ADDR
EOF

cat > "$BASE/bin/resume.sh.new" <<EOF
#!/bin/bash
# ResumeProgram (generated by slurm-up.sh): "power up" cloud nodes = start their slurmd.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF=$CONF
exec >>$LOGD/power.log 2>&1
echo "\$(date '+%F %T') resume \$1"
if [ -x $ETC/power-hook ]; then exec $ETC/power-hook resume "\$1"; fi
for h in \$(scontrol show hostnames "\$1"); do
  mkdir -p $BASE/spool/\$h
  # empty signal mask (slurmctld blocks signals in this child); -b: report a fresh
  # boot, else slurmctld keeps waiting for the "reboot" until ResumeTimeout
  perl -MPOSIX -e '\$SIG{\$_}="DEFAULT" for qw(HUP INT QUIT PIPE TERM USR1 USR2 ALRM CHLD); sigprocmask(SIG_SETMASK, POSIX::SigSet->new); exec {\$ARGV[0]} @ARGV or die' \\
    /usr/sbin/slurmd -b -N "\$h"
done
EOF
cat > "$BASE/bin/suspend.sh.new" <<EOF
#!/bin/bash
# SuspendProgram (generated by slurm-up.sh): "power down" cloud nodes = stop their slurmd.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF=$CONF
exec >>$LOGD/power.log 2>&1
echo "\$(date '+%F %T') suspend \$1"
if [ -x $ETC/power-hook ]; then exec $ETC/power-hook suspend "\$1"; fi
for h in \$(scontrol show hostnames "\$1"); do
  f=$RUN/slurmd-\$h.pid
  [ -s "\$f" ] || continue
  p=\$(cat "\$f")
  [ "\$(cat /proc/\$p/comm 2>/dev/null)" = slurmd ] && kill -TERM "\$p"
done
exit 0
EOF
chmod 755 "$BASE/bin/resume.sh.new" "$BASE/bin/suspend.sh.new"

changed=0
for f in "$CONF" "$ETC/local.env" "$BASE/bin/resume.sh" "$BASE/bin/suspend.sh"; do
  if ! cmp -s "$f" "$f.new"; then changed=1; fi
done

if pid_alive "$CTLD_PID" slurmctld && [ "$changed" = 1 ]; then
  log "settings changed: restarting the cluster this script started"
  for f in "$RUN"/slurmd-*.pid; do [ -e "$f" ] && stop_pid "$f" slurmd; done
  stop_pid "$CTLD_PID" slurmctld
fi
rm -f "$ETC/slurm-ns.conf"
for f in "$CONF" "$ETC/local.env" "$BASE/bin/resume.sh" "$BASE/bin/suspend.sh"; do
  mv -f "$f.new" "$f"
done

# /etc/slurm/slurm.conf -> ours, if free (so clients work without SLURM_CONF)
linked=0
if [ "$LINK_ETC" = 1 ]; then
  mkdir -p /etc/slurm
  if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$CONF" ]; then
    linked=1
  elif [ ! -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    ln -s "$CONF" /etc/slurm/slurm.conf; linked=1
  else
    log "note: /etc/slurm/slurm.conf exists and is not ours; use: export SLURM_CONF=$CONF"
  fi
fi
export SLURM_CONF=$CONF

# ---------------------------------------------------------------- munge
if pid_alive "$MUNGE_PID" munged && munge -S "$MUNGE_SOCK" -n </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; then
  :
else
  stop_pid "$MUNGE_PID" munged
  mkdir -p "$BASE/munge" "$BASE/munge-run"
  chown munge:munge "$BASE/munge" "$BASE/munge-run"
  chmod 700 "$BASE/munge"; chmod 755 "$BASE/munge-run"
  if [ ! -s "$BASE/munge/munge.key" ]; then
    mungekey --create --keyfile="$BASE/munge/munge.key" 2>/dev/null \
      || dd if=/dev/urandom of="$BASE/munge/munge.key" bs=1024 count=1 status=none
  fi
  chown munge:munge "$BASE/munge/munge.key"; chmod 600 "$BASE/munge/munge.key"
  rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
  log "starting munged"
  clean_exec setpriv --reuid=munge --regid=munge --init-groups \
    munged --socket="$MUNGE_SOCK" --key-file="$BASE/munge/munge.key" \
    --pid-file="$MUNGE_PID" --seed-file="$BASE/munge/munged.seed" \
    --log-file="$BASE/munge/munged.log"
  for i in $(seq 1 50); do
    munge -S "$MUNGE_SOCK" -n </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -S "$MUNGE_SOCK" -n </dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null \
    || { echo "munged did not start; see $BASE/munge/munged.log" >&2; exit 1; }
fi

# ---------------------------------------------------------------- slurmctld
if ! pid_alive "$CTLD_PID" slurmctld; then
  if port_busy "$CTLD_PORT"; then
    echo "slurm-up.sh: port $CTLD_PORT is in use by another process (set SLURM_LOCAL_CTLD_PORT)" >&2; exit 1
  fi
  if [ "$FRESH" = 1 ]; then
    rm -rf "${BASE:?}/ctld/"* "${BASE:?}/spool/"*
    # keep the previous run's logs one generation back
    if compgen -G "$LOGD/*" >/dev/null; then rm -rf "$BASE/log.prev"; mv "$LOGD" "$BASE/log.prev"; mkdir -p "$LOGD"; fi
  fi
  log "starting slurmctld (port $CTLD_PORT)"
  clean_exec slurmctld -f "$CONF"
fi
for i in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
scontrol ping | grep -q 'is UP' || { echo "slurmctld did not come up; see $LOGD/slurmctld.log" >&2; tail -20 "$LOGD/slurmctld.log" >&2; exit 1; }

# ---------------------------------------------------------------- static nodes
for i in $(seq 1 "$NODES"); do
  n=node$i
  pid_alive "$RUN/slurmd-$n.pid" slurmd && continue
  port_busy $((PORT_BASE + i)) && { echo "port $((PORT_BASE + i)) for $n is in use by another process" >&2; exit 1; }
  mkdir -p "$BASE/spool/$n"
  clean_exec slurmd -f "$CONF" -N "$n"
done
if [ "$NODES" -gt 0 ]; then
  for i in $(seq 1 150); do
    bad=$(sinfo -h -N -n "node[1-$NODES]" -o '%T' 2>/dev/null | grep -cvE '^(idle|mixed|allocated|completing|drained|draining)$' || true)
    [ "$bad" = 0 ] && break; sleep 0.2
  done
  [ "$bad" = 0 ] || { echo "static nodes did not become ready:" >&2; sinfo -N >&2; exit 1; }
fi

log "Slurm is up"
cat <<EOF

  Private Slurm $(sinfo -V | awk '{print $2}') cluster "$CLUSTER", controller $ADDR:$CTLD_PORT
  config : $CONF$( [ "$linked" = 1 ] && echo " (linked from /etc/slurm/slurm.conf)" )
  clients: $( [ "$linked" = 1 ] && echo "sinfo / squeue / sbatch / scontrol work as is" || echo "export SLURM_CONF=$CONF first" )
  state  : $BASE   logs: $LOGD

  partition main (default): node[1-$NODES] static (running), fut[1-$FUTURE] State=FUTURE (hidden until
                            started), plus any dynamic node started with Feature=dynamic
  partition cloud         : cloud[1-$CLOUD] State=CLOUD, Slurm powers them up for jobs (ResumeProgram)

  squeue --json | sinfo --json | scontrol show node -o | scontrol show job -o
  sbatch -N2 --wrap 'srun hostname'          # run a job
  scontrol update nodename=node1 state=drain reason=x ; ... state=resume
  bash $(cd "$(dirname "$0")" && pwd)/slurm-node.sh help      # add / remove nodes
  bash $(cd "$(dirname "$0")" && pwd)/slurm-down.sh [--purge] # stop everything this started
EOF
