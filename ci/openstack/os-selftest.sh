#!/usr/bin/env bash
# os-selftest.sh - checks the OpenStack of os-up.sh the way the OpenStack layer uses it,
# over plain HTTP: Keystone v3 password authentication (token + catalogue), list the
# flavours, boot a server (Compute API microversion 2.37, "networks": "none"), see it
# ACTIVE, delete it, see it gone. Prints each step with its time; exit 1 on failure.
set -euo pipefail
BASE=${OS_LOCAL_DIR:-/var/lib/openstack-local}
[ -r "$BASE/env" ] || { echo "os-selftest.sh: no $BASE/env (run os-up.sh first)" >&2; exit 1; }
exec env OS_LOCAL_DIR="$BASE" /usr/bin/python3 - <<'PY'
import json, os, sys, time, urllib.error, urllib.request

env = {}
for line in open(os.environ["OS_LOCAL_DIR"] + "/env"):
    line = line.strip()
    if line and not line.startswith("#") and "=" in line:
        k, v = line.split("=", 1)
        env[k] = v
t0 = time.time()
def step(msg): print(f"[os-selftest +{time.time() - t0:.1f}s] {msg}", flush=True)

def call(method, url, body=None, token=None, mv=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/json")
    if token: req.add_header("X-Auth-Token", token)
    if mv: req.add_header("OpenStack-API-Version", f"compute {mv}")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
            return r.status, r.headers, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()

# Nova here keeps its databases in SQLite: a write that races another service's write
# can fail at once with "database is locked" (a deferred transaction cannot be upgraded;
# the busy timeout does not apply), which nova-api returns as 500. A client retries that,
# as the daemon does on its next poll; so does this check, saying so.
def call_retry(method, url, body=None, token=None, mv=None):
    for attempt in range(1, 6):
        st, h, b = call(method, url, body, token, mv)
        if st < 500 or attempt == 5: return st, h, b
        step(f"  {method} {url.rsplit('/', 1)[-1]}: {st}, retrying ({attempt}/5): {str(b)[:160]}")
        time.sleep(1)

auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": env["OS_LOCAL_USER"], "domain": {"name": "Default"}, "password": env["OS_LOCAL_PASSWORD"]}}},
                 "scope": {"project": {"name": "dc-selftest", "domain": {"name": "Default"}}}}}
st, h, body = call("POST", env["OS_LOCAL_AUTH_URL"] + "/auth/tokens", auth)
if st != 201: sys.exit(f"authenticate: {st} {body}")
token = h["X-Subject-Token"]
nova = next(e["url"] for c in body["token"]["catalog"] if c["type"] == "compute" for e in c["endpoints"] if e["interface"] == "public")
step(f"authenticated as {body['token']['user']['name']} in {body['token']['project']['name']}, token until {body['token']['expires_at']}; compute at {nova}")

st, _, fl = call("GET", nova + "/flavors/detail", token=token)
if st != 200: sys.exit(f"flavours: {st} {fl}")
step("flavours: " + ", ".join(f"{f['name']} ({f['vcpus']} vCPU)" for f in fl["flavors"]))
flavor = next(f for f in fl["flavors"] if f["name"] == "dc.tiny")
image = next(c for c in body["token"]["catalog"] if c["type"] == "image")["endpoints"][0]["url"]
st, _, im = call("GET", image + "/v2/images?name=dc-tiny", token=token)
if st != 200 or not im["images"]: sys.exit(f"image dc-tiny: {st} {im}")

name = f"selftest-{int(time.time())}"
st, _, sv = call("POST", nova + "/servers", {"server": {"name": name, "imageRef": im["images"][0]["id"], "flavorRef": flavor["id"], "networks": "none"}}, token, "2.37")
if st != 202: sys.exit(f"boot: {st} {sv}")
sid = sv["server"]["id"]
step(f"boot {name}: 202, id {sid}")
status = None
for _ in range(240):
    st, _, s = call_retry("GET", f"{nova}/servers/{sid}", token=token, mv="2.37")
    if st != 200: sys.exit(f"show: {st} {s}")
    s = s["server"]
    if (s["status"], s.get("OS-EXT-STS:task_state")) != status:
        status = (s["status"], s.get("OS-EXT-STS:task_state"))
        step(f"  {s['status']} task_state={s.get('OS-EXT-STS:task_state')} hostId={s['hostId'][:8] or '-'}")
    if s["status"] in ("ACTIVE", "ERROR"): break
    time.sleep(0.5)
if status[0] != "ACTIVE":
    call("DELETE", f"{nova}/servers/{sid}", token=token)
    sys.exit(f"server did not become ACTIVE: {s.get('status')} {s.get('fault')}")
st, _, d = call_retry("DELETE", f"{nova}/servers/{sid}", token=token)
if st != 204: sys.exit(f"delete: {st} {d}")
for _ in range(240):
    st, _, s = call_retry("GET", f"{nova}/servers/{sid}", token=token)
    if st == 404: break
    time.sleep(0.5)
if st != 404: sys.exit(f"server still there after delete: {s}")
step("deleted: 404")
print("os-selftest: ok")
PY
