#!/usr/bin/env bash
# moto 5.2.2 (an AWS API emulator written by others) on 127.0.0.1:5055, for the
# EC2 layer's tests against someone else's reading of the EC2 API
# (src/live/ec2/moto.integration.test.ts, src/live/contract/ec2-moto.contract.test.ts).
# Unpacks ../shared/tools/moto/moto-5.2.2.tar.gz (unmodified upstream source) to
# /var/lib/dyncluster-moto, installs the Debian 12 Python packages it needs and
# starts `python3 -m moto.server` (the same steps as ../shared/tools/moto/moto-up.sh).
# Idempotent: a moto already answering on the port is kept. Stop: ci/teardown-40-moto.sh.
# Env: DC_SHARED (default ../shared beside the clone), MOTO_PORT (default 5055).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${MOTO_PORT:-5055}"; HOST=127.0.0.1
SHARED="${DC_SHARED:-$PWD/../shared}"
TAR="$SHARED/tools/moto/moto-5.2.2.tar.gz"
BASE=/var/lib/dyncluster-moto; SRC="$BASE/moto-5.2.2"; PID="$BASE/moto-$PORT.pid"; LOG="$BASE/moto-$PORT.log"
PY=/usr/bin/python3
DEBS=(python3-boto3 python3-botocore python3-werkzeug python3-flask python3-flask-cors python3-xmltodict
      python3-responses python3-jinja2 python3-cryptography python3-yaml python3-dateutil python3-requests python3-jsonschema)
t0=$(date +%s)
answers() {
  PYTHONPATH="$SRC" "$PY" -c "import boto3; boto3.client('ec2', endpoint_url='http://$HOST:$PORT', region_name='ap-southeast-2', aws_access_key_id='t', aws_secret_access_key='t').describe_availability_zones()" >/dev/null 2>&1
}
ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -q -- "-m moto.server -H $HOST -p $PORT\b"; }
if [ ! -f "$TAR" ]; then
  # The EC2-against-moto tests then fail under CI=true and skip (visibly) elsewhere.
  echo "moto: $TAR not found (set DC_SHARED): moto is not started" >&2
  exit 0
fi
mkdir -p "$BASE"
[ -f "$SRC/moto/server.py" ] || tar -xzf "$TAR" -C "$BASE"
missing=(); for p in "${DEBS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -f "$PID" ] && ours "$(cat "$PID")" && answers; then echo "moto already answers on $HOST:$PORT"; exit 0; fi
if ss -ltn 2>/dev/null | grep -q "$HOST:$PORT "; then echo "moto: port $PORT is taken by something else" >&2; exit 1; fi
PYTHONPATH="$SRC" setsid "$PY" -m moto.server -H "$HOST" -p "$PORT" >"$LOG" 2>&1 < /dev/null &
echo $! > "$PID"
for _ in $(seq 1 120); do
  if answers; then echo "moto 5.2.2 ready on http://$HOST:$PORT in $(( $(date +%s) - t0 ))s"; exit 0; fi
  sleep 0.5
done
echo "moto did not answer on $PORT (log: $LOG)" >&2; tail -20 "$LOG" >&2; exit 1
