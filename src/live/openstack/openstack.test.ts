/**
 * The OpenStack layer against the in-process fake Keystone/Nova on
 * 127.0.0.1: requests as Nova expects them, states as SPEC §1 defines them,
 * and every failure mapped into the kind the engine acts on.
 */
import { Clock, Duration, Effect, Either, Exit, Scope } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { CloudError } from "../../engine/services.ts"
import type { ResourceConfig } from "../../model/config.ts"
import { InstanceState, type Instance } from "../../model/types.ts"
import type { CloudSetupError, LiveCloudOptions } from "../cloud-setup.ts"
import { openstackFactory, type OpenStackCloud } from "./cloud.ts"
import { FakeOpenStack } from "./testing/fakeOpenStack.ts"

const scratch = mkdtempSync(join(tmpdir(), "dyncluster-os-"))
const userdata = join(scratch, "userdata.sh")
writeFileSync(userdata, "#!/bin/sh\necho '{{ minion_id }}' > /etc/salt/minion_id\n")

let fake: FakeOpenStack
let scope: Scope.CloseableScope

beforeAll(async () => {
  fake = await new FakeOpenStack({ appCredentials: [{ id: "ac-1", secret: "ac-secret" }] }).start()
  scope = Effect.runSync(Scope.make())
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await fake.stop()
  rmSync(scratch, { recursive: true, force: true })
})
afterEach(() => {
  fake.servers.clear()
  fake.injections.length = 0
  fake.requests.length = 0
  fake.quota = Infinity
  fake.autoAdvance = true
})

const rc = (config: Record<string, unknown>): ResourceConfig => ({
  type: "openstack",
  priority: 1,
  quantity: { min: 0, max: 3 },
  reservation: { queue: null, account: null, property: null },
  config
})

const baseConfig = (over: Record<string, unknown> = {}) => ({
  auth_url: fake.authUrl,
  username: "demo",
  password: "secret",
  project: "demo",
  image_uuid: "1b66d8cd-7d10-413a-ae06-3b61560e788a",
  flavor: "m1.small",
  key_name: "cluster",
  security_groups: ["wn", "ssh"],
  availability_zone: "zone-a",
  instance_name_prefix: "wn",
  userdata_file: userdata,
  network: "private",
  api_timeout: 2,
  ...over
})

const make = (over: Record<string, unknown> = {}, opts: LiveCloudOptions = {}) =>
  Effect.runPromise(
    Effect.either(openstackFactory("os", rc(baseConfig(over)), { reverseDns: fake.reverseDns, retryDelay: Duration.millis(10), ...opts })).pipe(
      Scope.extend(scope)
    )
  )
const cloudOf = async (over: Record<string, unknown> = {}, opts: LiveCloudOptions = {}): Promise<OpenStackCloud> => {
  const r = await make(over, opts)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right as OpenStackCloud
}
const ok = <A>(e: Effect.Effect<A, CloudError>) => Effect.runPromise(e)
const err = async <A>(e: Effect.Effect<A, CloudError>): Promise<CloudError> => {
  const r = await Effect.runPromise(Effect.either(e))
  if (Either.isRight(r)) throw new Error(`expected a failure, got ${JSON.stringify(r.right)}`)
  return r.left
}
/** The real clock, `offset` ms ahead. */
const shiftedClock = (offset: number): Clock.Clock => {
  const base = Clock.make()
  const ms = () => Date.now() + offset
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: ms,
    currentTimeMillis: Effect.sync(ms),
    unsafeCurrentTimeNanos: () => BigInt(ms()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(ms()) * 1_000_000n),
    sleep: (d: Duration.Duration) => base.sleep(d)
  } as Clock.Clock
}
const authCount = () => fake.requests.filter((r) => r.path.endsWith("/auth/tokens")).length

describe("configuration", () => {
  it("names every wrong or missing key with its full path", async () => {
    const r = await Effect.runPromise(
      Effect.either(openstackFactory("os-res", rc({ auth_url: "keystone:5000", flavor: 2, instance_name_prefix: "bad prefix", api_timeout: -1 }))).pipe(Effect.scoped)
    )
    expect(Either.isLeft(r)).toBe(true)
    const msg = (r as Either.Left<CloudSetupError, unknown>).left.problems.join("\n")
    expect(msg).toMatch(/^cloud\.os-res\.config\.auth_url: expected an http:\/\/ or https:\/\/ URL, got "keystone:5000"$/m)
    expect(msg).toMatch(/^cloud\.os-res\.config\.image_uuid: is required but missing$/m)
    expect(msg).toMatch(/^cloud\.os-res\.config\.flavor: expected a string, got 2$/m)
    expect(msg).toMatch(/^cloud\.os-res\.config\.instance_name_prefix: expected a name prefix/m)
    expect(msg).toMatch(/^cloud\.os-res\.config\.api_timeout: expected a positive number/m)
  })

  it("asks for credentials in plain words, and never echoes the password", async () => {
    const r = await make({ password: null, project: null })
    expect(Either.isLeft(r) && r.left.message).toMatch(/^cloud\.os\.config: missing password, project \(or project_id\): give username, password and project, or application_credential_id/)
    const bad = await make({ password: 12345 })
    expect(Either.isLeft(bad) && bad.left.message).toMatch(/cloud\.os\.config\.password: expected a string/)
  })

  it("a missing user-data file stops start-up, not the first boot", async () => {
    const r = await make({ userdata_file: join(scratch, "missing.sh") })
    expect(Either.isLeft(r) && r.left.message).toMatch(/^cloud\.os\.config\.userdata_file: .*missing\.sh: no such file$/)
  })

  it("warns about unknown keys and about a v2.0 auth_url", async () => {
    const c = await cloudOf({ auth_url: fake.authUrl.replace(/v3$/, "v2.0/"), colour: "blue" })
    expect(c.warnings).toContain("cloud.os.config.colour: unknown key, ignored")
    expect(c.warnings.some((w) => /Keystone v2\.0; using the v3 API/.test(w))).toBe(true)
    // and it works through v3
    expect(await ok(c.coresPerNode("os"))).toBe(2)
  })
})

describe("authentication", () => {
  it("password auth with the Default domains, token cached across calls", async () => {
    const c = await cloudOf()
    await ok(c.list("os"))
    await ok(c.list("os"))
    const auths = fake.requests.filter((r) => r.path === "/identity/v3/auth/tokens")
    expect(auths.length).toBe(1)
    expect(auths[0].body).toEqual({
      auth: {
        identity: { methods: ["password"], password: { user: { name: "demo", domain: { name: "Default" }, password: "secret" } } },
        scope: { project: { name: "demo", domain: { name: "Default" } } }
      }
    })
  })

  it("application credentials", async () => {
    const c = await cloudOf({ username: null, password: null, project: null, application_credential_id: "ac-1", application_credential_secret: "ac-secret" })
    expect(await ok(c.probe)).toMatch(/authenticated as demo in project demo; compute endpoint http:\/\/127\.0\.0\.1:\d+\/compute\/v2\.1; flavour m1\.small has 2 vCPUs; network private = /)
    expect(fake.requests[0].body).toEqual({ auth: { identity: { methods: ["application_credential"], application_credential: { id: "ac-1", secret: "ac-secret" } } } })
  })

  it("wrong credentials are an auth error that says who, without the password", async () => {
    const c = await cloudOf({ password: "wrong-pw" })
    const e = await err(c.list("os"))
    expect(e.kind).toBe("auth")
    expect(e.message).toMatch(/refused the credentials of user demo \(domain Default\) in project demo/)
    expect(e.message).not.toMatch(/wrong-pw/)
  })

  it("renews the token before it expires (by the Clock)", async () => {
    const c = await cloudOf()
    await ok(c.list("os"))
    expect(authCount()).toBe(1)
    // 50 minutes later the 1-hour token is within its renewal margin (5 minutes or a quarter of its life)
    await Effect.runPromise(Effect.withClock(c.list("os"), shiftedClock(3000_000)))
    expect(authCount()).toBe(1)
    await Effect.runPromise(Effect.withClock(c.list("os"), shiftedClock(3400_000)))
    expect(authCount()).toBe(2)
  })

  it("a 401 from Nova (revoked token) re-authenticates once and carries on", async () => {
    const c = await cloudOf()
    await ok(c.list("os"))
    fake.revokeTokens()
    expect(await ok(c.list("os"))).toEqual([])
    expect(authCount()).toBe(2)
    // a service that keeps refusing: auth error, not an endless loop
    fake.inject({ path: /servers\/detail/, times: 5, fault: { kind: "status", status: 401, body: { error: { code: 401, message: "no" } } } })
    const e = await err(c.list("os"))
    expect(e.kind).toBe("auth")
    expect(authCount()).toBe(3)
  })

  it("a missing region or interface in the catalogue is explained", async () => {
    const c = await cloudOf({ region: "Mars" })
    const e = await err(c.list("os"))
    expect(e.kind).toBe("notfound")
    expect(e.message).toBe("the service catalogue has no public compute endpoint in region Mars (regions offered: RegionOne)")
  })
})

describe("servers", () => {
  it("boots with what Nova needs: flavour id, image, key, groups, zone, network id, user data", async () => {
    const c = await cloudOf()
    const inst = await ok(c.boot("os"))
    expect(inst.instance_name).toMatch(/^wn-[a-z0-9]{8}$/)
    expect(inst.state).toBe(InstanceState.Pending)
    expect(inst.vcpu_number).toBe(2)
    const post = fake.requests.find((r) => r.method === "POST" && r.path === "/compute/v2.1/servers")!
    const s = (post.body as any).server
    expect(s).toMatchObject({
      name: inst.instance_name,
      imageRef: "1b66d8cd-7d10-413a-ae06-3b61560e788a",
      flavorRef: "2",
      key_name: "cluster",
      security_groups: [{ name: "wn" }, { name: "ssh" }],
      availability_zone: "zone-a",
      networks: [{ uuid: fake.networks[0].id }]
    })
    expect(Buffer.from(s.user_data, "base64").toString()).toBe(`#!/bin/sh\necho '${inst.instance_name}' > /etc/salt/minion_id\n`)
    expect(fake.servers.get(inst.uuid!)!.userData).toContain(inst.instance_name)
  })

  it("every Nova call names Compute API microversion 2.37; networks is always sent (auto without a network)", async () => {
    const c = await cloudOf({ network: null })
    const inst = await ok(c.boot("os"))
    await ok(c.refresh(inst))
    await ok(c.list("os"))
    await ok(c.destroy(inst))
    const nova = fake.requests.filter((r) => r.path.startsWith("/compute/"))
    expect(nova.length).toBeGreaterThanOrEqual(4)
    for (const r of nova) {
      expect(r.headers["openstack-api-version"], `${r.method} ${r.path}`).toBe("compute 2.37")
      expect(r.headers["x-openstack-nova-api-version"]).toBe("2.37")
    }
    const post = fake.requests.find((r) => r.method === "POST" && r.path === "/compute/v2.1/servers")!
    expect((post.body as any).server.networks).toBe("auto")
    // Keystone is not Nova: no compute microversion there
    expect(fake.requests.find((r) => r.path.endsWith("/auth/tokens"))!.headers["openstack-api-version"]).toBeUndefined()
  })

  it("Nova (and the fake) refuse what the layer no longer sends: a 2.37 boot without networks, \"none\" at 2.1", async () => {
    const c = await cloudOf()
    const token = (await ok(c.session.token)).id
    const post = (mv: string | null, server: Record<string, unknown>) =>
      fetch(`${fake.url}/compute/v2.1/servers`, {
        method: "POST",
        headers: { "X-Auth-Token": token, "Content-Type": "application/json", ...(mv !== null ? { "OpenStack-API-Version": `compute ${mv}` } : {}) },
        body: JSON.stringify({ server: { name: "wn-raw", imageRef: fake.images[0], flavorRef: "1", ...server } })
      })
    const noNet = await post("2.37", {})
    expect(noNet.status).toBe(400)
    expect(await noNet.text()).toContain("'networks' is a required property")
    expect((await post(null, { networks: "none" })).status).toBe(400)
    const tooNew = await post("2.999", { networks: "none" })
    expect(tooNew.status).toBe(406)
    const okay = await post("2.37", { networks: "none" })
    expect(okay.status).toBe(202)
    expect(okay.headers.get("openstack-api-version")).toBe("compute 2.37")
  })

  it("network: none boots without a network; ACTIVE without an address is Active, named by its instance name", async () => {
    const c = await cloudOf({ network: "none" })
    const inst = await ok(c.boot("os"))
    const post = fake.requests.find((r) => r.method === "POST" && r.path === "/compute/v2.1/servers")!
    expect((post.body as any).server.networks).toBe("none")
    expect(fake.requests.some((r) => r.path.startsWith("/network/"))).toBe(false)
    expect((await ok(c.refresh(inst))).state).toBe(InstanceState.Pending)
    expect((await ok(c.refresh(inst))).state).toBe(InstanceState.Starting)
    const r = await ok(c.refresh(inst))
    expect(r.state).toBe(InstanceState.Active)
    expect(r.ip).toBeNull()
    expect(r.dns_name).toBe(inst.instance_name)
    expect((await ok(c.list("os")))[0].state).toBe(InstanceState.Active)
    expect(await ok(c.probe)).toContain("no network (network: none)")
  })

  it("renders the boot's extra user-data values (slurm-resume's {{ slurm_node }})", async () => {
    writeFileSync(userdata, "#!/bin/sh\necho '{{ minion_id }}' > /etc/salt/minion_id\necho '{{ slurm_node }}' > /etc/slurm-node\n")
    try {
      const c = await cloudOf()
      const inst = await ok(c.boot("os", { userData: { slurm_node: "cloud7" } }))
      const post = fake.requests.filter((r) => r.method === "POST" && r.path === "/compute/v2.1/servers").at(-1)!
      expect(Buffer.from((post.body as any).server.user_data, "base64").toString()).toBe(
        `#!/bin/sh\necho '${inst.instance_name}' > /etc/salt/minion_id\necho 'cloud7' > /etc/slurm-node\n`
      )
    } finally {
      writeFileSync(userdata, "#!/bin/sh\necho '{{ minion_id }}' > /etc/salt/minion_id\n")
    }
  })

  it("names come from Effect's Random: seeded, they repeat", async () => {
    const c = await cloudOf()
    const { Random } = await import("effect")
    const names = async () => {
      const a = await Effect.runPromise(Effect.withRandom(c.boot("os"), Random.make(42)))
      return a.instance_name
    }
    expect(await names()).toBe(await names())
  })

  it("follows a boot: Pending (no host) → Starting (spawning) → Active with IPv4 and DNS name", async () => {
    const c = await cloudOf()
    const inst = await ok(c.boot("os"))
    const r1 = await ok(c.refresh(inst))
    expect(r1.state).toBe(InstanceState.Pending)
    const r2 = await ok(c.refresh(r1))
    expect(r2.state).toBe(InstanceState.Starting)
    const r3 = await ok(c.refresh(r2))
    expect(r3.state).toBe(InstanceState.Active)
    expect(r3.ip).toMatch(/^10\.0\.\d+\.\d+$/)
    expect(r3.dns_name).toBe(`${inst.instance_name}.cloud.test`)
    expect(r3.vcpu_number).toBe(2)
    expect(r3.availability_zone).toBe("zone-a")
    expect(r3.security_groups).toEqual(["wn", "ssh"])
  })

  it("host name falls back to the instance name when reverse DNS is slow or has no answer", async () => {
    const slow = await cloudOf({ dns_timeout: 0.1 }, { reverseDns: () => new Promise((r) => setTimeout(() => r(["late.example"]), 2000)) })
    const inst = await ok(slow.boot("os"))
    fake.settle()
    const t0 = Date.now()
    const r = await ok(slow.refresh(inst))
    expect(r.state).toBe(InstanceState.Active)
    expect(r.dns_name).toBe(inst.instance_name)
    expect(Date.now() - t0).toBeLessThan(1500)
    const none = await cloudOf({}, { reverseDns: () => Promise.reject(new Error("ENOTFOUND")) })
    expect((await ok(none.refresh(r))).dns_name).toBe(inst.instance_name)
    const garbage = await cloudOf({}, { reverseDns: () => Promise.resolve(["evil;rm -rf /"]) })
    expect((await ok(garbage.refresh(r))).dns_name).toBe(inst.instance_name)
    const lh = await cloudOf({}, { reverseDns: () => Promise.resolve(["localhost.localdomain.", "localhost"]) })
    expect((await ok(lh.refresh(r))).dns_name).toBe(inst.instance_name)
  })

  it("a boot that ends in ERROR is Error; task_state deleting is Deleting; a 404 is Inexistent", async () => {
    const c = await cloudOf()
    fake.failBoots = 1
    const bad = await ok(c.boot("os"))
    fake.settle()
    expect((await ok(c.refresh(bad))).state).toBe(InstanceState.Error)
    fake.autoAdvance = false
    await ok(c.destroy(bad))
    expect((await ok(c.refresh(bad))).state).toBe(InstanceState.Deleting)
    fake.settle()
    expect((await ok(c.refresh(bad))).state).toBe(InstanceState.Inexistent)
    // destroying what is already gone is fine
    await ok(c.destroy(bad))
    expect((await ok(c.refresh({ ...bad, uuid: "00000000-0000-4000-8000-000000000000" }))).state).toBe(InstanceState.Inexistent)
  })

  it("a server in ERROR carries its fault, classified: Nova's scheduler finding no valid host is capacity (issue 20)", async () => {
    const c = await cloudOf()
    fake.failBoots = 1
    const bad = await ok(c.boot("os"))
    fake.settle()
    const r = await ok(c.refresh(bad))
    expect(r.state).toBe(InstanceState.Error)
    expect(r.fault).toEqual({ class: "capacity", message: "No valid host was found. There are not enough hosts available." })
    // the listing says the same
    expect((await ok(c.list("os"))).find((i) => i.uuid === bad.uuid)?.fault).toEqual(r.fault)
    // any other fault is a plain Error (the engine retires the node, the resource is not skipped)
    const other = await ok(c.boot("os"))
    fake.settle()
    Object.assign(fake.servers.get(other.uuid!)!, { status: "ERROR", vmState: "error", fault: { code: 500, message: "Build of instance aborted: disk full" } })
    expect((await ok(c.refresh(other))).fault).toEqual({ class: "transient", message: "Build of instance aborted: disk full" })
    // a server not in ERROR has no fault
    const good = await ok(c.boot("os"))
    fake.settle()
    expect((await ok(c.refresh(good))).fault).toBeUndefined()
  })

  it("lists only this prefix, through every page", async () => {
    const c = await cloudOf()
    for (let i = 0; i < 230; i++) fake.addForeign(`wn-${String(i).padStart(4, "0")}`)
    fake.addForeign("wn2-0001")
    fake.addForeign("other-0001")
    fake.addForeign("xwn-0001")
    const all = await ok(c.list("os"))
    expect(all.length).toBe(230)
    expect(new Set(all.map((i) => i.instance_name)).size).toBe(230)
    expect(all.every((i) => i.instance_name!.startsWith("wn-") && i.cloud_resource === "os" && i.state === InstanceState.Active)).toBe(true)
    const pages = fake.requests.filter((r) => r.path === "/compute/v2.1/servers/detail")
    expect(pages.length).toBe(3)
    expect(pages[0].query).toMatchObject({ name: "^wn-", limit: "100" })
    expect(pages[1].query.marker).toBeDefined()
  })

  it("an unknown flavour is an invalid-request error listing what exists", async () => {
    const c = await cloudOf({ flavor: "m9.huge" })
    const e = await err(c.coresPerNode("os"))
    expect(e.kind).toBe("invalid")
    expect(e.message).toBe('flavour "m9.huge" not found (available: m1.tiny, m1.small, m1.medium, m1.large)')
    const byId = await cloudOf({ flavor: "classic-name", flavor_id: 3 })
    expect(await ok(byId.coresPerNode("os"))).toBe(4)
  })
})

describe("failures map into the kinds the engine backs off from", () => {
  it("quota (403 Quota exceeded) is quota", async () => {
    const c = await cloudOf()
    fake.quota = 1
    await ok(c.boot("os"))
    const e = await err(c.boot("os"))
    expect(e.kind).toBe("quota")
    expect(e.message).toMatch(/^403 from 127\.0\.0\.1:\d+: Quota exceeded for instances: Requested 1, but already used 1 of 1 instances$/)
  })

  it("429 with Retry-After is a rate limit carrying retryAfter; 413 overLimit carries the body's retryAfter", async () => {
    const c = await cloudOf()
    await ok(c.coresPerNode("os"))
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 429, headers: { "Retry-After": "42" }, body: { message: "Rate limit exceeded" } } })
    const e = await err(c.boot("os"))
    expect(e).toMatchObject({ kind: "ratelimit", retryAfter: 42 })
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 413, body: { overLimit: { code: 413, message: "Quota exceeded for cores", retryAfter: "17" } } } })
    expect(await err(c.boot("os"))).toMatchObject({ kind: "quota", retryAfter: 17 })
    const date = new Date(Date.now() + 60_000).toUTCString()
    fake.inject({ method: "GET", path: /servers\/detail/, times: 2, fault: { kind: "status", status: 503, headers: { "Retry-After": date } } })
    const d = await err(c.list("os"))
    expect(d.kind).toBe("api")
    expect(d.retryAfter).toBeGreaterThanOrEqual(58)
    expect(d.retryAfter).toBeLessThanOrEqual(61)
  })

  it("Nova's scheduler finding no valid host is capacity (issue 20)", async () => {
    const c = await cloudOf()
    await ok(c.coresPerNode("os"))
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 500, body: { computeFault: { code: 500, message: "No valid host was found. There are not enough hosts available." } } } })
    expect(await err(c.boot("os"))).toMatchObject({ kind: "capacity", op: "boot" })
  })

  it("bad requests, conflicts, 5xx", async () => {
    const c = await cloudOf({ image_uuid: "no-such-image" })
    const e = await err(c.boot("os"))
    expect(e).toMatchObject({ kind: "invalid", op: "boot" })
    // Nova Zed's words (ci/openstack): not the image id, not "could not be found"
    expect(e.message).toMatch(/^400 from 127\.0\.0\.1:\d+: Can not find requested image$/)
    const d = await cloudOf()
    fake.inject({ method: "DELETE", fault: { kind: "status", status: 409, body: { conflictingRequest: { code: 409, message: "Instance is locked" } } } })
    expect(await err(d.destroy({ ...(await ok(d.boot("os"))) }))).toMatchObject({ kind: "conflict" })
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "status", status: 500 } })
    expect(await err(d.boot("os"))).toMatchObject({ kind: "api" })
  })

  it("answers that are not what Nova sends are api errors naming the path", async () => {
    const c = await cloudOf()
    fake.inject({ path: /servers\/detail/, fault: { kind: "garbage", text: "<html>proxy error</html>" } })
    expect((await err(c.list("os"))).message).toMatch(/not JSON: "<html>proxy error<\/html>"/)
    fake.inject({ path: /servers\/detail/, fault: { kind: "status", status: 200, body: { servers: [{ id: "x", name: "wn-1", status: 7 }] } } })
    const e = await err(c.list("os"))
    expect(e.kind).toBe("api")
    expect(e.message).toMatch(/servers\.0\.status: expected a string, got 7/)
  })

  it("a dropped connection is retried once for reads; twice is an api error", async () => {
    const c = await cloudOf()
    fake.inject({ path: /servers\/detail/, fault: { kind: "drop" } })
    expect(await ok(c.list("os"))).toEqual([])
    fake.inject({ path: /servers\/detail/, times: 2, fault: { kind: "drop" } })
    const e = await err(c.list("os"))
    expect(e.kind).toBe("api")
    expect(e.message).toMatch(/cannot talk to 127\.0\.0\.1:\d+/)
  })

  it("a slow answer is a timeout after api_timeout", async () => {
    const c = await cloudOf({ api_timeout: 0.3 })
    await ok(c.list("os"))
    fake.inject({ path: /servers\/detail/, fault: { kind: "delay", ms: 1500 } })
    const t0 = Date.now()
    const e = await err(c.list("os"))
    expect(e.kind).toBe("timeout")
    expect(e.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 0\.3s/)
    expect(Date.now() - t0).toBeLessThan(1200)
  })

  it("a boot whose answer was lost finds its server by name instead of leaking it", async () => {
    const c = await cloudOf()
    await ok(c.coresPerNode("os"))
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "dropAfter" } })
    const inst = await ok(c.boot("os"))
    expect(fake.live().length).toBe(1)
    expect(inst.uuid).toBe(fake.live()[0].id)
    // the request never reached Nova: the error stands
    fake.inject({ method: "POST", path: /\/servers$/, fault: { kind: "drop" } })
    expect((await err(c.boot("os"))).kind).toBe("api")
    expect(fake.live().length).toBe(1)
  })

  it("instances keep their creation time across refreshes", async () => {
    const c = await cloudOf()
    const inst: Instance = await ok(c.boot("os"))
    const r = await ok(c.refresh({ ...inst, creation_time: 1000 }))
    expect(r.creation_time).toBe(1000)
  })
})
