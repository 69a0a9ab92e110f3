/**
 * `simulate --seeds` (src/sim/seeds.ts): seed lists, the 95 % t-interval,
 * the change against the first variant paired by seed, the table and the
 * scatter; pure functions of the summaries.
 */
import { describe, expect, it } from "vitest"
import { costWaitScatter, formatSeedTable, parseSeeds, seedsProblem, seedStats, tInterval } from "./seeds.ts"
import type { Summary } from "./summary.ts"

const summary = (wait: number, cost: number): Summary =>
  ({
    wait: { mean: wait, p50: wait, p95: 2 * wait, max: 3 * wait },
    total: { boots: 10, failed_boots: 0, peak_nodes: 1, node_hours: 1, core_hours: cost * 10, useful_core_hours: 1, utilisation: 1, cost }
  }) as unknown as Summary

describe("seeds", () => {
  it("parses ranges and lists, refuses the rest", () => {
    expect(parseSeeds("1-10")).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(parseSeeds("6-10")).toEqual([6, 7, 8, 9, 10])
    expect(parseSeeds("1,3,5")).toEqual([1, 3, 5])
    expect(parseSeeds("1-2,7")).toEqual([1, 2, 7])
    for (const bad of ["", "a", "10-1", "1,1", "1-", "1.5"]) expect(parseSeeds(bad), bad).toBeNull()
    // what is wrong, in words
    expect(seedsProblem("10-1")).toBe("the range 10-1 ends before it starts (e.g. 1-10)")
    expect(seedsProblem("1-3,2")).toBe("a seed is named twice")
    expect(seedsProblem("0-20000")).toBe("the range 0-20000 has more than 10,001 seeds")
    for (const bad of ["", "a", "1-", "1.5"]) expect(seedsProblem(bad), bad).toBe("expected a range or list of integers, e.g. 1-10, 6-10 or 1,3,5")
  })

  it("t-interval: mean ± t(0.975, n-1) × s/√n", () => {
    const iv = tInterval([1, 2, 3, 4, 5])
    expect(iv.mean).toBe(3)
    expect(iv.half).toBeCloseTo(2.776 * Math.sqrt(2.5 / 5), 6)
    expect(Number.isNaN(tInterval([4]).half)).toBe(true)
  })

  it("Δ is paired by seed: a constant per-seed change has no spread", () => {
    const a = { label: "classic", runs: [summary(100, 10), summary(200, 30), summary(50, 5)] }
    const b = { label: "lean", runs: [summary(80, 11), summary(160, 33), summary(40, 5.5)] }
    const [s0, s1] = seedStats([a, b])
    expect(s0.delta).toBeNull()
    expect(s1.delta!.mean_wait!.mean).toBeCloseTo(-20, 9)
    expect(s1.delta!.mean_wait!.half).toBeCloseTo(0, 9)
    expect(s1.delta!.cost!.mean).toBeCloseTo(10, 9)
    // unpaired, the spread of the waits themselves is wide
    expect(s1.stats.mean_wait!.half).toBeGreaterThan(100)
    const table = formatSeedTable([s0, s1], "heading", "EUR")
    expect(table).toContain("Δ vs classic")
    expect(table).toContain("cost (EUR)")
    expect(table).toContain("−20.0 % [−20.0, −20.0]")
    expect(formatSeedTable([s0, s1], "heading", "EUR")).toBe(table)
  })

  it("the scatter has one point per seed and variant", () => {
    const a = { label: "classic", runs: [summary(100, 10), summary(200, 30)] }
    const b = { label: "lean", runs: [summary(80, 11), summary(160, 33)] }
    const svg = costWaitScatter([a, b], { currency: "EUR", line: true })
    expect(svg.match(/<circle [^>]*><title>/g)).toHaveLength(4)
    expect(svg).toContain("<polyline")
    expect(svg).toContain("cost (EUR)")
  })
})
