#!/usr/bin/env bash
# The package installs and runs like an administrator would use it (#23):
# `npm pack` (prepack builds dist/), install the tarball globally into a
# temporary prefix (from the npm cache when it has everything), then, from a
# directory outside the checkout, run the installed `dyncluster`:
# --version (version and commit), check-config on the shipped example,
# `run --sim` answering a GET on its API, and a clean stop on SIGTERM.
#
# .ci/run calls it after `npm ci` (it needs node_modules for the build);
# by hand: `npm run pack-check`. Prints the start-up times it saw.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
WORK=$(mktemp -d /tmp/dyncluster-pack.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
fail() { echo "pack-check: FAIL: $*" >&2; exit 1; }
ms() { date +%s%3N; }

echo "== npm pack"
npm pack --silent --pack-destination "$WORK" >/dev/null
TGZ=$(ls "$WORK"/dyncluster-*.tgz)
# (the listing in a file: `tar | grep -q` under pipefail fails when grep stops reading early)
tar tzf "$TGZ" >"$WORK/files"
echo "   $(basename "$TGZ"): $(du -k "$TGZ" | cut -f1) KiB, $(wc -l <"$WORK/files") files"
grep -q '^package/dist/cli/main.js$' "$WORK/files" || fail "the tarball has no dist/cli/main.js"
grep -q '^package/systemd/dyncluster.service$' "$WORK/files" || fail "the tarball has no systemd/dyncluster.service"
! grep -q '^package/src/' "$WORK/files" || fail "the tarball carries src/ (it must run the compiled dist/)"
! grep -q '\.test\.js$' "$WORK/files" || fail "the tarball carries compiled tests"

echo "== npm install -g --prefix (offline from the cache when possible)"
PREFIX="$WORK/prefix"
npm install -g --prefix "$PREFIX" --prefer-offline --no-audit --no-fund --loglevel=error "$TGZ" >/dev/null
export PATH="$PREFIX/bin:$PATH"
PKG="$PREFIX/lib/node_modules/dyncluster"
OUT="$WORK/elsewhere"
mkdir -p "$OUT"
cd "$OUT"
[ "$(command -v dyncluster)" = "$PREFIX/bin/dyncluster" ] || fail "dyncluster is not the installed one: $(command -v dyncluster)"

echo "== dyncluster --version"
V=$(dyncluster --version)
echo "   $V"
WANT=$(node -p 'require(process.argv[1]).version' "$REPO/package.json")
case "$V" in *"$WANT (commit "*) ;; *) fail "--version says '$V', expected version $WANT and a commit" ;; esac
if git -C "$REPO" rev-parse HEAD >/dev/null 2>&1; then
  HEAD=$(git -C "$REPO" rev-parse --short=12 HEAD)
  case "$V" in *"commit $HEAD"*) ;; *) fail "--version names no commit $HEAD: '$V'" ;; esac
fi

echo "== dyncluster --help"
t0=$(ms); dyncluster --help >/dev/null; t1=$(ms)
echo "   --help: $((t1 - t0)) ms"

echo "== dyncluster check-config (the shipped example)"
dyncluster check-config "$PKG/etc/dyncluster.example.yaml"
if dyncluster check-config "$REPO/ci/pack-check.sh" 2>/dev/null; then fail "check-config accepted a shell script"; fi

echo "== systemd-analyze verify (the shipped unit, ExecStart pointed at this install)"
if command -v systemd-analyze >/dev/null; then
  # verify needs no running systemd; it exits 0 on unknown keys and bad values, so any line naming the unit fails too
  mkdir -p "$WORK/unit"
  sed "s#/usr/local/bin/dyncluster#$PREFIX/bin/dyncluster#" "$PKG/systemd/dyncluster.service" >"$WORK/unit/dyncluster.service"
  grep -q "^ExecStart=$PREFIX/bin/dyncluster run --config /etc/dyncluster/dyncluster.yaml" "$WORK/unit/dyncluster.service" || fail "the unit's ExecStart is not /usr/local/bin/dyncluster run --config /etc/dyncluster/dyncluster.yaml"
  rc=0
  systemd-analyze verify "$WORK/unit/dyncluster.service" 2>"$WORK/verify.err" || rc=$?
  if [ $rc -ne 0 ] || grep -q 'dyncluster' "$WORK/verify.err"; then cat "$WORK/verify.err" >&2; fail "systemd-analyze verify: the unit has problems"; fi
  echo "   verify: OK; $(systemd-analyze security --offline=yes "$WORK/unit/dyncluster.service" 2>/dev/null | grep -o 'Overall exposure level.*' || echo 'security: not available')"
elif [ "${CI:-}" = true ]; then
  fail "systemd-analyze is missing (ci/setup-00-apt.sh installs Debian's systemd package)"
else
  echo "   SKIPPED: systemd-analyze not installed (apt-get install systemd); the unit was not checked"
fi

echo "== dyncluster run --sim (GET on its API)"
t0=$(ms)
dyncluster run --sim "$PKG/scenarios/demo.yaml" --speed 20 --port 0 --log-format json >"$WORK/run.log" 2>"$WORK/run.err" &
PID=$!
URL=
for _ in $(seq 1 600); do
  URL=$(sed -n 's/.*"url":"\(http:[^"]*\)".*/\1/p' "$WORK/run.log" | head -1)
  [ -n "$URL" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/run.log" "$WORK/run.err" >&2; fail "run --sim exited before listening"; }
  sleep 0.1
done
[ -n "$URL" ] || fail "run --sim did not listen within 60 s"
STATUS=$(curl -sf "$URL/server/status") || fail "GET $URL/server/status failed"
t1=$(ms)
echo "   GET /server/status: $STATUS (first answer $((t1 - t0)) ms after start)"
node -e 'const s = JSON.parse(process.argv[1]); if (s.auto_mode !== true) process.exit(1)' "$STATUS" || fail "unexpected status $STATUS"
grep -q '"msg":"dyncluster '"$WANT"' (commit ' "$WORK/run.log" || fail "the daemon's log does not name its version"
kill -TERM "$PID"
wait "$PID" || fail "run --sim exited with $? on SIGTERM"
PID=
grep -q 'dyncluster stopped on SIGTERM' "$WORK/run.log" || fail "no last line after SIGTERM"
echo "pack-check: OK ($(uptime | sed 's/.*load/load/'))"
