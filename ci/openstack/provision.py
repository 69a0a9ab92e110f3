#!/usr/bin/python3
"""What the private OpenStack of os-up.sh holds, made idempotently with openstacksdk
(admin credentials from the OS_* environment; passwords from $OS_LOCAL_DIR/env).

  provision.py identity   service project/users, catalogue (compute, image, placement),
                          the test user and its projects
  provision.py compute    flavours, the tiny image, the quotas the tests start from
  provision.py ready      waits until a dc.tiny server can be scheduled: nova-compute's
                          service is up and Placement has a candidate for its resources
"""
import io
import os
import sys
import time

import openstack

REGION = os.environ.get("OS_REGION_NAME", "RegionOne")
IP = "127.0.0.1"
SERVICES = [
    # type, name, URL (the same for the public, internal and admin interfaces)
    ("compute", "nova", f"http://{IP}:8774/v2.1"),
    ("image", "glance", f"http://{IP}:9292"),
    ("placement", "placement", f"http://{IP}:8778"),
    # neutron-stub.py: empty answers to Nova's port lookups, no network service
    ("network", "neutron-stub", f"http://{IP}:9696"),
]
# one project per test file that boots (they run in parallel, and quotas are per project)
PROJECTS = ["dc-contract", "dc-e2e", "dc-e2e-quota", "dc-selftest"]
FLAVOURS = [("dc.tiny", 1, 64), ("dc.small", 2, 128)]  # name, vCPUs, RAM MB; disk 1 GB
IMAGE = "dc-tiny"


def env(name):
    v = os.environ.get(name)
    if not v:
        sys.exit(f"provision.py: {name} is not set")
    return v


def identity(conn):
    svc_pw = env("OS_LOCAL_SERVICE_PASSWORD")
    idc = conn.identity
    default = idc.find_domain("default") or idc.find_domain("Default")
    admin_role = idc.find_role("admin")
    member_role = idc.find_role("member") or idc.create_role(name="member")

    def project(name, description):
        p = idc.find_project(name, domain_id=default.id)
        return p or idc.create_project(name=name, domain_id=default.id, description=description)

    def user(name, password, projects, role):
        u = idc.find_user(name, domain_id=default.id)
        if u is None:
            u = idc.create_user(name=name, password=password, domain_id=default.id)
        else:
            idc.update_user(u, password=password)
        for p in projects:
            conn.grant_role(role.id, user=u.id, project=p.id)
        return u

    service = project("service", "service users of os-up.sh")
    for name in ("nova", "placement", "glance"):
        user(name, svc_pw, [service], admin_role)

    for typ, name, url in SERVICES:
        s = next((s for s in idc.services() if s.type == typ), None)
        if s is None:
            s = idc.create_service(type=typ, name=name, is_enabled=True)
        have = {(e.interface, e.region_id): e for e in idc.endpoints(service_id=s.id)}
        for itf in ("public", "internal", "admin"):
            e = have.get((itf, REGION))
            if e is None:
                idc.create_endpoint(service_id=s.id, interface=itf, url=url, region_id=REGION)
            elif e.url != url:
                idc.update_endpoint(e, url=url)

    projects = [project(n, "dyncluster tests") for n in PROJECTS]
    user(env("OS_LOCAL_USER"), env("OS_LOCAL_PASSWORD"), projects, member_role)
    print(f"identity: projects {', '.join(PROJECTS)}; user {env('OS_LOCAL_USER')} (member); catalogue {', '.join(t for t, _, _ in SERVICES)}")


def compute(conn):
    have = {f.name: f for f in conn.compute.flavors(details=True, is_public=None)}
    for name, vcpus, ram in FLAVOURS:
        if name not in have:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=1, is_public=True)
    img = conn.image.find_image(IMAGE)
    if img is not None and img.status != "active":
        conn.image.delete_image(img)
        img = None
    if img is None:
        img = conn.image.create_image(
            name=IMAGE, disk_format="raw", container_format="bare", visibility="public", data=io.BytesIO(b"\0" * 1024)
        )
    for _ in range(240):
        img = conn.image.get_image(img.id)
        if img.status == "active":
            break
        time.sleep(0.5)
    else:
        sys.exit(f"provision.py: image {IMAGE} is {img.status}, not active")
    for name in PROJECTS:
        p = conn.identity.find_project(name)
        conn.set_compute_quotas(p.id, instances=10, cores=40, ram=10240)
    print(f"compute: flavours {', '.join(n for n, _, _ in FLAVOURS)}; image {IMAGE} {img.id}; quotas 10 instances per project")


def ready(conn, timeout=180):
    """The compute host mapped to its cell is not yet enough: nova-compute reports its
    inventory to Placement in its first resource update, a moment later on a busy
    machine, and a boot before that fails at once with "No valid host was found"
    (CI stop 26: the self-test booted 1.5 s after the mapping). So wait for what the
    scheduler itself asks: an allocation candidate for dc.tiny's resources."""
    want = "VCPU:1,MEMORY_MB:64,DISK_GB:1"
    t0 = time.time()
    last = None
    while True:
        services = [s for s in conn.compute.services() if s.binary == "nova-compute"]
        up = [s.host for s in services if s.state == "up" and s.status == "enabled"]
        r = conn.placement.get(f"/allocation_candidates?resources={want}", microversion="1.10")
        cands = len(r.json().get("allocation_requests", [])) if r.status_code == 200 else 0
        state = (tuple(up), cands, r.status_code)
        if up and cands > 0:
            print(f"compute ready in {time.time() - t0:.1f}s: nova-compute up on {', '.join(up)}; "
                  f"{cands} Placement candidate(s) for {want}")
            return
        if state != last:
            print(f"waiting for compute: nova-compute up on {up or 'none'}; Placement candidates for {want}: "
                  f"{cands} (HTTP {r.status_code})", flush=True)
            last = state
        if time.time() - t0 > timeout:
            sys.exit(f"provision.py: compute not ready after {timeout} s (see log/nova-compute.log, log/placement.log)")
        time.sleep(1)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("identity", "compute", "ready"):
        sys.exit("usage: provision.py identity|compute|ready")
    base = os.environ.get("OS_LOCAL_DIR", "/var/lib/openstack-local")
    with open(f"{base}/env") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                os.environ.setdefault(k, v)
    conn = openstack.connect()
    {"identity": identity, "compute": compute, "ready": ready}[what](conn)


if __name__ == "__main__":
    main()
