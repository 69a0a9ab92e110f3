#!/usr/bin/env bash
# A private OpenStack Zed from Debian 12's packages for the OpenStack layer's tests
# (src/live/openstack/real.integration.test.ts and the real-OpenStack e2e): RabbitMQ,
# Keystone, Glance, Placement, Nova with the fake virt driver, on 127.0.0.1 (ports
# 5000, 9292, 8778, 8774, 9696, 5672); then a self-test that boots and deletes a server.
# Idempotent, quick when it is already up. Scripts and what is missing (Neutron, a
# hypervisor): ci/openstack/README.md. ci/teardown-50-openstack.sh stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash ci/openstack/os-up.sh > /tmp/os-up.log 2>&1 || { tail -50 /tmp/os-up.log >&2; exit 1; }
grep -E '^\[os-up|^identity:|^compute|^waiting for compute' /tmp/os-up.log || true
bash ci/openstack/os-selftest.sh
echo "OpenStack (Keystone $(dpkg-query -W -f='${Version}' keystone), Nova $(dpkg-query -W -f='${Version}' nova-api)) ready in $(( $(date +%s) - t0 ))s"
