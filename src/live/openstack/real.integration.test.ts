/**
 * The OpenStack layer against a real OpenStack: Keystone 22 and Nova 26 (Zed,
 * Debian 12's packages) with the fake virt driver, brought up on 127.0.0.1 by
 * ci/setup-50-openstack.sh (ci/openstack/README.md). The Cloud contract, then
 * what only a real control plane can tell: token revocation, the catalogue,
 * Nova's build states and error bodies, a server deleted behind the scaler's
 * back. Skipped with a message when that OpenStack is absent; fails under
 * CI=true. VMs have no network (`network: none`: no Neutron there).
 */
import { Duration, Effect, Either, Exit, Scope } from "effect"
import { afterAll, expect, it, vi } from "vitest"
import type { CloudError } from "../../engine/services.ts"
import type { ResourceConfig } from "../../model/config.ts"
import { InstanceState, InstanceStateNames } from "../../model/types.ts"
import { cloudContract, type CloudHarness, type HarnessOptions } from "../contract/cloud-contract.ts"
import { openstackFactory, type OpenStackCloud } from "./cloud.ts"
import { admin, describeWithOpenStack, resourceConfig, type RealOpenStack } from "./testing/real.ts"

// a real boot takes 5-30 s on a busy 2-core machine
vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 })

const rc = (config: Record<string, unknown>): ResourceConfig => ({
  type: "openstack",
  priority: 1,
  quantity: { min: 0, max: 5 },
  reservation: { queue: null, account: null, property: null },
  config
})

const open = async (os: RealOpenStack, project: string, prefix: string, over: Record<string, unknown> = {}) => {
  const scope = Effect.runSync(Scope.make())
  const made = await Effect.runPromise(
    Effect.either(openstackFactory("os", rc(resourceConfig(os, project, prefix, over)), { retryDelay: Duration.millis(500) })).pipe(Scope.extend(scope))
  )
  if (Either.isLeft(made)) throw new Error(made.left.message)
  return { cloud: made.right as OpenStackCloud, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const ok = <A>(e: Effect.Effect<A, CloudError>) => Effect.runPromise(e)
const err = async <A>(e: Effect.Effect<A, CloudError>): Promise<CloudError> => {
  const r = await Effect.runPromise(Effect.either(e))
  if (Either.isRight(r)) throw new Error(`expected a CloudError, got ${JSON.stringify(r.right)}`)
  return r.left
}

describeWithOpenStack("OpenStack layer against a real OpenStack (Keystone 22 / Nova 26 Zed, fake virt driver)", (os) => {
  console.log(`real OpenStack: Keystone at ${os.authUrl}, image ${os.imageId}`)
  const adm = admin(os)
  const PROJECT = "dc-contract"
  let n = 0

  const harness = async (o: HarnessOptions): Promise<CloudHarness> => {
    // a prefix per harness: a test's leftovers never meet the next one
    const prefix = `ct${process.pid % 1000}x${n++}`
    await adm.setInstanceQuota(PROJECT, o.quota ?? 10)
    const c = await open(os, PROJECT, prefix)
    return {
      cloud: c.cloud,
      resource: "os",
      prefix,
      cores: 2,
      addressless: true,
      tries: 60,
      settle: async () => {
        await adm.settle(PROJECT, prefix)
        await new Promise((r) => setTimeout(r, 500))
      },
      addForeign: async (name) => adm.bootAs(PROJECT, name),
      close: async () => {
        await c.close()
        await adm.purge(PROJECT, prefix)
        for (const other of [`${prefix}x`, `other`]) await adm.purge(PROJECT, other)
        await adm.setInstanceQuota(PROJECT, 10)
      }
    }
  }

  cloudContract("OpenStack layer (real OpenStack)", harness)

  const cleanup: Array<() => Promise<unknown>> = []
  afterAll(async () => {
    for (const f of cleanup.reverse()) await f()
  })

  it("real OpenStack: Keystone's token, catalogue and expiry as the session reads them; a revoked token is renewed", async () => {
    const c = await open(os, PROJECT, "tk")
    cleanup.push(c.close)
    const t1 = await ok(c.cloud.session.token)
    expect(t1.user).toBe(os.user)
    expect(t1.project).toBe(PROJECT)
    expect(t1.catalog.map((e) => e.type).sort()).toEqual(expect.arrayContaining(["compute", "identity", "image"]))
    // Keystone's default lifetime (1 h): renewal is planned a quarter before, at most 5 min
    expect(t1.expiresAt - Date.now()).toBeGreaterThan(50 * 60_000)
    expect(t1.expiresAt - t1.renewAt).toBe(5 * 60_000)
    expect(await ok(c.cloud.session.endpoint("compute"))).toBe("http://127.0.0.1:8774/v2.1")
    expect(await ok(c.cloud.list("os"))).toEqual([])

    await adm.revoke(t1.id)
    // Nova refuses the revoked token (401); the session authenticates again, once, and carries on
    expect(await ok(c.cloud.list("os"))).toEqual([])
    const t2 = await ok(c.cloud.session.token)
    expect(t2.id).not.toBe(t1.id)
  })

  it("real OpenStack: refused credentials and a missing region are explained without the password", async () => {
    const bad = await open(os, PROJECT, "tk", { password: "not-the-password-123" })
    cleanup.push(bad.close)
    const e = await err(bad.cloud.list("os"))
    expect(e.kind).toBe("auth")
    expect(e.message).toContain(`user ${os.user} (domain Default) in project ${PROJECT}`)
    expect(e.message).not.toContain("not-the-password-123")
    expect(e.message).not.toContain(os.password)

    const far = await open(os, PROJECT, "tk", { region: "RegionTwo" })
    cleanup.push(far.close)
    const r = await err(far.cloud.list("os"))
    expect(r.kind).toBe("notfound")
    expect(r.message).toContain(`regions offered: ${os.region}`)
  })

  it("real OpenStack: a boot goes Pending → (Starting) → Active; a server deleted behind the scaler's back is Inexistent", async () => {
    const prefix = `st${process.pid % 1000}`
    const c = await open(os, PROJECT, prefix)
    cleanup.push(c.close, () => adm.purge(PROJECT, prefix))
    const inst = await ok(c.cloud.boot("os"))
    expect(inst.state).toBe(InstanceState.Pending)
    const seen: Array<number> = []
    let cur = inst
    const until = Date.now() + 180_000
    while (Date.now() < until && (cur.state === InstanceState.Pending || cur.state === InstanceState.Starting)) {
      cur = await ok(c.cloud.refresh(cur))
      if (seen.at(-1) !== cur.state) seen.push(cur.state)
      await new Promise((r) => setTimeout(r, 250))
    }
    console.log(`real OpenStack: boot states seen ${seen.map((s) => InstanceStateNames[s] ?? s).join(" → ")}`)
    expect(cur.state).toBe(InstanceState.Active)
    expect(seen.every((s) => [InstanceState.Pending, InstanceState.Starting, InstanceState.Active].includes(s as any))).toBe(true)
    expect(cur.vcpu_number).toBe(2)
    expect(cur.flavor).toBe("dc.small")
    expect(cur.image_uuid).toBe(os.imageId)

    // an administrator deletes it: the scaler notices (Deleting while Nova works, then Inexistent) and stops listing it
    await adm.deleteServer(inst.uuid!)
    let after = await ok(c.cloud.refresh(cur))
    expect([InstanceState.Deleting, InstanceState.Inexistent]).toContain(after.state)
    const gone = Date.now() + 120_000
    while (Date.now() < gone && after.state !== InstanceState.Inexistent) {
      await new Promise((r) => setTimeout(r, 250))
      after = await ok(c.cloud.refresh(after))
    }
    expect(after.state).toBe(InstanceState.Inexistent)
    expect(await ok(c.cloud.list("os"))).toEqual([])
  })

  it("real OpenStack: a flavour no hypervisor can hold ends in ERROR with Nova's \"No valid host was found\", which the layer classifies as capacity (issue 20)", async () => {
    // more disk than the fake virt driver's one host has (600000 GB): placement finds no candidate; disk is no quota
    await adm.ensureFlavor("dc.nohost", { vcpus: 1, ram: 64, disk: 1_000_000 })
    const prefix = `nh${process.pid % 1000}`
    const c = await open(os, PROJECT, prefix, { flavor: "dc.nohost" })
    cleanup.push(c.close, () => adm.purge(PROJECT, prefix))
    let cur = await ok(c.cloud.boot("os"))
    const until = Date.now() + 180_000
    while (Date.now() < until && (cur.state === InstanceState.Pending || cur.state === InstanceState.Starting)) {
      await new Promise((r) => setTimeout(r, 250))
      cur = await ok(c.cloud.refresh(cur))
    }
    console.log(`real OpenStack: a flavour too big for every host → ${InstanceStateNames[cur.state]}, fault ${JSON.stringify(cur.fault)}`)
    expect(cur.state).toBe(InstanceState.Error)
    expect(cur.fault?.class).toBe("capacity")
    expect(cur.fault?.message).toMatch(/^No valid host was found/)
    // a server in ERROR counts in the project's instance quota: gone before the next test sets it to 0
    expect(await adm.purge(PROJECT, prefix)).toBe(0)
  })

  it("real OpenStack: Nova's refusals map into kinds — unknown image (400) is invalid, an exhausted quota (403) is quota", async () => {
    const prefix = `er${process.pid % 1000}`
    const c = await open(os, PROJECT, prefix, { image_uuid: "00000000-0000-4000-8000-000000000000" })
    cleanup.push(c.close, () => adm.purge(PROJECT, prefix))
    const e = await err(c.cloud.boot("os"))
    console.log(`real OpenStack: unknown image → ${e.kind}: ${e.message}`)
    expect(e.kind).toBe("invalid")
    expect(e.message).toBe("400 from 127.0.0.1:8774: Can not find requested image")

    await adm.setInstanceQuota(PROJECT, 0)
    cleanup.push(() => adm.setInstanceQuota(PROJECT, 10))
    const q = await err((await open(os, PROJECT, prefix)).cloud.boot("os"))
    console.log(`real OpenStack: quota → ${q.kind}: ${q.message}`)
    expect(q.kind).toBe("quota")
    expect(q.message).toMatch(/^403 from 127\.0\.0\.1:8774: Quota exceeded for instances/)
    await adm.setInstanceQuota(PROJECT, 10)
  })
})
