/**
 * The engine's pause between the phases of a step (engine.ts
 * `EngineOptions.pause`, which the daemon uses to let its event loop in)
 * changes no decision: the same scenario with and without a pause gives the
 * same event log and engine log, byte for byte, under every built-in policy.
 */
import { Effect, Either } from "effect"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { supportedPolicy } from "../engine/policy.ts"
import { SLICE_JOBS, SLICE_NODES } from "../engine/steps.ts"
import { emptyInstance, InstanceState, makeJob, NodeState, ResourceFlag, type WorkerNode } from "../model/types.ts"
import { ROOT } from "./golden.ts"
import { runScenario, SimDriver } from "./run.ts"
import { applySet, decodeScenarioAt, readScenarioDocument } from "./scenario.ts"

/** `file` (seed 3), with `sets` (dotted path → value) applied to its document. */
const load = (file: string, sets: ReadonlyArray<readonly [string, unknown]> = []) => {
  const path = join(ROOT, file)
  const read = readScenarioDocument(path)
  if (Either.isLeft(read)) throw new Error(read.left.message)
  let doc = read.right
  for (const [key, value] of sets) {
    const d = applySet(doc, key, value, ROOT)
    if (Either.isLeft(d)) throw new Error(d.left)
    doc = d.right
  }
  const sc = decodeScenarioAt(path, doc, { seed: 3 })
  if (Either.isLeft(sc)) throw new Error(sc.left.message)
  return sc
}

const run = (file: string, policy: string, pause?: Effect.Effect<void>, sets: ReadonlyArray<readonly [string, unknown]> = []) => {
  const sc = load(file, sets)
  const engine: Array<string> = []
  const r = runScenario(sc.right, { policy, engineLog: (e) => engine.push(JSON.stringify(e)), ...(pause !== undefined ? { pause } : {}) })
  return { events: r.events, engine }
}

describe("a step's pauses change no decision", () => {
  for (const file of ["scenarios/burst.yaml", "scenarios/outage.yaml", "scenarios/regressions/placement-beyond-first-fit.yaml"])
    for (const policy of ["classic", "demand", "lean"])
      it(`${file} ${policy}`, { timeout: 120_000 }, () => {
        let pauses = 0
        const paused = run(file, policy, Effect.zipRight(Effect.yieldNow(), Effect.sync(() => void pauses++)))
        const plain = run(file, policy)
        // the pauses were taken (a cluster view, a provisioning pass, its explanations)
        expect(pauses).toBeGreaterThan(3)
        expect(paused.events.length).toBe(plain.events.length)
        expect(paused.events.join("\n")).toBe(plain.events.join("\n"))
        expect(paused.engine.join("\n")).toBe(plain.engine.join("\n"))
      })
})

// A queue of thousands: the policy's decision and the queue's explanations
// are walked in slices of SLICE_JOBS jobs, with the pause between them.
describe("the slices of a decision and of the explanations change no decision", () => {
  const big = [
    ["workload.bursts.0.count", 2 * SLICE_JOBS + 100],
    ["workload.runtime", { type: "constant", value: 60 }]
  ] as const
  for (const policy of ["classic", "demand", "lean"])
    it(`scenarios/burst.yaml with ${2 * SLICE_JOBS + 100} jobs, ${policy}`, { timeout: 300_000 }, () => {
      let pauses = 0
      const paused = run("scenarios/burst.yaml", policy, Effect.zipRight(Effect.yieldNow(), Effect.sync(() => void pauses++)), big)
      const plain = run("scenarios/burst.yaml", policy, undefined, big)
      expect(pauses).toBeGreaterThan(3)
      expect(paused.events.length).toBe(plain.events.length)
      expect(paused.events.join("\n")).toBe(plain.events.join("\n"))
      expect(paused.engine.join("\n")).toBe(plain.engine.join("\n"))
    })

  it("a step's pauses have a state version (api.stamp): one version, one snapshot; the slices of a walk share it", () => {
    const sc = load("scenarios/burst.yaml", big)
    // what a snapshot shows but for the clock and the task queues (api.ts EngineStamp)
    const shown = (snap: unknown) => JSON.stringify(snap, (k, v) => (k === "time" || k === "time_in_current_state" || k === "queues" || k === "until" ? undefined : v))
    const seen: Array<{ readonly version: number | null; readonly shows: string }> = []
    const driver: SimDriver = new SimDriver(
      sc.right,
      {
        policy: "lean",
        collect: false,
        pause: Effect.suspend(() => {
          const api = driver.engine.api
          return Effect.flatMap(api.stamp!, (s) => Effect.map(api.snapshot, (snap) => void seen.push({ version: s.version, shows: shown(snap) })))
        })
      },
      () => {}
    )
    // (the burst arrives at 600 s: its first passes)
    while (driver.world.now < 1500 && driver.advance()) {
      /* on */
    }
    expect(seen.every((s) => s.version !== null)).toBe(true)
    const byVersion = new Map<number | null, Array<string>>()
    for (const s of seen) byVersion.set(s.version, [...(byVersion.get(s.version) ?? []), s.shows])
    for (const shows of byVersion.values()) expect(new Set(shows).size).toBe(1)
    // the pause before a walk of 2,000 queued jobs and those between its slices: one version
    expect(Math.max(...[...byVersion.values()].map((v) => v.length))).toBeGreaterThanOrEqual(3)
  })

  for (const name of ["demand", "lean"])
    it(`${name}: decideSteps yields every ${SLICE_JOBS} jobs and returns what decide returns`, () => {
      const policy = supportedPolicy(name)!
      const input = {
        now: 1000,
        jobs: Array.from({ length: 5 * SLICE_JOBS }, (_, i) => makeJob({ jobid: `${i + 1}.head`, requested_cores: 4, cores_per_node: 0 })),
        resources: [{ name: "os", priority: 1, min: 0, max: 10, current: 0, coresPerNode: 8, reservation: { queue: null, account: null, property: null }, flag: ResourceFlag.Normal }],
        nodes: [],
        inflight: new Map<string, number>()
      }
      const steps = policy.instantiate!().decideSteps!(input)
      let yields = 0
      let r = steps.next()
      for (; r.done !== true; r = steps.next()) yields++
      expect(yields).toBe(5)
      expect(r.value).toEqual(policy.instantiate!().decide(input))
      expect(r.value.provision.get("os")).toBeGreaterThan(0)
    })

  for (const name of ["demand", "lean"])
    it(`${name}: on ${SLICE_NODES} nodes or more, decideSteps also yields after the memory's observation and after the capacity is built, and returns what decide returns`, () => {
      const policy = supportedPolicy(name)!
      // busy nodes, each running one 4-core job of the queue's shape, and a queue of 3 slices
      const node = (i: number): WorkerNode => ({
        hostname: `os-${i}`,
        type: "simulated",
        state: NodeState.Busy,
        jobs: `r${i}.head`,
        num_proc: 8,
        time_in_current_state: 0,
        state_start_time: 500,
        instance: { ...emptyInstance("os", 0), uuid: `os-${i}`, instance_name: `os-${i}`, state: InstanceState.Ready, dns_name: `os-${i}`, vcpu_number: 8, last_task_result: 0 },
        extra_attributes: null
      })
      const input = (nodes: number) => ({
        now: 1000,
        jobs: Array.from({ length: 3 * SLICE_JOBS }, (_, i) => makeJob({ jobid: `${i + 1}.head`, requested_cores: 16, cores_per_node: 8 })),
        resources: [{ name: "os", priority: 1, min: 0, max: 3 * SLICE_NODES, current: nodes, coresPerNode: 8, reservation: { queue: null, account: null, property: null }, flag: ResourceFlag.Normal }],
        nodes: Array.from({ length: nodes }, (_, i) => node(i)),
        inflight: new Map<string, number>()
      })
      for (const [nodes, extra] of [[SLICE_NODES - 1, 0], [SLICE_NODES, 2]] as const) {
        const steps = policy.instantiate!().decideSteps!(input(nodes))
        let yields = 0
        let r = steps.next()
        for (; r.done !== true; r = steps.next()) yields++
        expect(yields).toBe(3 + extra)
        expect(r.value).toEqual(policy.instantiate!().decide(input(nodes)))
      }
    })
})
