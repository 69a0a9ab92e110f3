#!/usr/bin/env bash
# sge-node.sh - extra Grid Engine exec hosts for the cluster made by sge-up.sh, each
# an execd in its own network namespace with its own hostname and a 127.202.x.y
# address on a private bridge (sgebr0). Run as root.
#
#   sge-node.sh start NAME   the "machine": namespace, /etc/hosts line, exec host entry
#                            (qconf -Ae, needed before the execd may register), execd
#   sge-node.sh add NAME     start + put NAME in @allhosts (queue all.q gets an instance)
#   sge-node.sh stop NAME    stop its execd, delete its namespace (host entries stay)
#   sge-node.sh del NAME     qmod -d its queue instances, stop, remove it from @allhosts,
#                            qconf -de / -ds, remove the /etc/hosts line
#   sge-node.sh list
# For a cloud that an autoscaler drives (the scaler adds and removes the exec host
# entry itself, like on a real cluster):
#   sge-node.sh vm NAME      the machine boots: namespace + /etc/hosts line, no SGE change
#   sge-node.sh execd NAME   its contextualisation starts the execd (the exec host entry
#                            must exist by then); returns once qhost shows its load
#   sge-node.sh destroy NAME the machine is gone: execd stopped, namespace and /etc/hosts
#                            line deleted; the Grid Engine configuration is not touched
# Calls that change the machines take a lock, so several may run at once.
#
# SGE insists that every host name resolves both ways, so each node gets a line
# "127.202.x.y NAME  # sge-local" in /etc/hosts (removed by del and by sge-down.sh).
# Inside the node's mount namespace /etc/hosts is replaced by a two-line file that
# makes the master's name point at the bridge address. Nothing is routed elsewhere.
#   SGE_LOCAL_NET_PREFIX   127.N of the /16 used (default 127.202)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "sge-node.sh: run as root" >&2; exit 1; }
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
STATE=/var/lib/sge-local ESPOOL=/var/spool/gridengine/execd
P=${SGE_LOCAL_NET_PREFIX:-127.202}
BR=sgebr0
[ -s "$STATE/master-name" ] || { echo "run sge-up.sh first" >&2; exit 1; }
MASTER=$(cat "$STATE/master-name")
mkdir -p "$STATE/nodes"
exec 9>"$STATE/nodes.lock"

clean_exec() {
  perl -MPOSIX -e '
    $SIG{$_} = "DEFAULT" for qw(HUP INT QUIT PIPE TERM USR1 USR2 ALRM CHLD);
    sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!";
    exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}
pid_alive() {
  local p
  [ -s "$1" ] || return 1
  p=$(cat "$1" 2>/dev/null); case "$p" in ''|*[!0-9]*) return 1;; esac
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && ! grep -qE '^State:[[:space:]]+Z' "/proc/$p/status" 2>/dev/null
}
valid() { case "$1" in ''|*[!a-z0-9-]*|-*) echo "bad host name '$1' (a-z 0-9 -)" >&2; exit 1;; esac; }
ensure_bridge() {
  if ! ip link show "$BR" >/dev/null 2>&1; then ip link add "$BR" type bridge; touch "$STATE/bridge.created"; fi
  sysctl -qw "net.ipv6.conf.$BR.disable_ipv6=1" 2>/dev/null || true
  ip addr replace "$P.0.1/16" dev "$BR"; ip link set "$BR" up
  sysctl -qw "net.ipv4.conf.$BR.route_localnet=1"
  ip route replace "$P.0.0/16" dev "$BR" src "$P.0.1" table local
}
# Addresses are not reused soon: the qmaster caches which name an address has, so a
# new node on a just-freed address would be taken for the old one. A counter walks
# through 127.202.1.2 .. 127.202.250.251 and skips indexes still in use.
alloc_index() {
  local i c
  c=$(cat "$STATE/next-index" 2>/dev/null || echo 0)
  case "$c" in ''|*[!0-9]*) c=0;; esac
  for _ in $(seq 1 62500); do
    i=$(( c % 62500 )); c=$(( c + 1 ))
    grep -qx "$i" "$STATE"/nodes/*.idx 2>/dev/null || { echo "$c" > "$STATE/next-index"; echo "$i"; return; }
  done
  echo "no free address" >&2; exit 1
}
addr_of() { echo "$P.$(( 1 + $1 / 250 )).$(( 2 + $1 % 250 ))"; }
hosts_del() { sed -i "/[[:space:]]$1[[:space:]]*# sge-local\$/d" /etc/hosts; }

vm() {
  local n=$1 idx addr ns=sge-$1
  [ -e "$STATE/nodes/$n.idx" ] || alloc_index > "$STATE/nodes/$n.idx"
  idx=$(cat "$STATE/nodes/$n.idx"); addr=$(addr_of "$idx")
  ensure_bridge
  hosts_del "$n"; echo "$addr $n # sge-local" >> /etc/hosts
  printf '%s %s\n%s %s\n' "$P.0.1" "$MASTER" "$addr" "$n" > "$STATE/nodes/$n.hosts"
  if ! ip netns list | grep -qw "$ns"; then
    ip netns add "$ns"
    ip link del "sgev$idx" 2>/dev/null || true   # a peer left behind by a deleted namespace
    ip link add "sgev$idx" type veth peer name eth0 netns "$ns"
    sysctl -qw "net.ipv6.conf.sgev$idx.disable_ipv6=1" 2>/dev/null || true
    ip link set "sgev$idx" master "$BR" up
    ip netns exec "$ns" sh -c "
      sysctl -qw net.ipv6.conf.all.disable_ipv6=1 2>/dev/null || true
      ip link set lo up; ip addr add $addr/16 dev eth0; ip link set eth0 up
      sysctl -qw net.ipv4.conf.eth0.route_localnet=1
      ip route replace $P.0.0/16 dev eth0 src $addr table local"
  fi
}
execd() {
  local n=$1 ns=sge-$1 i
  pid_alive "$ESPOOL/$n/execd.pid" sge_execd && { echo "$n already running"; return 0; }
  [ -e "$STATE/nodes/$n.hosts" ] || { echo "no machine $n (sge-node.sh vm $n first)" >&2; return 1; }
  clean_exec nsenter --net="/run/netns/$ns" -- unshare --uts --mount --propagation private -- \
    sh -c 'hostname "$0" && mount --bind "$1" /etc/hosts && cd / && exec /usr/sbin/sge_execd' "$n" "$STATE/nodes/$n.hosts"
  for i in $(seq 1 100); do
    qhost -h "$n" 2>/dev/null | awk -v h="$n" '$1==h && $4!="-"{f=1} END{exit !f}' && break; sleep 0.2
  done
  qhost -h "$n" | tail -1
}
start() {
  local n=$1
  pid_alive "$ESPOOL/$n/execd.pid" sge_execd && { echo "$n already running"; return 0; }
  vm "$n"
  if ! qconf -sel 2>/dev/null | grep -qx "$n"; then
    local f; f=$(mktemp)
    printf 'hostname %s\nload_scaling NONE\ncomplex_values NONE\nuser_lists NONE\nxuser_lists NONE\nprojects NONE\nxprojects NONE\nusage_scaling NONE\nreport_variables NONE\n' "$n" > "$f"
    qconf -Ae "$f" >/dev/null; rm -f "$f"
  fi
  execd "$n"
}
stop() {
  local n=$1 p i
  if pid_alive "$ESPOOL/$n/execd.pid" sge_execd; then
    p=$(cat "$ESPOOL/$n/execd.pid"); kill -TERM "$p"
    for i in $(seq 1 100); do pid_alive "$ESPOOL/$n/execd.pid" sge_execd || break; sleep 0.1; done
    pid_alive "$ESPOOL/$n/execd.pid" sge_execd && kill -KILL "$p"
  fi
  ip netns del "sge-$n" 2>/dev/null || true
  # (some kernels, gVisor among them, keep the host side of the pair)
  if [ -s "$STATE/nodes/$n.idx" ]; then ip link del "sgev$(cat "$STATE/nodes/$n.idx")" 2>/dev/null || true; fi
}

cmd=${1:-help}; n=${2:-}
case "$cmd" in
start|add|del|vm|destroy) valid "$n"; flock 9 ;;   # (execd only waits: no lock)
esac
case "$cmd" in
start) valid "$n"; start "$n" ;;
vm)    vm "$n"; echo "$n booted" ;;
execd) valid "$n"; execd "$n" ;;
destroy) stop "$n"; hosts_del "$n"; rm -f "$STATE/nodes/$n.idx" "$STATE/nodes/$n.hosts"; echo "$n destroyed" ;;
add)   valid "$n"; start "$n"
       qconf -shgrp @allhosts | grep -qw "$n" || qconf -aattr hostgroup hostlist "$n" @allhosts >/dev/null
       echo "$n added to @allhosts" ;;
stop)  valid "$n"; stop "$n"; echo "$n stopped" ;;
del)   valid "$n"
       qmod -d "*@$n" >/dev/null 2>&1 || true
       stop "$n"
       for g in $(qconf -shgrpl 2>/dev/null); do
         qconf -shgrp "$g" | grep -qw "$n" && qconf -dattr hostgroup hostlist "$n" "$g" >/dev/null
       done
       qconf -de "$n" >/dev/null 2>&1 || true
       qconf -ds "$n" >/dev/null 2>&1 || true
       hosts_del "$n"; rm -f "$STATE/nodes/$n.idx" "$STATE/nodes/$n.hosts"
       echo "$n deleted" ;;
list)  for f in "$STATE"/nodes/*.idx; do [ -e "$f" ] || continue; n=${f##*/}; n=${n%.idx}
         echo "$n addr=$(addr_of "$(cat "$f")") execd=$(pid_alive "$ESPOOL/$n/execd.pid" sge_execd && cat "$ESPOOL/$n/execd.pid" || echo stopped)"; done ;;
*)     sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
esac
