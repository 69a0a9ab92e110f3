import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodeConfig, engineSettings, type ConfigFile } from "../model/config.ts"
import { initialResState, reconfigureState } from "./reconfigure.ts"

const config = (doc: Record<string, unknown>): ConfigFile => {
  const r = decodeConfig({ cluster: { type: "torque" }, ...doc })
  if (Either.isLeft(r)) throw r.left
  return r.right.config
}
const res = (max: number, extra: Record<string, unknown> = {}) => ({ type: "openstack", quantity: { min: 0, max }, config: { instance_name_prefix: "p" }, ...extra })

const stateOf = (c: ConfigFile) => ({
  settings: engineSettings(c),
  resources: new Map(Object.entries(c.cloud).map(([n, rc]) => [n, initialResState(n, rc)])),
  prices: new Map(Object.entries(c.cloud).flatMap(([n, rc]) => (rc.price !== undefined ? [[n, rc.price] as const] : [])))
})

describe("reconfigureState", () => {
  it("takes timers, limits, priorities and prices; adds new resources; reports removed ones and what needs a restart", () => {
    const old = config({ "dynamic-cluster": { max_idle_time: 600 }, cloud: { a: res(2, { price: 1 }), b: res(3), gone: res(1) } })
    const next = config({
      "dynamic-cluster": { max_idle_time: 60, policy: "classic" },
      cloud: { a: res(5, { priority: 3, price: 2 }), b: res(3, { reservation: { queue: "gpu" } }), c: res(1) }
    })
    const s = stateOf(old)
    s.resources.get("b")!.mode = "frozen"
    const { settings, result } = reconfigureState(s, old, next)
    expect(settings.maxIdleTime).toBe(60)
    expect(settings.policy).toBe(old["dynamic-cluster"].policy)
    expect(result.changes).toEqual([
      "dynamic-cluster.max_idle_time: 600 → 60",
      "cloud.a.priority: 1 → 3",
      "cloud.a.quantity: min 0 → 0, max 2 → 5",
      "cloud.a.price: 1 → 2",
      "cloud.c: new resource (openstack, min 0, max 1)",
      "cloud.gone: removed from the configuration: drained (its nodes are held and removed as their jobs end)"
    ])
    expect(result.restart).toEqual(["dynamic-cluster.policy", "cloud.b.reservation"])
    expect(result.added).toEqual(["c"])
    expect(result.removed).toEqual(["gone"])
    expect(s.resources.get("a")).toMatchObject({ min: 0, max: 5, cfgMax: 5, priority: 3 })
    expect(s.prices.get("a")).toBe(2)
    expect(s.resources.get("c")).toMatchObject({ max: 1, recovered: false })
    // a removed resource is kept (its nodes drain) and a restore keeps it at 0
    expect(s.resources.get("gone")).toMatchObject({ cfgMin: 0, cfgMax: 0 })
  })

  it("a frozen resource keeps its operator's limits until restored; a new resource without a cloud needs a restart", () => {
    const old = config({ cloud: { a: res(2) } })
    const next = config({ cloud: { a: res(4), z: res(1) } })
    const s = stateOf(old)
    Object.assign(s.resources.get("a")!, { mode: "frozen", min: 1, max: 1 })
    const { result } = reconfigureState(s, old, next, () => false)
    expect(s.resources.get("a")).toMatchObject({ min: 1, max: 1, cfgMax: 4 })
    expect(result.changes).toEqual(["cloud.a.quantity: min 0 → 0, max 2 → 4 (the resource is frozen by an operator: it takes them at PUT /resource/a/restore)"])
    expect(result.restart).toEqual(["cloud.z (a new resource of type openstack)"])
    expect(s.resources.has("z")).toBe(false)
  })

  it("the same file changes nothing", () => {
    const c = config({ cloud: { a: res(2, { price: 1 }) } })
    expect(reconfigureState(stateOf(c), c, c).result).toEqual({ changes: [], restart: [], added: [], removed: [] })
  })
})
