#!/usr/bin/env bash
# A real Slurm 22.05 from Debian's packages for the Slurm layer's tests
# (src/live/slurm/*.integration.test.ts): private munged + slurmctld + 2 static
# slurmd on 127.201.0.1, dyncluster's partitions (ci/slurm/dyncluster.conf),
# CLOUD nodes cloud[1-2] with Slurm's power saving (SuspendTime 10 s).
# Idempotent; ci/teardown-30-slurm.sh stops it. Scripts: ci/slurm/ (a copy of
# ../shared/recipes/slurm-*.sh with the changes listed in slurm-up.sh's header).
#
# Beside Grid Engine (ci/setup-20-sge.sh): different ports (6817/6818,
# 17001-17299 vs 6444/6445), bridges (slurmbr0 127.201/16 vs sgebr0 127.202/16),
# namespaces (slurm-* vs sge-*); Slurm's munged is private (own key and socket
# under /var/lib/slurm-local), so no system munge service is started or changed.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
export SLURM_LOCAL_EXTRA_CONF=$PWD/ci/slurm/dyncluster.conf
export SLURM_LOCAL_SUSPEND_TIME=${SLURM_LOCAL_SUSPEND_TIME:-10}
bash ci/slurm/slurm-up.sh >/tmp/slurm-up.log 2>&1 || { cat /tmp/slurm-up.log >&2; exit 1; }
grep -E '^\[slurm-up' /tmp/slurm-up.log || true
# the test power hook of an interrupted run must not outlive it
rm -f /var/lib/slurm-local/etc/power-hook
scontrol ping | grep -q UP
echo "Slurm $(sinfo -V | awk '{print $2}') ready in $(( $(date +%s) - t0 ))s: $(sinfo -h -o '%P:%D' | tr '\n' ' ')"
