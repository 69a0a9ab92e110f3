# Sourced by os-up.sh and os-down.sh (needs $BASE).
# pid_alive PIDFILE -> true if the pid in PIDFILE runs and was started by os-up.sh with
# OS_LOCAL_MARK=$BASE in its environment (uwsgi rewrites its command line; a recycled
# pid of another program is never taken for ours). grep -c, not -q: under pipefail a
# grep that stops reading early fails the pipeline.
pid_alive() {
  local f=$1 p
  [ -s "$f" ] || return 1
  p=$(cat "$f" 2>/dev/null) || return 1
  case "$p" in ''|*[!0-9]*) return 1;; esac
  [ -r "/proc/$p/environ" ] && tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -cxF "OS_LOCAL_MARK=$BASE" >/dev/null \
    && ! grep -qE '^State:[[:space:]]+Z' "/proc/$p/status" 2>/dev/null
}
