#!/usr/bin/env bash
# Stops what ci/setup-20-sge.sh started (jobs, extra exec hosts, execd, qmaster,
# namespaces, /etc/hosts lines). The packages and the base configuration stay.
set -uo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/sbin/sge_qmaster ] || exit 0
bash ci/sge/sge-down.sh
