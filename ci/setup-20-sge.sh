#!/usr/bin/env bash
# Grid Engine for the SGE layer's integration tests (src/live/sge/*.integration.test.ts):
# Debian's gridengine packages (Son of Grid Engine 8.1.9), a qmaster and an execd on
# this machine, queue all.q; the tests add their own queues and exec hosts (each in a
# network namespace) with ci/sge/sge-queue.sh and ci/sge/sge-node.sh.
# Idempotent, and quick when it is already up. Prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s.%N)
bash ci/sge/sge-up.sh
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
qhost -xml >/dev/null
awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN{printf "== Grid Engine setup took %.1f s\n", a-b}'
