#!/usr/bin/env bash
# Stops what ci/setup-30-slurm.sh started (and every test VM namespace left behind).
set -uo pipefail
cd "$(dirname "$0")/.."
rm -f /var/lib/slurm-local/etc/power-hook
bash ci/slurm/slurm-down.sh
