/**
 * Shadow mode's service wrappers (dry-run.ts): every mutating method of every
 * service is refused without reaching the real service, every read passes
 * through, and would-be nodes go through the lifecycle the engine expects.
 */
import { Context, Effect, Either, TestClock, TestContext } from "effect"
import { describe, expect, it } from "vitest"
import { emptyInstance, InstanceState, NodeState, type Instance } from "../model/types.ts"
import {
  checkerAccess,
  cloudAccess,
  clusterAccess,
  dryRunContext,
  DryRunRefused,
  guard,
  hooksAccess,
  makeShadow,
  type Access
} from "./dry-run.ts"
import { Checker, Cloud, Cluster, Hooks, type CheckerService, type ClusterService, type CloudService, type HooksService } from "./services.ts"

const inst = (name: string): Instance => ({ ...emptyInstance("res", 0), uuid: name, instance_name: name, state: InstanceState.Active })
const node = { hostname: "real1", ip: null, cores: 4, resource: "res", reservation: { queue: null, account: null, property: null }, instanceName: "real1" }

/** Real services that record every call by name. */
const recording = () => {
  const calls: Array<string> = []
  const call = <A>(name: string, a: A) => Effect.sync(() => (calls.push(name), a))
  const cluster: ClusterService = {
    query: call("query", { nodes: [{ hostname: "phys", state: NodeState.Idle, jobs: null, num_proc: 4, extra_attributes: null }], jobs: [] }),
    status: call("status", { sim: true }),
    instanceActive: () => call("instanceActive", undefined),
    addNode: () => call("addNode", undefined),
    removeNode: () => call("removeNode", undefined),
    holdNode: () => call("holdNode", undefined),
    unholdNode: () => call("unholdNode", undefined),
    vacateNode: () => call("vacateNode", undefined),
    checkReservation: () => call("checkReservation", undefined)
  }
  const cloud: CloudService = {
    list: () => call("list", [inst("real-vm")]),
    boot: () => call("boot", inst("booted")),
    refresh: (i) => call("refresh", i),
    destroy: () => call("destroy", undefined),
    coresPerNode: () => call("coresPerNode", 8)
  }
  const checker: CheckerService = { check: () => call("check", true) }
  const hooks: HooksService = { run: () => call("run", undefined) }
  return { calls, cluster, cloud, checker, hooks }
}

/** One call of each member with arguments it accepts. */
const argsFor: Record<string, ReadonlyArray<unknown>> = {
  instanceActive: [node],
  addNode: [node],
  removeNode: ["real1", node.reservation],
  holdNode: ["real1"],
  unholdNode: ["real1"],
  vacateNode: ["real1", ["1"]],
  checkReservation: ["real1", node.reservation],
  list: ["res"],
  boot: ["res"],
  refresh: [inst("real-vm")],
  destroy: [inst("real-vm")],
  coresPerNode: ["res"],
  check: [inst("real-vm")],
  run: ["post_add_node_command", ["real1"]]
}

const invoke = (svc: Record<string, unknown>, key: string): Effect.Effect<unknown, unknown> => {
  const m = svc[key]
  return typeof m === "function" ? (m as (...a: ReadonlyArray<unknown>) => Effect.Effect<unknown, unknown>)(...argsFor[key]) : (m as Effect.Effect<unknown, unknown>)
}

const run = <A, E>(eff: Effect.Effect<A, E>) => Effect.runSync(Effect.either(eff))

describe("the guard", () => {
  const tables: ReadonlyArray<readonly [string, (r: ReturnType<typeof recording>) => object, Record<string, Access>]> = [
    ["cluster", (r) => r.cluster, clusterAccess],
    ["cloud", (r) => r.cloud, cloudAccess],
    ["checker", (r) => r.checker, checkerAccess],
    ["hooks", (r) => r.hooks, hooksAccess]
  ]

  it("classifies every member of every service (the tables are the services' keys)", () => {
    const r = recording()
    for (const [, svc, table] of tables) expect(Object.keys(table).sort()).toEqual(Object.keys(svc(r)).sort())
    // what a dry run must never do, by name
    expect(Object.entries({ ...clusterAccess, ...cloudAccess, ...hooksAccess }).filter(([, a]) => a === "mutate").map(([k]) => k).sort()).toEqual(
      ["addNode", "boot", "checkReservation", "destroy", "holdNode", "instanceActive", "removeNode", "run", "unholdNode", "vacateNode"].sort()
    )
  })

  for (const [name, svc, table] of tables) {
    it(`${name}: every mutating method is refused with DryRunRefused and never reaches the service; every read does`, () => {
      for (const [key, access] of Object.entries(table)) {
        const r = recording()
        const g = guard(name, svc(r), table as never) as Record<string, unknown>
        const out = run(invoke(g, key))
        if (access === "mutate") {
          expect(Either.isLeft(out) && out.left instanceof DryRunRefused, `${name}.${key} refused`).toBe(true)
          expect((out as Either.Left<DryRunRefused, unknown>).left).toMatchObject({ service: name, op: key })
          expect(r.calls, `${name}.${key} not called`).toEqual([])
        } else {
          expect(Either.isRight(out), `${name}.${key} passes`).toBe(true)
          expect(r.calls).toEqual([key])
        }
      }
    })
  }

  it("drops members a table does not name", () => {
    const g = guard("cloud", { ...recording().cloud, reboot: () => Effect.void } as CloudService, cloudAccess) as Record<string, unknown>
    expect(g.reboot).toBeUndefined()
  })
})

describe("the shadow", () => {
  const shadowed = () => {
    const r = recording()
    const refused: Array<string> = []
    const shadow = makeShadow({ bootTime: () => 100, onRefused: (e) => refused.push(`${e.service}.${e.op}`) })
    const ctx = dryRunContext(Context.empty().pipe(Context.add(Cluster, r.cluster), Context.add(Cloud, r.cloud), Context.add(Checker, r.checker), Context.add(Hooks, r.hooks)), shadow)
    return { r, refused, shadow, cluster: Context.get(ctx, Cluster), cloud: Context.get(ctx, Cloud), checker: Context.get(ctx, Checker), hooks: Context.get(ctx, Hooks) }
  }

  it("no mutating call of the engine's reaches the real services, on real nodes and instances", () => {
    const s = shadowed()
    const services: Record<string, Record<string, unknown>> = { cluster: s.cluster as never, cloud: s.cloud as never, checker: s.checker as never, hooks: s.hooks as never }
    const tables: Record<string, Record<string, Access>> = { cluster: clusterAccess, cloud: cloudAccess, checker: checkerAccess, hooks: hooksAccess }
    for (const [name, table] of Object.entries(tables)) for (const key of Object.keys(table)) run(invoke(services[name], key))
    const mutating = Object.values(tables).flatMap((t) => Object.entries(t).filter(([, a]) => a === "mutate").map(([k]) => k))
    expect(s.r.calls.filter((c) => mutating.includes(c))).toEqual([])
    // reads went through (the boot asked the flavour's cores)
    expect(s.r.calls).toEqual(expect.arrayContaining(["query", "status", "list", "refresh", "coresPerNode", "check"]))
    // mutations of real things fail as the service's own error, and are counted
    expect(run(s.cluster.holdNode("real1"))).toMatchObject({ _tag: "Left", left: { _tag: "ClusterError", op: "holdNode" } })
    expect(run(s.cloud.destroy(inst("real-vm")))).toMatchObject({ _tag: "Left", left: { _tag: "CloudError", op: "destroy" } })
    expect(s.refused).toContain("hooks.run")
    expect(s.shadow.refused()["cloud.boot"]).toBe(1)
  })

  it("a boot is a would-be node: Starting, Active after the boot time, Idle once added, Held, gone after destroy", async () => {
    const s = shadowed()
    const steps = await Effect.runPromise(
      Effect.gen(function* () {
        const booted = yield* s.cloud.boot("res")
        const starting = yield* s.cloud.refresh(booted)
        yield* TestClock.adjust("100 seconds")
        const active = yield* s.cloud.refresh(booted)
        const ready = yield* s.checker.check(active)
        const before = yield* s.cluster.query
        const nn = { ...node, hostname: active.dns_name!, instanceName: active.instance_name }
        yield* s.cluster.addNode(nn)
        const joined = yield* s.cluster.query
        const listed = yield* s.cloud.list("res")
        yield* s.cluster.holdNode(nn.hostname)
        const held = yield* s.cluster.query
        yield* s.cluster.removeNode(nn.hostname, nn.reservation)
        const removed = yield* s.cluster.query
        yield* s.cloud.destroy(active)
        const gone = yield* s.cloud.refresh(active)
        return { booted, starting, active, ready, before, joined, listed, held, removed, gone }
      }).pipe(Effect.provide(TestContext.TestContext))
    )
    expect(steps.booted).toMatchObject({ cloud_resource: "res", vcpu_number: 8, state: InstanceState.Starting })
    expect(s.shadow.isWouldBe(steps.booted.uuid)).toBe(true)
    expect(steps.starting.state).toBe(InstanceState.Starting)
    expect(steps.active.state).toBe(InstanceState.Active)
    expect(steps.ready).toBe(true)
    expect(steps.before.nodes.map((n) => n.hostname)).toEqual(["phys"])
    expect(steps.joined.nodes.map((n) => [n.hostname, n.state])).toEqual([["phys", NodeState.Idle], [steps.active.dns_name, NodeState.Idle]])
    expect(steps.listed.map((i) => i.instance_name)).toEqual(["real-vm", steps.booted.instance_name])
    expect(steps.held.nodes[1].state).toBe(NodeState.Held)
    expect(steps.removed.nodes.map((n) => n.hostname)).toEqual(["phys"])
    expect(steps.gone.state).toBe(InstanceState.Inexistent)
    expect(s.shadow.nodes()).toEqual([])
    // none of it reached the real services' mutating methods
    expect(s.r.calls.filter((c) => ["boot", "addNode", "holdNode", "removeNode", "destroy"].includes(c))).toEqual([])
  })
})
