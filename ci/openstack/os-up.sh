#!/usr/bin/env bash
# os-up.sh - bring up a minimal, private OpenStack (Zed, Debian 12's packages) on
# 127.0.0.1 for the OpenStack layer's tests: RabbitMQ, Keystone, Glance, Placement
# and Nova (api, conductor, scheduler, and one nova-compute with the fake virt
# driver: no hypervisor, servers go ACTIVE without running anything). No Neutron:
# servers are booted with `"networks": "none"` (Compute API microversion >= 2.37)
# and have no address; ci/openstack/neutron-stub.py answers the port lookups Nova
# makes anyway with empty lists. See ci/openstack/README.md.
#
# Idempotent: installs the packages when missing, writes the configuration under
# $OS_LOCAL_DIR, creates/migrates the SQLite databases, starts what is not running
# (by pid file), then makes sure the projects, users, flavours, image and quotas
# the tests use exist (ci/openstack/provision.py). Re-running while it is up only
# checks. Stop: ci/openstack/os-down.sh. Self-test: ci/openstack/os-selftest.sh.
#
# Everything runs as root (CI), from $OS_LOCAL_DIR (default /var/lib/openstack-local):
#   etc/          keystone.conf nova.conf glance-api.conf placement.conf
#   db/           SQLite databases        images/   Glance's file store
#   log/ run/     logs and pid files      env       credentials for the tests (mode 600)
# Ports (127.0.0.1): Keystone 5000, Glance 9292, Placement 8778, Nova 8774, neutron-stub 9696,
# RabbitMQ 5672 (+ epmd 4369, 25672).
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "os-up.sh: run as root" >&2; exit 1; }

BASE=${OS_LOCAL_DIR:-/var/lib/openstack-local}
HERE=$(cd "$(dirname "$0")" && pwd)
ETC=$BASE/etc RUN=$BASE/run LOGD=$BASE/log DB=$BASE/db
IP=127.0.0.1
KS=http://$IP:5000
REGION=RegionOne
t_start=$(date +%s)
log() { printf '[os-up +%ss] %s\n' "$(( $(date +%s) - t_start ))" "$*"; }

# ---------------------------------------------------------------- packages
PKGS=(keystone nova-api nova-conductor nova-scheduler placement-api glance-api rabbitmq-server python3-openstackclient)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # No database set-up by dbconfig-common, no endpoint registration by the packages:
  # this script does both, with SQLite and its own configuration files.
  debconf-set-selections <<'EOF'
keystone keystone/configure_db boolean false
keystone keystone/dbconfig-install boolean false
keystone keystone/create-admin-tenant boolean false
keystone keystone/register-endpoint boolean false
nova-common nova/configure_db boolean false
nova-common nova-common/dbconfig-install boolean false
nova-api nova/register-endpoint boolean false
glance-common glance/configure_db boolean false
glance-common glance-common/dbconfig-install boolean false
glance-api glance/register-endpoint boolean false
placement-common placement/configure_db boolean false
placement-common placement-common/dbconfig-install boolean false
placement-api placement/register-endpoint boolean false
EOF
  # Keep the packages' init scripts from starting system services (uwsgi/rabbitmq on
  # the default ports with the packaged configuration): this script starts its own.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  trap '[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${PKGS[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; made_policy=0; fi
  trap - EXIT
fi

# ---------------------------------------------------------------- helpers
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# start NAME CMD... : runs CMD in its own session, stdout/stderr to log/NAME.log, pid in run/NAME.pid
start() {
  local name=$1; shift
  if pid_alive "$RUN/$name.pid"; then return 0; fi
  log "starting $name"
  setsid env OS_LOCAL_MARK="$BASE" "$@" </dev/null >>"$LOGD/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}
# wait_http URL SECONDS: until the URL answers at all (any HTTP status)
wait_http() {
  local url=$1 secs=$2 i
  for i in $(seq 1 $((secs * 2))); do
    curl -s -o /dev/null -m 5 "$url" && return 0
    sleep 0.5
  done
  echo "os-up.sh: $url does not answer after ${secs}s" >&2; return 1
}
# uwsgi_app NAME PORT WSGI-SCRIPT PROCESSES ENV... : a WSGI application under uwsgi's own HTTP socket
# (which closes each connection after its answer: "Connection: close" tells the clients, or
# keystoneauth reuses a closed connection and fails with "Remote end closed connection")
uwsgi_app() {
  local name=$1 port=$2 script=$3 procs=$4; shift 4
  local envs=() e
  for e in "$@"; do envs+=(--env "$e"); done
  start "$name" uwsgi --plugin python3 --http-socket "$IP:$port" --wsgi-file "$script" \
    --master --processes "$procs" --threads 1 --die-on-term --need-app --lazy-apps \
    --buffer-size 65535 --add-header "Connection: close" --hook-master-start "unix_signal:15 gracefully_kill_them_all" \
    --procname-prefix "os-local-$name " "${envs[@]}"
}

# SQLite in write-ahead-log mode: readers do not block writers across processes
# (in the default journal mode two uwsgi workers make "database is locked" errors);
# and a writer waits up to 60 s for another (?timeout=60; the default 5 s is too short
# when nova-api, -conductor and -scheduler write at once on a busy machine)
wal() { sqlite3 "$1" 'PRAGMA journal_mode=WAL;' >/dev/null 2>&1 || true; }
# Database migrations run once per package version (each *-manage takes 10-60 s on a
# busy 2-core machine): synced NAME PACKAGE is true when they already ran; mark_synced
# records it.
synced() { [ "$(cat "$DB/.synced-$1" 2>/dev/null)" = "$(dpkg-query -W -f='${Version}' "$2")" ]; }
mark_synced() { dpkg-query -W -f='${Version}' "$2" > "$DB/.synced-$1"; }

mkdir -p "$ETC" "$RUN" "$LOGD" "$DB" "$BASE/images" "$BASE/nova" "$BASE/locks" "$BASE/keystone"
chmod 711 "$BASE"   # rabbitmq (its own user) needs to reach $BASE/rabbitmq; the env file is 600
chmod 700 "$ETC" "$DB" "$LOGD" "$RUN"

# ---------------------------------------------------------------- secrets
# Passwords are made once and kept in $BASE/env (root only); the tests read that file.
if [ ! -s "$BASE/env" ]; then
  pw() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
  umask 077
  cat > "$BASE/env" <<EOF
# made by ci/openstack/os-up.sh: the private OpenStack on $IP (Keystone v3)
OS_LOCAL_AUTH_URL=$KS/v3
OS_LOCAL_REGION=$REGION
OS_LOCAL_ADMIN_PASSWORD=$(pw)
OS_LOCAL_SERVICE_PASSWORD=$(pw)
OS_LOCAL_RABBIT_PASSWORD=$(pw)
OS_LOCAL_USER=dc
OS_LOCAL_PASSWORD=$(pw)
OS_LOCAL_PROJECT=dc
OS_LOCAL_QUOTA_PROJECT=dcq
EOF
  umask 022
fi
# shellcheck disable=SC1091
. "$BASE/env"
RABBIT=rabbit://openstack:$OS_LOCAL_RABBIT_PASSWORD@$IP:5672/

# ---------------------------------------------------------------- RabbitMQ
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=$IP RABBITMQ_NODE_PORT=5672 \
  RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE=$BASE/rabbitmq/mnesia RABBITMQ_LOG_BASE=$BASE/rabbitmq/log \
  RABBITMQ_PID_FILE=$BASE/rabbitmq/beam.pid ERL_EPMD_ADDRESS=$IP RABBITMQ_CONFIG_FILE=$BASE/rabbitmq/rabbitmq \
  RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/rabbitmq/enabled_plugins
# rabbitmq-server runs as the rabbitmq user: its files live in a directory of its own
mkdir -p "$BASE/rabbitmq/mnesia" "$BASE/rabbitmq/log"
[ -e "$BASE/rabbitmq/enabled_plugins" ] || echo '[].' > "$BASE/rabbitmq/enabled_plugins"
if ! rabbitmqctl -q -n rabbit@localhost status >/dev/null 2>&1; then
  printf 'listeners.tcp.default = %s:5672\nloopback_users = none\n' "$IP" > "$BASE/rabbitmq/rabbitmq.conf"
  chown -R rabbitmq:rabbitmq "$BASE/rabbitmq"
  start rabbitmq /usr/sbin/rabbitmq-server
  rabbitmqctl -q -n rabbit@localhost wait --timeout 180 "$BASE/rabbitmq/beam.pid" >/dev/null
fi
# (grep reads all: with pipefail, a grep -q that stops early fails the pipeline)
rabbitmqctl -q -n rabbit@localhost list_users | grep -c '^openstack' >/dev/null \
  || rabbitmqctl -q -n rabbit@localhost add_user openstack "$OS_LOCAL_RABBIT_PASSWORD" >/dev/null
rabbitmqctl -q -n rabbit@localhost change_password openstack "$OS_LOCAL_RABBIT_PASSWORD" >/dev/null
rabbitmqctl -q -n rabbit@localhost set_permissions openstack '.*' '.*' '.*' >/dev/null
log "rabbitmq up"

# ---------------------------------------------------------------- configuration
authtoken() { # the [keystone_authtoken] of a service
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS/v3
auth_url = $KS/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $OS_LOCAL_SERVICE_PASSWORD
region_name = $REGION
# validate every token with Keystone (default: cache it 300 s), so a token revoked
# in Keystone is refused at once, as the tests of token renewal expect
token_cache_time = -1
EOF
}

cat > "$ETC/keystone.conf" <<EOF
[DEFAULT]
log_file = $LOGD/keystone-app.log
[database]
connection = sqlite:///$DB/keystone.sqlite?timeout=60
[token]
provider = fernet
expiration = ${OS_LOCAL_TOKEN_TTL:-3600}
[fernet_tokens]
key_repository = $BASE/keystone/fernet-keys
[fernet_receipts]
key_repository = $BASE/keystone/fernet-keys
[credential]
key_repository = $BASE/keystone/credential-keys
EOF

cat > "$ETC/glance-api.conf" <<EOF
[DEFAULT]
bind_host = $IP
bind_port = 9292
workers = 1
log_file = $LOGD/glance-app.log
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $BASE/images
[os_glance_staging_store]
filesystem_store_datadir = $BASE/images/staging
[os_glance_tasks_store]
filesystem_store_datadir = $BASE/images/tasks
[database]
connection = sqlite:///$DB/glance.sqlite?timeout=60
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $BASE/locks
$(authtoken glance)
EOF

cat > "$ETC/placement.conf" <<EOF
[DEFAULT]
log_file = $LOGD/placement-app.log
[placement_database]
connection = sqlite:///$DB/placement.sqlite?timeout=60
[api]
auth_strategy = keystone
$(authtoken placement)
EOF

cat > "$ETC/nova.conf" <<EOF
[DEFAULT]
host = os-local-compute1
my_ip = $IP
state_path = $BASE/nova
instances_path = $BASE/nova/instances
transport_url = $RABBIT
compute_driver = fake.FakeDriver
enabled_apis = osapi_compute
osapi_compute_listen = $IP
osapi_compute_workers = 1
# the fake driver has no network: boot with "networks": "none"
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $ETC/api-paste.ini
[api_database]
connection = sqlite:///$DB/nova_api.sqlite?timeout=60
[database]
connection = sqlite:///$DB/nova.sqlite?timeout=60
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[filter_scheduler]
enabled_filters = ComputeFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter
[oslo_concurrency]
lock_path = $BASE/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[placement]
region_name = $REGION
auth_type = password
auth_url = $KS/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = placement
password = $OS_LOCAL_SERVICE_PASSWORD
valid_interfaces = public
[glance]
region_name = $REGION
valid_interfaces = public
[service_user]
send_service_user_token = false
[neutron]
region_name = $REGION
valid_interfaces = public
auth_type = password
auth_url = $KS/v3
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $OS_LOCAL_SERVICE_PASSWORD
$(authtoken nova)
EOF
chmod 600 "$ETC"/*.conf

# ---------------------------------------------------------------- Keystone
export OS_KEYSTONE_CONFIG_FILES=$ETC/keystone.conf
if [ ! -s "$BASE/keystone/fernet-keys/0" ]; then
  keystone-manage --config-file "$ETC/keystone.conf" fernet_setup --keystone-user root --keystone-group root
  keystone-manage --config-file "$ETC/keystone.conf" credential_setup --keystone-user root --keystone-group root
fi
if ! synced keystone keystone; then
  keystone-manage --config-file "$ETC/keystone.conf" db_sync
  wal "$DB/keystone.sqlite"
  # the admin user, project and role, the identity endpoints in $REGION
  keystone-manage --config-file "$ETC/keystone.conf" bootstrap --bootstrap-password "$OS_LOCAL_ADMIN_PASSWORD" \
    --bootstrap-admin-url "$KS/v3/" --bootstrap-internal-url "$KS/v3/" --bootstrap-public-url "$KS/v3/" \
    --bootstrap-region-id "$REGION" >/dev/null 2>&1
  mark_synced keystone keystone
fi
uwsgi_app keystone 5000 /usr/bin/keystone-wsgi-public 1 "OS_KEYSTONE_CONFIG_FILES=$ETC/keystone.conf"
wait_http "$KS/v3" 120
log "keystone up"

# ---------------------------------------------------------------- identity data (service users, endpoints)
export OS_AUTH_URL=$KS/v3 OS_USERNAME=admin OS_PASSWORD=$OS_LOCAL_ADMIN_PASSWORD OS_PROJECT_NAME=admin \
  OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=$REGION
/usr/bin/python3 "$HERE/provision.py" identity

# ---------------------------------------------------------------- Glance, Placement
if ! synced glance glance-api; then
  glance-manage --config-file "$ETC/glance-api.conf" db_sync >>"$LOGD/glance-manage.log" 2>&1
  wal "$DB/glance.sqlite"
  mark_synced glance glance-api
fi
start glance-api glance-api --config-file "$ETC/glance-api.conf"
if ! synced placement placement-api; then
  placement-manage --config-file "$ETC/placement.conf" db sync >>"$LOGD/placement-manage.log" 2>&1
  wal "$DB/placement.sqlite"
  mark_synced placement placement-api
fi
uwsgi_app placement 8778 /usr/bin/placement-api 1 "OS_PLACEMENT_CONFIG_DIR=$ETC" "OS_PLACEMENT_CONFIG_FILES=placement.conf"

# ---------------------------------------------------------------- Nova
NM=(nova-manage --config-file "$ETC/nova.conf")
if ! synced nova nova-api; then
  "${NM[@]}" api_db sync >>"$LOGD/nova-manage.log" 2>&1
  cells=$("${NM[@]}" cell_v2 list_cells 2>/dev/null)
  grep -q ' cell0 ' <<<"$cells" \
    || "${NM[@]}" cell_v2 map_cell0 --database_connection "sqlite:///$DB/nova_cell0.sqlite?timeout=60" >>"$LOGD/nova-manage.log" 2>&1
  grep -q ' cell1 ' <<<"$cells" \
    || "${NM[@]}" cell_v2 create_cell --name cell1 --database_connection "sqlite:///$DB/nova.sqlite?timeout=60" --transport-url "$RABBIT" >>"$LOGD/nova-manage.log" 2>&1
  "${NM[@]}" db sync >>"$LOGD/nova-manage.log" 2>&1
  for d in nova_api nova nova_cell0; do wal "$DB/$d.sqlite"; done
  mark_synced nova nova-api
fi
# cells made by an earlier os-up.sh without the SQLite timeout
cells=$("${NM[@]}" cell_v2 list_cells --verbose 2>/dev/null || true)
if [ "$(grep -c 'timeout=60' <<<"$cells")" != 2 ]; then
  "${NM[@]}" cell_v2 update_cell --cell_uuid 00000000-0000-0000-0000-000000000000 --database_connection "sqlite:///$DB/nova_cell0.sqlite?timeout=60" --transport-url none:/ >>"$LOGD/nova-manage.log" 2>&1
  c1=$(awk -F'|' '$2 ~ / cell1 / {gsub(/ /, "", $3); print $3}' <<<"$cells")
  "${NM[@]}" cell_v2 update_cell --cell_uuid "$c1" --database_connection "sqlite:///$DB/nova.sqlite?timeout=60" --transport-url "$RABBIT" >>"$LOGD/nova-manage.log" 2>&1
fi
start neutron-stub /usr/bin/python3 "$HERE/neutron-stub.py"
start nova-conductor nova-conductor --config-file "$ETC/nova.conf"
start nova-scheduler nova-scheduler --config-file "$ETC/nova.conf"
# nova-compute from python3-nova (Debian's nova-compute package pulls in a hypervisor)
start nova-compute /usr/bin/python3 -c 'import sys; from nova.cmd.compute import main; sys.exit(main())' --config-file "$ETC/nova.conf"
# nova-api-wsgi loads the first of OS_NOVA_CONFIG_FILES as its paste pipeline
cp /etc/nova/api-paste.ini "$ETC/api-paste.ini"
uwsgi_app nova-api 8774 /usr/bin/nova-api-wsgi 2 "OS_NOVA_CONFIG_DIR=$ETC" "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf"

wait_http "http://$IP:9292/" 120
wait_http "http://$IP:8778/" 120
wait_http "http://$IP:8774/" 120
log "glance, placement, nova-api up"

# ---------------------------------------------------------------- flavours, image, projects, quotas
/usr/bin/python3 "$HERE/provision.py" compute
# the compute host must be mapped to cell1 before anything can be scheduled
mapped() { "${NM[@]}" cell_v2 list_hosts 2>/dev/null | grep -c os-local-compute1 >/dev/null; }
for i in $(seq 1 30); do
  mapped && break
  "${NM[@]}" cell_v2 discover_hosts >/dev/null 2>&1 || true
  sleep 2
done
mapped || { echo "os-up.sh: nova-compute did not register (see $LOGD/nova-compute.log)" >&2; exit 1; }
# ... and its resources must be in Placement, or a boot fails with "No valid host"
/usr/bin/python3 "$HERE/provision.py" ready
log "OpenStack ready: Keystone $KS/v3, region $REGION; credentials in $BASE/env"
