# Sourced by every test command: appends this call's argument vector to
# $DYNCLUSTER_ARGV_LOG as one record (fields end with \037, the record with
# \036), written with a single printf so concurrent calls do not interleave.
if [ -n "${DYNCLUSTER_ARGV_LOG:-}" ]; then
  _rec=$(printf '%s\037' "${0##*/}" "$@")
  printf '%s\036' "$_rec" >> "$DYNCLUSTER_ARGV_LOG"
fi
_here=${0%/*}
: "${FAKE_TORQUE_DIR:?FAKE_TORQUE_DIR is not set}"
_render=$FAKE_TORQUE_DIR/render
_mutate() { exec node "$_here/fake-torque.mjs" "$@"; }
_maui_down() {
  if [ -e "$FAKE_TORQUE_DIR/maui-down" ]; then
    echo "ERROR:    cannot connect to Maui server 'head.example.org'" >&2; exit 1
  fi
}
_torque_down() {
  if [ -e "$FAKE_TORQUE_DIR/torque-down" ]; then
    echo "${0##*/}: cannot connect to server head.example.org, error=111 (Connection refused)" >&2; exit 1
  fi
}
