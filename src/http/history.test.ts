/**
 * The node history behind GET /server/history: points only on change, the
 * bound, `since`, and the sampler against an engine whose state changes.
 */
import { Effect, Fiber, TestClock, TestContext } from "effect"
import { describe, expect, it } from "vitest"
import { countByState, HISTORY_STATES, makeNodeHistory, sampleHistory } from "./history.ts"
import { makeFakeEngine } from "./testing/fakeEngine.ts"

const counts = (idle: number, busy = 0) => countByState([
  ...Array.from({ length: idle }, () => ({ state: 2, num_proc: 4 })),
  ...Array.from({ length: busy }, () => ({ state: 3, num_proc: 8 }))
])

describe("node history", () => {
  it("counts nodes and cores per state, Inexistent left out", () => {
    expect(HISTORY_STATES).toEqual(["Starting", "Idle", "Busy", "Error", "Deleting", "Holding", "Held"])
    const c = countByState([{ state: 0, num_proc: 2 }, { state: 2, num_proc: 4 }, { state: 2, num_proc: 4 }, { state: 7, num_proc: 16 }])
    expect(c).toEqual({ nodes: [0, 2, 0, 0, 0, 0, 1], cores: [0, 8, 0, 0, 0, 0, 16] })
  })

  it("keeps a point only when a count changed; time follows every sample", () => {
    const h = makeNodeHistory()
    expect(h.answer()).toEqual({ time: null, states: HISTORY_STATES, max_points: 10_000, points: [] })
    h.record(100, counts(1))
    h.record(101, counts(1))
    h.record(102, counts(2))
    h.record(102, counts(2, 1)) // same time, new counts: the point at 102 is replaced
    h.record(103, counts(2, 1))
    h.record(90, counts(5)) // from before the last sample: dropped
    const a = h.answer()
    expect(a.time).toBe(103)
    expect(a.points.map((p) => [p.t, p.nodes[1], p.nodes[2], p.cores[2]])).toEqual([
      [100, 1, 0, 0],
      [102, 2, 1, 8]
    ])
  })

  it("since: the points at or after it", () => {
    const h = makeNodeHistory()
    for (let t = 0; t < 10; t++) h.record(t * 10, counts(t))
    expect(h.answer(45).points.map((p) => p.t)).toEqual([50, 60, 70, 80, 90])
    expect(h.answer(50).points.map((p) => p.t)).toEqual([50, 60, 70, 80, 90])
    expect(h.answer(0).points).toHaveLength(10)
    expect(h.answer(1000).points).toEqual([])
    expect(h.answer(1000).time).toBe(90)
  })

  it("is bounded: the newest max points", () => {
    const h = makeNodeHistory(100)
    for (let t = 0; t < 1000; t++) h.record(t, counts(t % 2))
    const a = h.answer()
    expect(a.max_points).toBe(100)
    expect(a.points).toHaveLength(100)
    expect(a.points[0].t).toBe(900)
    expect(a.points[99].t).toBe(999)
  })

  it("the sampler records the engine's counts at the engine's time, and changes as they happen", async () => {
    const engine = makeFakeEngine()
    const h = makeNodeHistory()
    await Effect.runPromise(
      Effect.gen(function* () {
        const fiber = yield* Effect.fork(sampleHistory(engine, h, 1))
        yield* TestClock.adjust("1 second")
        const before = (yield* engine.snapshot)
        expect(h.answer().time).toBe(before.time)
        expect(h.answer().points).toEqual([{ t: before.time, ...countByState(before.nodes) }])
        const idle = before.nodes.find((n) => n.state === 2)!
        yield* engine.hold(idle.hostname)
        yield* TestClock.adjust("1 second")
        const after = yield* engine.snapshot
        expect(h.answer().points.at(-1)).toEqual({ t: after.time, ...countByState(after.nodes) })
        expect(h.answer().points.at(-1)!.nodes[HISTORY_STATES.indexOf("Holding")]).toBe(countByState(before.nodes).nodes[HISTORY_STATES.indexOf("Holding")] + 1)
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(TestContext.TestContext))
    )
  })
})
