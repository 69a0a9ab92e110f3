/**
 * The Cloud contract (DESIGN.md "one interface, two implementations, one
 * contract suite"): what the engine relies on from any CloudService, run
 * against the simulated cloud and against each live layer (on its fake
 * server). A harness gives the service and a way to let the cloud finish
 * what it is doing.
 */
import { Effect, Either } from "effect"
import { describe, expect, it } from "vitest"
import type { CloudError, CloudService } from "../../engine/services.ts"
import { InstanceState, type Instance } from "../../model/types.ts"
import { openHarnesses } from "./harnesses.ts"

export interface CloudHarness {
  readonly cloud: CloudService
  readonly resource: string
  readonly prefix: string
  /** vCPUs of the resource's flavour / instance type. */
  readonly cores: number
  /** Let the cloud finish every boot and deletion in progress. */
  readonly settle: () => Promise<void>
  /** Instances never get an address (OpenStack `network: none`): Active has no ip, its host name is its instance name. */
  readonly addressless?: boolean
  /** Refreshes to wait for a state change (default 6; a real cloud takes more). */
  readonly tries?: number
  /** Put an instance that is not ours (another prefix) in the same account. */
  readonly addForeign?: (name: string) => Promise<void>
  /** Why this cloud cannot be given a quota (the quota test is skipped, visibly), when it cannot. */
  readonly noQuota?: string
  readonly close: () => Promise<void>
}

export interface HarnessOptions {
  /** Instances the account may have at once. */
  readonly quota?: number
}

const run = <A>(e: Effect.Effect<A, CloudError>) => Effect.runPromise(e)
const fail = async <A>(e: Effect.Effect<A, CloudError>): Promise<CloudError> => {
  const r = await Effect.runPromise(Effect.either(e))
  if (Either.isRight(r)) throw new Error(`expected a CloudError, got ${JSON.stringify(r.right)}`)
  return r.left
}

/** Refreshes until the state is one of `want` or `tries` run out (clouds answer in steps). */
const refreshUntil = async (cloud: CloudService, inst: Instance, want: ReadonlyArray<number>, settle: () => Promise<void>, tries = 6) => {
  let cur = inst
  for (let i = 0; i < tries; i++) {
    cur = { ...(await run(cloud.refresh(cur))), uuid: inst.uuid, creation_time: inst.creation_time }
    if (want.includes(cur.state)) return cur
    await settle()
  }
  return cur
}

export const cloudContract = (name: string, make: (o: HarnessOptions) => Promise<CloudHarness>): void => {
  describe(`Cloud contract: ${name}`, () => {
    const harness = openHarnesses((o: HarnessOptions = {}) => make(o))

    it("reports the vCPUs of the resource's flavour", async () => {
      const h = await harness()
      expect(await run(h.cloud.coresPerNode(h.resource))).toBe(h.cores)
    })

    it("boot returns a Pending or Starting instance of the resource, named with its prefix; list finds it", async () => {
      const h = await harness()
      expect(await run(h.cloud.list(h.resource))).toEqual([])
      const a = await run(h.cloud.boot(h.resource))
      const b = await run(h.cloud.boot(h.resource))
      for (const i of [a, b]) {
        expect([InstanceState.Pending, InstanceState.Starting]).toContain(i.state)
        expect(i.uuid).not.toBeNull()
        expect(i.cloud_resource).toBe(h.resource)
        expect(i.instance_name!.startsWith(`${h.prefix}-`)).toBe(true)
        expect(i.tasked).toBe(false)
      }
      expect(a.uuid).not.toBe(b.uuid)
      expect(a.instance_name).not.toBe(b.instance_name)
      const listed = await run(h.cloud.list(h.resource))
      expect(listed.map((i) => i.uuid).sort()).toEqual([a.uuid, b.uuid].sort())
      expect(new Set(listed.map((i) => i.instance_name))).toEqual(new Set([a.instance_name, b.instance_name]))
    })

    it("a finished boot is Active with an address, a host name and the flavour's vCPUs", async () => {
      const h = await harness()
      const a = await run(h.cloud.boot(h.resource))
      await h.settle()
      const r = await refreshUntil(h.cloud, a, [InstanceState.Active], h.settle, h.tries)
      expect(r.state).toBe(InstanceState.Active)
      if (h.addressless) {
        expect(r.ip).toBeNull()
        expect(r.dns_name).toBe(a.instance_name)
      } else expect(r.ip).not.toBeNull()
      expect(r.dns_name).not.toBeNull()
      expect(r.vcpu_number).toBe(h.cores)
      expect(r.instance_name).toBe(a.instance_name)
      const listed = await run(h.cloud.list(h.resource))
      expect(listed.find((i) => i.uuid === a.uuid)?.state).toBe(InstanceState.Active)
    })

    it("destroy: Deleting, then Inexistent and no longer listed; destroying again is not an error", async () => {
      const h = await harness()
      const a = await run(h.cloud.boot(h.resource))
      await h.settle()
      const act = await refreshUntil(h.cloud, a, [InstanceState.Active], h.settle, h.tries)
      await run(h.cloud.destroy(act))
      const d = await run(h.cloud.refresh(act))
      expect([InstanceState.Deleting, InstanceState.Inexistent]).toContain(d.state)
      await h.settle()
      const gone = await refreshUntil(h.cloud, act, [InstanceState.Inexistent], h.settle, h.tries)
      expect(gone.state).toBe(InstanceState.Inexistent)
      expect(await run(h.cloud.list(h.resource))).toEqual([])
      await run(h.cloud.destroy(act))
    })

    it("an instance the cloud never had is Inexistent", async () => {
      const h = await harness()
      const a = await run(h.cloud.boot(h.resource))
      const ghost: Instance = { ...a, uuid: "i-0ddba11c0ffee0000", spot_id: null, creation_time: a.creation_time - 86400 }
      expect((await run(h.cloud.refresh(ghost))).state).toBe(InstanceState.Inexistent)
    })

    it("a boot over the quota fails with kind quota, and nothing is left behind", async () => {
      const h = await harness({ quota: 1 })
      if (h.noQuota !== undefined) return void console.warn(`[Cloud contract: ${name}] quota test skipped: ${h.noQuota}`)
      await run(h.cloud.boot(h.resource))
      const e = await fail(h.cloud.boot(h.resource))
      expect(e.kind).toBe("quota")
      expect(e.resource).toBe(h.resource)
      expect((await run(h.cloud.list(h.resource))).length).toBe(1)
    })

    it("never lists instances of another prefix", async () => {
      const h = await harness()
      if (h.addForeign === undefined) return
      await h.addForeign(`${h.prefix}x-1`)
      await h.addForeign(`other-${h.prefix}-1`)
      expect(await run(h.cloud.list(h.resource))).toEqual([])
    })

    it("a resource it does not serve is a CloudError, not a crash", async () => {
      const h = await harness()
      const e = await fail(h.cloud.boot("no-such-resource"))
      expect(e.kind).toBe("notfound")
    })
  })
}
