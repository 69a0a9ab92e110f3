/**
 * Model-based test of the operator API (SPEC §5) with fc.commands: random
 * sequences of hold, unhold, vacate, delete, launch, freeze, restore, drain,
 * auto on/off and time advancing, on a live engine in the simulated world.
 * Each command predicts the engine's answer from a simple model (the node's
 * state in the snapshot taken just before, the resource limits the model
 * keeps itself) and checks the answer and the state after it; every advance
 * also checks the model's limits and auto mode against the engine and the
 * safety invariants against the event log so far.
 */
import { Effect, Either } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { NodeState, NodeStateNames, ResourceFlag, hasJobs, type WorkerNode } from "../model/types.ts"
import type { OperatorAction } from "../sim/arbitrary.ts"
import { applyAction, nodeTarget } from "../sim/harness.ts"
import { checkMaxInstances, checkNoDestroyKill, checkPhysicalUntouched, formatViolation, invariantContext, parseEvents } from "../sim/invariants.ts"
import { kitScenario } from "../sim/kit.ts"
import { SimDriver } from "../sim/run.ts"
import { ActionError, type Snapshot } from "./api.ts"

// ---------------------------------------------------------------- the world

const CFG = { a: { min: 0, max: 3 }, b: { min: 1, max: 2 } } as const
type Res = keyof typeof CFG

const scenario = kitScenario({
  name: "model",
  resources: [
    { name: "a", min: CFG.a.min, max: CFG.a.max, cores: 2, bootTime: { type: "uniform", min: 20, max: 60 }, configTime: { type: "constant", value: 10 } },
    { name: "b", min: CFG.b.min, max: CFG.b.max, cores: 4, priority: 2, bootTime: { type: "constant", value: 40 }, configTime: { type: "constant", value: 5 } }
  ],
  physical: [{ hostname: "p1", cores: 2 }],
  jobs: Array.from({ length: 40 }, (_, i) => ({ submit: i * 90, runtime: 200 + ((i * 137) % 700), cores: 1 + (i % 4), cpn: 0 })),
  settings: {
    cluster_poller_interval: 10,
    cloud_poller_interval: 10,
    auto_provision_interval: 20,
    max_idle_time: 120,
    max_launch_time: 300,
    worker_thread_number: 2
  },
  schedulerCycle: 5,
  apiLatency: 1,
  drain: 1e6,
  maxTime: 1e6
})
const ctx = invariantContext(scenario)

interface Real {
  readonly d: SimDriver
  readonly lines: Array<string>
}
interface Model {
  limits: Record<Res, { min: number; max: number; mode: "normal" | "frozen" | "draining" }>
  auto: boolean
}

const snap = (r: Real): Snapshot => Either.getOrThrow(r.d.runEither(r.d.engine.api.snapshot))
const quiescent = (s: Snapshot) => s.queues.waiting + s.queues.running + s.queues.results_pending === 0
const resView = (s: Snapshot, res: Res) => s.resources.find((x) => x.name === res)!

/** Answers seen per action (`hold 200`, `hold 400`...): the test checks that each kind was exercised. */
const seen = new Map<string, number>()

/** Runs one action through the harness (as the soak does) and returns its `operator` line. */
const act = (r: Real, a: OperatorAction) => {
  const { line } = applyAction(r.d, a)
  const key = `${a.op} ${line.ok ? 200 : line.status}`
  seen.set(key, (seen.get(key) ?? 0) + 1)
  r.lines.push(JSON.stringify(line))
  r.d.requestStep()
  return line as { ok: boolean; status?: number; error?: string; target: string | null }
}

const expectAnswer = (line: { ok: boolean; status?: number; error?: string }, expected: 200 | 400 | 404, what: string) => {
  const got = line.ok ? 200 : line.status
  expect(got, `${what}: ${line.error ?? "accepted"}`).toBe(expected)
}

// ---------------------------------------------------------------- node commands

type NodeOp = "hold" | "unhold" | "vacate" | "delete"
/** cloud: any cloud node; fitting: one whose state allows the action (if any); physical; unknown: a name that does not exist. */
type Pick = "cloud" | "fitting" | "physical" | "unknown"

/** What SPEC §5 says the engine answers for a node action, from the node as the engine listed it just before. */
const predictNode = (op: NodeOp, n: WorkerNode | undefined, physical: boolean): 200 | 400 | 404 | "either" => {
  if (physical) return 400
  if (n === undefined) return 404
  switch (op) {
    case "hold":
      if (n.state !== NodeState.Idle && n.state !== NodeState.Busy) return 400
      return n.instance?.tasked ? 400 : 200
    case "unhold":
      return n.state === NodeState.Held ? 200 : 400
    case "vacate":
      // A Starting node is not in the batch system yet: no job can run there. A Deleting one may have left it already.
      return n.state === NodeState.Starting ? 400 : n.state === NodeState.Deleting ? "either" : 200
    case "delete":
      if (n.state === NodeState.Busy || hasJobs(n)) return 400
      return n.state === NodeState.Error || n.state === NodeState.Starting || n.state === NodeState.Held ? 200 : 400
  }
}

class NodeCommand implements fc.Command<Model, Real> {
  constructor(
    readonly op: NodeOp,
    readonly pick: Pick,
    readonly index: number
  ) {}
  check = () => true
  run(_m: Model, r: Real) {
    const before = snap(r)
    let index = this.index
    if (this.pick === "fitting") {
      const cloud = before.nodes.filter((x) => x.instance !== null).sort((x, y) => (x.hostname < y.hostname ? -1 : 1))
      const ok = cloud.flatMap((x, i) => (predictNode(this.op, x, false) === 200 ? [i] : []))
      if (ok.length > 0) index = ok[this.index % ok.length]
    }
    const a = { at: r.d.world.now, op: this.op, node: this.pick === "fitting" ? "cloud" : this.pick, index } as const
    const host = nodeTarget(r.d, a)
    const n = before.nodes.find((x) => x.hostname === host && x.instance !== null)
    const physical = scenario.world.physical.some((p) => p.hostname === host)
    const expected = predictNode(this.op, n, physical)
    const killedBefore = r.lines.filter((l) => l.includes('"killed"')).length
    const line = act(r, a)
    const what = `${this.op} ${host} (${n ? NodeStateNames[n.state] : physical ? "physical" : "unknown"}${n?.jobs ? `, jobs ${n.jobs}` : ""})`
    if (expected !== "either") expectAnswer(line, expected, what)
    if (!line.ok) return
    const after = snap(r).nodes.find((x) => x.hostname === host)
    switch (this.op) {
      case "hold":
        expect(after?.state, what).toBe(NodeState.Holding)
        break
      case "unhold":
        expect([NodeState.Idle, NodeState.Busy], what).toContain(after?.state)
        break
      case "delete":
        expect(after?.state, what).toBe(NodeState.Deleting)
        break
      case "vacate": {
        // every job the batch system ran there was killed (cause vacate) and the view was refreshed
        const kills = r.lines.slice(0).filter((l) => l.includes('"killed"')).length - killedBefore
        expect(r.d.world.nodes.get(host)?.jobs.size ?? 0, what).toBe(0)
        expect(after?.jobs ?? null, what).toBeNull()
        expect(kills, what).toBeGreaterThanOrEqual(n?.jobs ? n.jobs.split(",").length - 1 : 0)
        break
      }
    }
  }
  toString = () => `${this.op}(${this.pick}#${this.index})`
}

// ---------------------------------------------------------------- resource commands

class LaunchCommand implements fc.Command<Model, Real> {
  constructor(
    readonly res: Res | "nope",
    readonly num: number
  ) {}
  check = () => true
  run(m: Model, r: Real) {
    const before = snap(r)
    const line = act(r, { at: r.d.world.now, op: "launch", resource: this.res, num: this.num })
    const what = `launch ${this.num} in ${this.res}`
    if (this.res === "nope") return expectAnswer(line, 404, what)
    if (!Number.isInteger(this.num) || this.num < 0) return expectAnswer(line, 400, what)
    const current = resView(before, this.res).current_num
    // The engine also counts boots in flight, which the snapshot does not show: sure answers only when it has none.
    if (current + this.num > m.limits[this.res].max) expectAnswer(line, 400, `${what} (${current} node(s), max ${m.limits[this.res].max})`)
    else if (quiescent(before)) expectAnswer(line, 200, `${what} (${current} node(s), max ${m.limits[this.res].max}, nothing in flight)`)
  }
  toString = () => `launch(${this.res}, ${this.num})`
}

class LimitCommand implements fc.Command<Model, Real> {
  constructor(
    readonly op: "freeze" | "restore" | "drain",
    readonly res: Res | "nope"
  ) {}
  check = () => true
  run(m: Model, r: Real) {
    const before = snap(r)
    const line = act(r, { at: r.d.world.now, op: this.op, resource: this.res })
    const what = `${this.op} ${this.res}`
    if (this.res === "nope") return expectAnswer(line, 404, what)
    expectAnswer(line, 200, what)
    const res = this.res
    const after = snap(r)
    const v = resView(after, res)
    switch (this.op) {
      case "freeze": {
        const current = resView(before, res).current_num
        expect(v.min_num, what).toBe(v.max_num)
        expect(v.max_num, what).toBeGreaterThanOrEqual(current)
        expect(v.max_num, what).toBeLessThanOrEqual(Math.max(CFG[res].max, m.limits[res].max))
        if (quiescent(before)) expect(v.max_num, what).toBe(current)
        expect(v.flag, what).toBe(ResourceFlag.Frozen)
        m.limits[res] = { min: v.max_num, max: v.max_num, mode: "frozen" }
        break
      }
      case "restore":
        expect([v.min_num, v.max_num, v.flag], what).toEqual([CFG[res].min, CFG[res].max, ResourceFlag.Normal])
        m.limits[res] = { ...CFG[res], mode: "normal" }
        break
      case "drain": {
        expect([v.min_num, v.max_num], what).toEqual([0, 0])
        expect([ResourceFlag.Draining, ResourceFlag.Drained], what).toContain(v.flag)
        // Idle/Busy nodes are held, Starting/Error ones deleted (those with a task in flight wait for it)
        for (const n of resView(before, res).worker_nodes) {
          if (n.instance?.tasked) continue
          const now = v.worker_nodes.find((x) => x.hostname === n.hostname)?.state
          if (n.state === NodeState.Idle || n.state === NodeState.Busy) expect(now, `${what}: ${n.hostname}`).toBe(NodeState.Holding)
          if (n.state === NodeState.Starting || n.state === NodeState.Error) expect(now, `${what}: ${n.hostname}`).toBe(NodeState.Deleting)
        }
        m.limits[res] = { min: 0, max: 0, mode: "draining" }
        break
      }
    }
  }
  toString = () => `${this.op}(${this.res})`
}

class AutoCommand implements fc.Command<Model, Real> {
  constructor(readonly on: boolean) {}
  check = () => true
  run(m: Model, r: Real) {
    const line = act(r, { at: r.d.world.now, op: "auto", on: this.on })
    expectAnswer(line, 200, `auto ${this.on}`)
    expect(snap(r).status.auto_mode).toBe(this.on)
    m.auto = this.on
  }
  toString = () => `auto(${this.on})`
}

/** Lets virtual time pass, then compares the engine with the model and the log with the safety invariants. */
class AdvanceCommand implements fc.Command<Model, Real> {
  constructor(readonly seconds: number) {}
  check = () => true
  run(m: Model, r: Real) {
    r.d.advanceTo(r.d.world.now + this.seconds)
    const s = snap(r)
    expect(s.status.auto_mode).toBe(m.auto)
    for (const res of Object.keys(CFG) as Array<Res>) {
      const v = resView(s, res)
      const lim = m.limits[res]
      expect([v.min_num, v.max_num], res).toEqual([lim.min, lim.max])
      const flag = lim.mode === "frozen" ? [ResourceFlag.Frozen] : lim.mode === "draining" ? [ResourceFlag.Draining, ResourceFlag.Drained] : [ResourceFlag.Normal]
      expect(flag, res).toContain(v.flag)
      if (lim.mode !== "draining") expect(v.current_num, res).toBeLessThanOrEqual(lim.max)
    }
    const events = parseEvents(r.lines)
    const broken = [...checkMaxInstances(events, ctx), ...checkNoDestroyKill(events), ...checkPhysicalUntouched(events, ctx)]
    expect(broken.map(formatViolation)).toEqual([])
  }
  toString = () => `advance(${this.seconds})`
}

// ---------------------------------------------------------------- the property

const resName = fc.constantFrom<Res | "nope">("a", "b", "a", "b", "nope")
const commands = [
  fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .tuple(fc.constantFrom<NodeOp>("hold", "unhold", "vacate", "delete"), fc.constantFrom<Pick>("cloud", "fitting", "fitting", "physical", "unknown"), fc.nat(7))
        .map(([op, pick, i]): fc.Command<Model, Real> => new NodeCommand(op, pick, i))
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(resName, fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5) }))
        .map(([res, n]): fc.Command<Model, Real> => new LaunchCommand(res, n))
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom<"freeze" | "restore" | "drain">("freeze", "restore", "drain"), resName)
        .map(([op, res]): fc.Command<Model, Real> => new LimitCommand(op, res))
    },
    { weight: 1, arbitrary: fc.boolean().map((on): fc.Command<Model, Real> => new AutoCommand(on)) },
    { weight: 5, arbitrary: fc.integer({ min: 1, max: 300 }).map((s): fc.Command<Model, Real> => new AdvanceCommand(s)) }
  )
]

const setup = (start: number) => () => {
  const lines: Array<string> = []
  const d = new SimDriver(scenario, {}, (l) => lines.push(l))
  d.advanceTo(start)
  const model: Model = { limits: { a: { ...CFG.a, mode: "normal" }, b: { ...CFG.b, mode: "normal" } }, auto: true }
  return { model, real: { d, lines } }
}

describe("operator API against a model (fc.commands)", () => {
  it("every answer and every state change matches the model", { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 900 }), fc.commands(commands, { maxCommands: 40, size: "+1" }), (start, cmds) => {
        fc.modelRun(setup(start), cmds)
      }),
      { numRuns: Number(process.env.DYNCLUSTER_MODEL_RUNS ?? 40), seed: Number(process.env.DYNCLUSTER_MODEL_SEED ?? 424242) }
    )
    // the runs reached both answers of every action (a model that is never asked proves nothing)
    for (const key of ["hold 200", "hold 400", "hold 404", "unhold 200", "unhold 400", "vacate 200", "delete 200", "delete 400", "launch 200", "launch 400", "launch 404", "freeze 200", "restore 200", "drain 200", "auto 200"])
      expect(seen.get(key) ?? 0, `${key} never happened: ${JSON.stringify([...seen])}`).toBeGreaterThan(0)
  })

  it("the model catches an engine that answers wrongly (hold refused on Idle nodes)", { timeout: 120_000 }, () => {
    const broken = (start: number) => () => {
      const sys = setup(start)()
      const d = sys.real.d
      const api = d.engine.api
      // the same engine with a hold that refuses Idle nodes
      d.engine = {
        ...d.engine,
        api: {
          ...api,
          hold: (host) =>
            Effect.flatMap(api.snapshot, (s) =>
              s.nodes.some((n) => n.hostname === host && n.state === NodeState.Idle)
                ? Effect.fail(new ActionError({ status: 400, message: "refused (broken on purpose)" }))
                : api.hold(host)
            )
        }
      }
      return sys
    }
    const result = fc.check(
      fc.property(fc.integer({ min: 1, max: 900 }), fc.commands(commands, { maxCommands: 30 }), (start, cmds) => {
        fc.modelRun(broken(start), cmds)
      }),
      { numRuns: 60, seed: 99 }
    )
    expect(result.failed).toBe(true)
    expect(String(result.errorInstance)).toMatch(/hold .*Idle/)
  })
})
