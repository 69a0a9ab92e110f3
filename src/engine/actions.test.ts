/**
 * Operator actions of SPEC §5 against the engine in the simulated world,
 * plus start-up recovery after a scaler restart.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { NodeState, ResourceFlag } from "../model/types.ts"
import { kitScenario, type KitScenario } from "../sim/kit.ts"
import { runScenario, SimDriver } from "../sim/run.ts"
import { decisionText, REASON_CODES, type StepDecisions } from "./decisions.ts"

const driver = (k: KitScenario) => {
  const lines: Array<string> = []
  const d = new SimDriver(kitScenario(k), {}, (l) => lines.push(l))
  const ev = () => lines.map((l) => JSON.parse(l) as { t: number; ev: string; [k: string]: any })
  const snap = () => Either.getOrThrow(d.runEither(d.engine.api.snapshot))
  const nodesIn = (s: number) => snap().nodes.filter((n) => n.state === s)
  return { d, ev, snap, nodesIn, api: d.engine.api }
}

const errorOf = <A, E>(e: Either.Either<A, E>): E => {
  if (Either.isRight(e)) throw new Error("expected a refusal, got success")
  return e.left
}

describe("hold and unhold", () => {
  it("holds an Idle node (it takes no new jobs) and unholds it once Held", () => {
    const t = driver({ resources: [{ name: "os", min: 1, max: 2 }], maxTime: 5000 })
    t.d.advanceTo(300)
    const [idle] = t.nodesIn(NodeState.Idle)
    expect(idle).toBeDefined()
    expect(Either.isRight(t.d.runEither(t.d.engine.api.hold(idle.hostname)))).toBe(true)
    expect(t.snap().nodes.find((n) => n.hostname === idle.hostname)!.state).toBe(NodeState.Holding)
    t.d.advanceTo(330)
    expect(t.snap().nodes.find((n) => n.hostname === idle.hostname)!.state).toBe(NodeState.Held)
    expect(t.ev().some((e) => e.ev === "hold" && e.host === idle.hostname)).toBe(true)
    // unhold puts it back
    expect(Either.isRight(t.d.runEither(t.d.engine.api.unhold(idle.hostname)))).toBe(true)
    t.d.advanceTo(360)
    expect(t.snap().nodes.find((n) => n.hostname === idle.hostname)!.state).toBe(NodeState.Idle)
  })

  it("refuses hold for a Starting node (400), unhold for a node not Held (400), unknown hosts (404)", () => {
    const t = driver({ resources: [{ name: "os", min: 1, max: 2 }], maxTime: 5000 })
    t.d.advanceTo(20)
    const [starting] = t.nodesIn(NodeState.Starting)
    expect(errorOf(t.d.runEither(t.api.hold(starting.hostname))).status).toBe(400)
    expect(errorOf(t.d.runEither(t.api.unhold(starting.hostname))).status).toBe(400)
    expect(errorOf(t.d.runEither(t.api.hold("nope.example"))).status).toBe(404)
  })

  it("never touches physical nodes", () => {
    const t = driver({ resources: [{ name: "os", max: 2 }], physical: [{ hostname: "phys1", cores: 8 }], maxTime: 500 })
    t.d.advanceTo(30)
    expect(errorOf(t.d.runEither(t.api.hold("phys1"))).status).toBe(400)
    expect(errorOf(t.d.runEither(t.api.deleteNode("phys1"))).status).toBe(400)
    expect(errorOf(t.d.runEither(t.api.vacate("phys1"))).status).toBe(400)
    expect(t.ev().some((e) => e.ev === "touch_physical")).toBe(false)
  })
})

describe("vacate and delete", () => {
  it("vacate kills the node's jobs; delete is refused while Busy and allowed once Held", () => {
    const t = driver({
      resources: [{ name: "os", min: 1, max: 1, cores: 2 }],
      jobs: [{ submit: 200, runtime: 5000, cores: 2, cpn: 2 }],
      maxTime: 8000
    })
    t.d.advanceTo(400)
    const [busy] = t.nodesIn(NodeState.Busy)
    expect(busy).toBeDefined()
    expect(errorOf(t.d.runEither(t.api.deleteNode(busy.hostname))).status).toBe(400)
    expect(Either.isRight(t.d.runEither(t.api.hold(busy.hostname)))).toBe(true)
    expect(Either.isRight(t.d.runEither(t.api.vacate(busy.hostname)))).toBe(true)
    const killed = t.ev().filter((e) => e.ev === "killed")
    expect(killed).toHaveLength(1)
    expect(killed[0].cause).toBe("vacate")
    t.d.advanceTo(430)
    const held = t.snap().nodes.find((n) => n.hostname === busy.hostname)!
    expect(held.state).toBe(NodeState.Held)
    expect(Either.isRight(t.d.runEither(t.api.deleteNode(busy.hostname)))).toBe(true)
    t.d.advanceTo(500)
    expect(t.ev().some((e) => e.ev === "leave" && e.host === busy.hostname)).toBe(true)
    expect(t.ev().some((e) => e.ev === "terminate" && e.host === busy.hostname)).toBe(true)
  })

  it("delete of an Idle node is refused", () => {
    const t = driver({ resources: [{ name: "os", min: 1, max: 1 }], maxTime: 1000 })
    t.d.advanceTo(300)
    const [idle] = t.nodesIn(NodeState.Idle)
    expect(errorOf(t.d.runEither(t.api.deleteNode(idle.hostname))).status).toBe(400)
  })

  it("delete of a Starting node destroys it", () => {
    const t = driver({ resources: [{ name: "os", min: 1, max: 1 }], settings: { auto_mode: false }, maxTime: 1000 })
    t.d.advanceTo(5)
    expect(Either.isRight(t.d.runEither(t.api.launch("os", 1)))).toBe(true)
    t.d.advanceTo(20)
    const [starting] = t.nodesIn(NodeState.Starting)
    expect(Either.isRight(t.d.runEither(t.api.deleteNode(starting.hostname)))).toBe(true)
    t.d.advanceTo(100)
    expect(t.ev().some((e) => e.ev === "terminate")).toBe(true)
  })
})

describe("resources", () => {
  it("launch N starts N nodes and refuses more than max (400) and unknown resources (404)", () => {
    const t = driver({ resources: [{ name: "os", max: 3 }], settings: { auto_mode: false }, maxTime: 1000 })
    t.d.advanceTo(5)
    expect(Either.isRight(t.d.runEither(t.api.launch("os", 2)))).toBe(true)
    expect(errorOf(t.d.runEither(t.api.launch("os", 2))).status).toBe(400)
    expect(errorOf(t.d.runEither(t.api.launch("nope", 1))).status).toBe(404)
    t.d.advanceTo(60)
    expect(t.ev().filter((e) => e.ev === "boot")).toHaveLength(2)
  })

  it("freeze pins min = max = current; restore puts the configured values back", () => {
    const t = driver({ resources: [{ name: "os", min: 1, max: 4 }], maxTime: 3000 })
    t.d.advanceTo(300)
    expect(Either.isRight(t.d.runEither(t.api.freeze("os")))).toBe(true)
    let r = t.snap().resources[0]
    expect([r.min_num, r.max_num, r.flag]).toEqual([1, 1, ResourceFlag.Frozen])
    expect(errorOf(t.d.runEither(t.api.launch("os", 1))).status).toBe(400)
    expect(Either.isRight(t.d.runEither(t.api.restore("os")))).toBe(true)
    r = t.snap().resources[0]
    expect([r.min_num, r.max_num, r.flag]).toEqual([1, 4, ResourceFlag.Normal])
  })

  it("drain holds busy nodes, lets their jobs finish, deletes them after, and ends Drained", () => {
    const t = driver({
      resources: [{ name: "os", min: 2, max: 2, cores: 1 }],
      jobs: [{ submit: 200, runtime: 1000, cores: 1, cpn: 1 }],
      maxTime: 4000
    })
    t.d.advanceTo(300)
    expect(t.nodesIn(NodeState.Busy)).toHaveLength(1)
    expect(Either.isRight(t.d.runEither(t.api.drain("os")))).toBe(true)
    expect(t.snap().resources[0].flag).toBe(ResourceFlag.Draining)
    t.d.advanceTo(600)
    // the idle node is gone, the busy one is held with its job still running
    expect(t.ev().filter((e) => e.ev === "terminate")).toHaveLength(1)
    expect(t.ev().some((e) => e.ev === "killed")).toBe(false)
    t.d.advanceTo(1500)
    const ev = t.ev()
    const finish = ev.find((e) => e.ev === "finish")!
    const terms = ev.filter((e) => e.ev === "terminate")
    expect(terms).toHaveLength(2)
    expect(terms[1].t).toBeGreaterThanOrEqual(finish.t)
    expect(ev.some((e) => e.ev === "killed")).toBe(false)
    expect(t.snap().resources[0].flag).toBe(ResourceFlag.Drained)
    // and it stays empty: no boots for min while drained
    t.d.advanceTo(3000)
    expect(t.ev().filter((e) => e.ev === "boot")).toHaveLength(2)
  })
})

describe("operator actions are decisions", () => {
  it("hold, vacate, freeze, restore and drain reach onDecisions with by: operator (GET /server/decisions), as the log says", () => {
    const seen: Array<StepDecisions> = []
    const lines: Array<string> = []
    const d = new SimDriver(
      kitScenario({ resources: [{ name: "os", min: 2, max: 2, cores: 1 }], jobs: [{ submit: 200, runtime: 1000, cores: 1, cpn: 1 }], maxTime: 4000 }),
      { onDecisions: (x) => seen.push(x) },
      (l) => lines.push(l)
    )
    const api = d.engine.api
    d.advanceTo(300)
    const snap = Either.getOrThrow(d.runEither(api.snapshot))
    const busy = snap.nodes.find((n) => n.state === NodeState.Busy)!
    const idle = snap.nodes.find((n) => n.state === NodeState.Idle)!
    seen.length = 0
    expect(Either.isRight(d.runEither(api.hold(busy.hostname)))).toBe(true)
    expect(Either.isRight(d.runEither(api.vacate(busy.hostname)))).toBe(true)
    expect(Either.isRight(d.runEither(api.freeze("os")))).toBe(true)
    expect(Either.isRight(d.runEither(api.restore("os")))).toBe(true)
    expect(Either.isRight(d.runEither(api.drain("os")))).toBe(true)
    // a refused action decides nothing
    expect(Either.isLeft(d.runEither(api.hold("nope.example")))).toBe(true)
    const ops = seen.map((s) => s.decisions[0])
    expect(seen.every((s) => s.decisions.length === 1 && s.t === 300)).toBe(true)
    expect(ops).toEqual([
      { kind: "hold", host: busy.hostname, resource: "os", reason: "operator", by: "operator" },
      { kind: "vacate", host: busy.hostname, resource: "os", reason: "operator", by: "operator" },
      { kind: "freeze", resource: "os", count: 2, reason: "operator", by: "operator" },
      { kind: "restore", resource: "os", min: 2, max: 2, reason: "operator", by: "operator" },
      // the held node has its hold in flight: drain acts on the idle one now, the rules take the other later
      { kind: "drain", resource: "os", hosts: [idle.hostname], reason: "operator", by: "operator" }
    ])
    expect(ops.map(decisionText)).toEqual([
      `operator held ${busy.hostname}`,
      `operator vacated ${busy.hostname}`,
      "operator froze os at 2 node(s)",
      "operator restored os (min 2, max 2)",
      `operator drains os: ${idle.hostname} held, removed or given up`
    ])
    expect(REASON_CODES).toContain("operator")
  })
})

describe("auto mode", () => {
  it("with auto mode off nothing grows or shrinks on its own", () => {
    const t = driver({
      resources: [{ name: "os", min: 1, max: 3 }],
      jobs: [{ submit: 100, runtime: 100 }],
      settings: { auto_mode: false },
      maxTime: 3000
    })
    t.d.advanceTo(3000)
    expect(t.ev().filter((e) => e.ev === "boot")).toHaveLength(0)
    expect(Either.isRight(t.d.runEither(t.api.setAuto(true)))).toBe(true)
    expect(t.snap().status.auto_mode).toBe(true)
  })
})

describe("scaler restart (start-up recovery)", () => {
  it("adopts running nodes, keeps jobs running, and leaks no instance", () => {
    const r = runScenario(
      kitScenario({
        resources: [{ name: "os", min: 1, max: 4, cores: 2 }],
        jobs: Array.from({ length: 12 }, (_, i) => ({ submit: i * 30, runtime: 900, cores: 2, cpn: 2 })),
        faults: [
          { kind: "restart", at: 150 },
          { kind: "restart", at: 700 },
          { kind: "restart", at: 1301 }
        ],
        settings: { max_idle_time: 300 },
        drain: 3000
      })
    )
    const ev = r.events.map((l) => JSON.parse(l))
    expect(ev.filter((e) => e.ev === "restart")).toHaveLength(3)
    expect(r.summary.jobs.finished).toBe(12)
    expect(r.summary.jobs.killed).toBe(0)
    expect(r.summary.resources.os.peak_nodes).toBeLessThanOrEqual(4)
    // every instance booted beyond min is gone at the end
    const booted = new Set(ev.filter((e) => e.ev === "boot").map((e) => e.instance))
    const gone = new Set(ev.filter((e) => e.ev === "gone").map((e) => e.instance))
    expect(booted.size - gone.size).toBe(1)
  })

  it("an instance booted just before a restart is adopted, not leaked", () => {
    // the boot's answer is lost in the restart; the new engine must find the instance by its prefix
    const r = runScenario(
      kitScenario({
        resources: [{ name: "os", min: 1, max: 1 }],
        faults: [{ kind: "restart", at: 0.5 }],
        maxTime: 2000,
        apiLatency: 1
      })
    )
    const ev = r.events.map((l) => JSON.parse(l))
    expect(ev.filter((e) => e.ev === "boot")).toHaveLength(1)
    expect(ev.filter((e) => e.ev === "join")).toHaveLength(1)
  })

  it("an instance still starting across a restart keeps its launch deadline from its creation time", () => {
    // Boots hang (1 h); max_launch_time 600 s. The restart at 500 s must not give the
    // instance a fresh 600 s: it is destroyed at about 600 s, not at 1,100 s.
    const r = runScenario(
      kitScenario({
        resources: [{ name: "os", min: 1, max: 1, bootTime: { type: "constant", value: 3600 } }],
        settings: { max_launch_time: 600 },
        faults: [{ kind: "restart", at: 500 }],
        maxTime: 1500
      })
    )
    const ev = r.events.map((l) => JSON.parse(l))
    const firstBoot = ev.find((e) => e.ev === "boot")
    expect(firstBoot.t).toBeLessThan(5)
    const term = ev.find((e) => e.ev === "terminate" && e.instance === firstBoot.instance)
    expect(term).toBeDefined()
    expect(term.t).toBeGreaterThanOrEqual(600)
    expect(term.t).toBeLessThan(700)
  })
})
