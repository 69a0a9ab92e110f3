#!/usr/bin/env bash
# Stops what ci/setup-50-openstack.sh started. The packages, databases and credentials stay.
set -uo pipefail
cd "$(dirname "$0")/.."
bash ci/openstack/os-down.sh
