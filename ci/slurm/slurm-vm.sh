#!/usr/bin/env bash
# slurm-vm.sh - "virtual machines" for the tests of the Slurm layer: each VM is a
# network namespace (own 127.201.1.x address on the bridge slurm-up.sh made, own
# host name) in which a boot agent runs, like cloud-init would on a real VM, and
# then a slurmd. Not part of the recipe (../../shared/recipes): written for the
# test Cloud of src/live/slurm (testing/netnsCloud.ts). Run as root after slurm-up.sh.
#
#   slurm-vm.sh start NAME MODE NODE CPUS MEM_MB [FEATURES]
#        power on VM NAME (prints its address). MODE:
#          dynamic  the agent waits until slurmctld knows node NODE (made by
#                   `scontrol create nodename=NODE ... State=FUTURE`, i.e. by
#                   dyncluster's addNode), then runs `slurmd -Z -N NODE`
#          cloud    the agent runs `slurmd -b -N NODE` at once (a State=CLOUD node
#                   of slurm.conf that Slurm's power saving resumed)
#          selfreg  the agent runs `slurmd -Z -N NODE --conf "... Feature=FEATURES"`
#                   at once: a VM that registers its node itself
#        The agent marks the VM "contextualised" (the file printed by `ready`)
#        before it waits, as cloud-init would when it finished.
#   slurm-vm.sh stop NAME     power off: kill every process in the namespace (slurmd,
#                             slurmstepd, the job's processes), delete the namespace
#   slurm-vm.sh status NAME   prints "running ADDR" or "off"
#   slurm-vm.sh ready NAME    exit 0 when the VM finished booting (contextualised)
#   slurm-vm.sh boot ...      (internal: the agent inside the namespace)
#
# Namespaces and addresses share slurm-node.sh's bookkeeping ($RUN/netns/NAME.idx),
# so slurm-down.sh removes whatever the tests left.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "slurm-vm.sh: run as root" >&2; exit 1; }

BASE=${SLURM_LOCAL_DIR:-/var/lib/slurm-local}
[ -f "$BASE/etc/local.env" ] || { echo "no cluster at $BASE; run slurm-up.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$BASE/etc/local.env"
CONF=$BASE/etc/slurm.conf RUN=$BASE/run LOGD=$BASE/log
export SLURM_CONF=$CONF PATH=/usr/sbin:/usr/bin:/sbin:/bin
BR=slurmbr0
HERE=$(cd "$(dirname "$0")" && pwd)
[ "$NETNS" = 1 ] || { echo "slurm-vm.sh needs the cluster started with SLURM_LOCAL_NETNS=1" >&2; exit 1; }

clean_exec() {
  perl -MPOSIX -e '
    $SIG{$_} = "DEFAULT" for qw(HUP INT QUIT PIPE TERM USR1 USR2 ALRM CHLD);
    sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
    exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}
valid_name() { case "$1" in ''|-*|*[!A-Za-z0-9_-]*) echo "bad name '$1'" >&2; exit 1;; esac; }
valid_num() { case "$1" in ''|*[!0-9]*) echo "bad number '$1'" >&2; exit 1;; esac; }

alloc_index() {
  local i
  for i in $(seq 1 250); do
    [ -e "$RUN/netns/.slot-$i" ] && continue
    grep -qx "$i" "$RUN"/netns/*.idx 2>/dev/null || { echo "$i"; return; }
  done
  echo "no free namespace slot" >&2; exit 1
}

cmd=${1:-help}; shift || true
case "$cmd" in
start)
  [ $# -eq 5 ] || [ $# -eq 6 ] || { echo "usage: slurm-vm.sh start NAME MODE NODE CPUS MEM_MB [FEATURES]" >&2; exit 2; }
  n=$1 mode=$2 node=$3 cpus=$4 mem=$5 features=${6:-}
  case "$features" in *[!A-Za-z0-9_,-]*) echo "bad features '$features'" >&2; exit 2;; esac
  valid_name "$n"; valid_name "$node"; valid_num "$cpus"; valid_num "$mem"
  case "$mode" in dynamic|cloud|selfreg) ;; *) echo "MODE must be dynamic, cloud or selfreg, got '$mode'" >&2; exit 2;; esac
  ns=slurm-$n
  mkdir -p "$RUN/netns" "$RUN/vm"
  # an address slot is taken atomically (noclobber) and kept until the VM stops,
  # so concurrent starts never share an address
  if [ ! -e "$RUN/netns/$n.idx" ]; then
    for try in $(seq 1 50); do
      idx=$(alloc_index)
      if (set -o noclobber; echo "$n" > "$RUN/netns/.slot-$idx") 2>/dev/null; then
        echo "$idx" > "$RUN/netns/$n.idx"; break
      fi
      sleep 0.0$((RANDOM % 9 + 1))
    done
    [ -e "$RUN/netns/$n.idx" ] || { echo "no free address slot for $n" >&2; exit 1; }
  fi
  idx=$(cat "$RUN/netns/$n.idx"); addr=$NET_PREFIX.1.$idx
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    ip link add "slv$idx" type veth peer name eth0 netns "$ns"
    sysctl -qw "net.ipv6.conf.slv$idx.disable_ipv6=1" 2>/dev/null || true
    ip link set "slv$idx" master "$BR" up
    ip netns exec "$ns" sh -c "
      sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
      ip link set lo up
      ip addr add $addr/16 dev eth0
      ip link set eth0 up
      sysctl -qw net.ipv4.conf.eth0.route_localnet=1
      ip route replace $NET_PREFIX.0.0/16 dev eth0 src $addr table local"
  fi
  printf 'name=%s\nmode=%s\nnode=%s\ncpus=%s\nmem=%s\naddr=%s\nfeatures=%s\n' "$n" "$mode" "$node" "$cpus" "$mem" "$addr" "$features" > "$RUN/vm/$n.env"
  rm -f "$RUN/vm/$n.ready"
  mkdir -p "$BASE/spool/$node"
  # The agent: own UTS namespace (host name = VM name), detached from the caller
  # (setsid), empty signal mask (callers such as slurmctld's ResumeProgram block signals).
  clean_exec setsid nsenter --net="/run/netns/$ns" -- unshare --uts -- \
    sh -c 'hostname "$0" && exec bash "$1" boot "$0"' "$n" "$HERE/slurm-vm.sh" \
    </dev/null >>"$LOGD/vm-$n.log" 2>&1 &
  echo "$addr"
  ;;
boot)
  # inside the namespace
  n=$1
  # shellcheck disable=SC1090
  . "$RUN/vm/$n.env"
  echo $$ > "$RUN/vm/$n.agent.pid"
  echo "$(date '+%F %T') $n: booted ($mode, node $node, $addr)"
  touch "$RUN/vm/$n.ready"
  if [ "$mode" = dynamic ]; then
    # like a VM whose user-data waits for the scaler to define its node
    for i in $(seq 1 3000); do
      scontrol --future show node "$node" >/dev/null 2>&1 && break
      sleep 0.2
    done
    echo "$(date '+%F %T') $n: node $node is defined; starting slurmd -Z"
    exec slurmd -D -Z -N "$node" -f "$CONF" --conf "CPUs=$cpus RealMemory=$mem"
  elif [ "$mode" = selfreg ]; then
    echo "$(date '+%F %T') $n: starting slurmd -Z (registers node $node itself, features '$features')"
    exec slurmd -D -Z -N "$node" -f "$CONF" --conf "CPUs=$cpus RealMemory=$mem${features:+ Feature=$features}"
  else
    echo "$(date '+%F %T') $n: starting slurmd -b -N $node"
    exec slurmd -D -b -N "$node" -f "$CONF"
  fi
  ;;
stop)
  n=${1:?name}; valid_name "$n"
  ns=slurm-$n
  if ip netns list | grep -qw "$ns"; then
    # a VM that is switched off: everything in it dies at once
    for i in 1 2 3 4 5; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -z "$pids" ] && break
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
      sleep 0.1
    done
    ip netns del "$ns" 2>/dev/null || true
  fi
  if [ -f "$RUN/vm/$n.env" ]; then
    # shellcheck disable=SC1090
    node=$(. "$RUN/vm/$n.env"; echo "$node")
    rm -f "$RUN/slurmd-$node.pid"
  fi
  if [ -e "$RUN/netns/$n.idx" ]; then rm -f "$RUN/netns/.slot-$(cat "$RUN/netns/$n.idx")"; fi
  rm -f "$RUN/netns/$n.idx" "$RUN/vm/$n.env" "$RUN/vm/$n.ready" "$RUN/vm/$n.agent.pid"
  echo "$n: off"
  ;;
status)
  n=${1:?name}; valid_name "$n"
  if ip netns list | grep -qw "slurm-$n" && [ -n "$(ip netns pids "slurm-$n" 2>/dev/null)" ]; then
    echo "running $NET_PREFIX.1.$(cat "$RUN/netns/$n.idx")"
  else
    echo off
  fi
  ;;
ready)
  n=${1:?name}; valid_name "$n"
  [ -e "$RUN/vm/$n.ready" ] && [ -n "$(ip netns pids "slurm-$n" 2>/dev/null)" ]
  ;;
*)
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  ;;
esac
