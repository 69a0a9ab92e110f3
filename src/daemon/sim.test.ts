/**
 * The `--sim` runner in-process, on the real clock: virtual time runs `speed`
 * times real time, operator actions run concurrently with the steps (through
 * the engine's lock, never Effect.runSync), and the daemon keeps running
 * after the workload is done.
 */
import { Effect, Fiber } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import type { EngineApi } from "../engine/api.ts"
import { makeCycleHistogram } from "../http/metrics.ts"
import { NodeState } from "../model/types.ts"
import { kitScenario, type KitScenario } from "../sim/kit.ts"
import { makeLogSink } from "./log.ts"
import { makeSimRunner } from "./sim.ts"

const EPOCH = 1_700_000_000
const stops: Array<() => Promise<void>> = []
afterEach(async () => {
  while (stops.length > 0) await stops.pop()!()
})

const start = async (k: KitScenario, speed: number) => {
  const lines: Array<any> = []
  const events: Array<string> = []
  const log = makeLogSink({ level: "debug", format: "json", out: (l) => lines.push(JSON.parse(l)) })
  const histogram = makeCycleHistogram()
  const runner = await Effect.runPromise(makeSimRunner({ scenario: kitScenario(k), speed, epoch: EPOCH, log, histogram, onEvent: (l) => events.push(l) }))
  const t0 = performance.now()
  const fiber = Effect.runFork(runner.loop)
  stops.push(() => Effect.runPromise(Fiber.interrupt(fiber)).then(() => {}))
  return { runner, lines, events, histogram, fiber, elapsed: () => (performance.now() - t0) / 1000 }
}

const until = async <A>(f: () => Promise<A | undefined> | A | undefined, ms = 30_000): Promise<A> => {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error("timed out")
    await new Promise((r) => setTimeout(r, 25))
  }
}

const snap = (api: EngineApi) => Effect.runPromise(api.snapshot)

describe("sim daemon", () => {
  it("runs the virtual clock at `speed` times real time, not as fast as it can", async () => {
    const r = await start({ resources: [{ name: "os", max: 4 }], jobs: [{ submit: 100_000, runtime: 60 }] }, 200)
    await new Promise((ok) => setTimeout(ok, 1500))
    const elapsed = r.elapsed()
    const now = r.runner.driver.world.now
    expect(now).toBeLessThanOrEqual(200 * elapsed + 1)
    expect(now).toBeGreaterThan(200 * (elapsed - 1))
    const s = await snap(r.runner.api)
    // the API reads the world's clock (epoch = the daemon's start), not the real one
    expect(s.time).toBeGreaterThanOrEqual(EPOCH + now - 0.001)
    expect(s.time).toBeLessThan(EPOCH + now + 200)
    // the engine stepped at its cluster poll interval (10 s virtual), not more
    expect(s.counters.cycles).toBeLessThanOrEqual(now / 10 + 3)
    // one histogram sample per step the engine really ran (the simulator skips provably quiet ones)
    expect(r.histogram.state().count).toBe(r.runner.driver.steps)
    expect(r.runner.driver.steps).toBeGreaterThan(0)
  })

  it("rejects a bad speed or an unknown policy", async () => {
    const log = makeLogSink({ level: "error", format: "json", out: () => {} })
    const fail = (o: { speed: number; policy?: string }) =>
      Effect.runPromise(Effect.flip(makeSimRunner({ scenario: kitScenario({ resources: [] }), epoch: 0, log, histogram: makeCycleHistogram(), ...o }))).then((e) => e.message)
    expect(await fail({ speed: 0 })).toMatch(/^--speed: expected a number above 0/)
    expect(await fail({ speed: NaN })).toMatch(/^--speed/)
    expect(await fail({ speed: 1, policy: "magic" })).toMatch(/^--policy: unknown policy "magic" \(known: classic/)
  })

  it("operator actions run concurrently with the steps: hold an idle node → Holding, then Held", async () => {
    const r = await start(
      { resources: [{ name: "os", min: 2, max: 4, bootTime: { type: "constant", value: 60 }, configTime: { type: "constant", value: 10 } }], settings: { max_idle_time: 100_000 } },
      400
    )
    const idle = await until(async () => (await snap(r.runner.api)).nodes.find((n) => n.state === NodeState.Idle))
    await Effect.runPromise(r.runner.api.hold(idle.hostname))
    const after = (await snap(r.runner.api)).nodes.find((n) => n.hostname === idle.hostname)!
    expect(after.state).toBe(NodeState.Holding)
    const held = await until(async () => {
      const n = (await snap(r.runner.api)).nodes.find((x) => x.hostname === idle.hostname)
      return n !== undefined && n.state === NodeState.Held ? n : undefined
    })
    expect(held.state).toBe(NodeState.Held)
    expect(r.events.some((l) => JSON.parse(l).ev === "hold" && JSON.parse(l).host === idle.hostname)).toBe(true)
    // a refused action is an ActionError, the daemon goes on
    const e = await Effect.runPromise(Effect.flip(r.runner.api.hold("no.such.host")))
    expect(e.status).toBe(404)
  })

  it("many operator actions during fast stepping never break the engine", async () => {
    const r = await start(
      {
        resources: [{ name: "os", max: 6, bootTime: { type: "constant", value: 30 }, configTime: { type: "constant", value: 5 } }],
        jobs: Array.from({ length: 60 }, (_, i) => ({ submit: i * 20, runtime: 200, cores: 2, cpn: 2 })),
        settings: { max_idle_time: 60 }
      },
      2000
    )
    const api = r.runner.api
    const deadline = Date.now() + 3000
    let actions = 0
    while (Date.now() < deadline) {
      const s = await snap(api)
      const targets = s.nodes.filter((n) => n.state === NodeState.Idle || n.state === NodeState.Held)
      // Actions that yield every few operations interleave with each other and with the loop; the engine lock orders them.
      const run = <A, E>(eff: Effect.Effect<A, E>) => Effect.runPromise(Effect.either(Effect.withMaxOpsBeforeYield(eff, 10)))
      await Promise.all([
        ...targets.map((n) => run(n.state === NodeState.Idle ? api.hold(n.hostname) : api.unhold(n.hostname))),
        run(api.launch("os", 1)),
        run(api.setAuto(true))
      ])
      actions += targets.length + 2
      await new Promise((ok) => setTimeout(ok, 10))
    }
    expect(actions).toBeGreaterThan(20)
    expect(r.fiber.unsafePoll()).toBeNull() // the loop is still running
    expect(r.lines.filter((l) => l.level === "error")).toEqual([])
    const s = await snap(api)
    expect(s.resources[0].current_num).toBeLessThanOrEqual(6)
  })

  it("keeps running when the workload is done: says so, nodes retire, the API answers", async () => {
    const r = await start(
      {
        resources: [{ name: "os", max: 2, bootTime: { type: "constant", value: 30 }, configTime: { type: "constant", value: 5 } }],
        jobs: [{ submit: 0, runtime: 100 }],
        settings: { max_idle_time: 120 },
        drain: 10,
        maxTime: 500
      },
      2000
    )
    await until(() => (r.lines.some((l) => /workload is done/.test(l.msg)) ? true : undefined))
    expect(r.lines.find((l) => /workload is done/.test(l.msg)).msg).toMatch(/1 job\(s\) finished, 0 killed\); the world idles/)
    // past drain and max_time, the world and the engine keep going
    await until(() => (r.runner.driver.world.now > 1500 ? true : undefined))
    expect(r.runner.driver.finished).toBe(false)
    const s = await snap(r.runner.api)
    expect(s.nodes.filter((n) => n.type !== "physical")).toEqual([]) // the idle node retired
    expect(r.events.some((l) => JSON.parse(l).ev === "gone")).toBe(true)
    const before = s.counters.cycles
    await until(async () => ((await snap(r.runner.api)).counters.cycles > before ? true : undefined))
  })
})
