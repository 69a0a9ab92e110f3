/**
 * The policy comparison of docs/policies.md, as a test: the synthetic bursty
 * compare scenario (scenarios/compare/bursty.yaml, unchanged) under classic,
 * demand and lean, on its own seed, must meet the acceptance condition of
 * issue #10 for one scenario: each no worse than classic on mean wait and on
 * paid core-hours (within 2 %), and better by at least 20 % on one of them.
 * The trace scenarios need ../shared/traces (skipped with a message when
 * absent): each must decode, and `lean` is replayed on each against classic
 * (about 10 s a scenario): it must stay inside the ±2 % band and wait less
 * than classic on every one, and be 20 % better on at least three of the six
 * (the whole condition of issue #10). `npx dyncluster simulate
 * scenarios/compare/X.yaml --policy classic,lean` prints one comparison.
 */
import { Either } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { loadScenarioFile } from "../../sim/scenario.ts"
import { runScenario } from "../../sim/run.ts"

const compareDir = fileURLToPath(new URL("../../../scenarios/compare/", import.meta.url))
const traces = fileURLToPath(new URL("../../../../shared/traces/", import.meta.url))
const haveTraces = existsSync(traces)
if (!haveTraces) console.warn(`compare.test.ts: ${traces} is absent: the trace compare scenarios are not checked`)

const load = (file: string) => {
  const s = loadScenarioFile(compareDir + file)
  if (Either.isLeft(s)) throw new Error(s.left.message)
  return s.right
}

/** The acceptance condition of issue #10 for one scenario; empty when met. */
export const acceptance = (
  classic: { readonly wait: number; readonly paid: number },
  demand: { readonly wait: number; readonly paid: number }
): Array<string> => {
  const out: Array<string> = []
  const rel = (a: number, b: number) => (b === 0 ? (a === 0 ? 0 : Infinity) : a / b - 1)
  const w = rel(demand.wait, classic.wait)
  const p = rel(demand.paid, classic.paid)
  if (w > 0.02) out.push(`mean wait ${(w * 100).toFixed(1)} % above classic`)
  if (p > 0.02) out.push(`paid core-hours ${(p * 100).toFixed(1)} % above classic`)
  if (w > -0.2 && p > -0.2) out.push(`neither better by 20 % (wait ${(w * 100).toFixed(1)} %, paid ${(p * 100).toFixed(1)} %)`)
  return out
}

describe("policy comparison (scenarios/compare)", () => {
  it("acceptance: the condition is computed as the issue states it", () => {
    expect(acceptance({ wait: 100, paid: 100 }, { wait: 79, paid: 101.9 })).toEqual([])
    expect(acceptance({ wait: 100, paid: 100 }, { wait: 79, paid: 102.1 })).toHaveLength(1)
    expect(acceptance({ wait: 100, paid: 100 }, { wait: 102.5, paid: 70 })).toHaveLength(1)
    expect(acceptance({ wait: 100, paid: 100 }, { wait: 90, paid: 90 })[0]).toContain("neither")
  })

  it.each(["demand", "lean"])("bursty: %s is no worse than classic on mean wait and paid core-hours, and better by 20 % on one", { timeout: 120_000 }, (policy) => {
    const sc = load("bursty.yaml")
    const c = runScenario(sc, { policy: "classic", collect: false }).summary
    const d = runScenario(sc, { policy, collect: false }).summary
    expect(c.jobs.started).toBe(c.jobs.submitted)
    expect(d.jobs.started).toBe(d.jobs.submitted)
    const failed = acceptance({ wait: c.wait.mean, paid: c.total.core_hours }, { wait: d.wait.mean, paid: d.total.core_hours })
    expect(failed, `classic: wait ${c.wait.mean} s, paid ${c.total.core_hours}; ${policy}: wait ${d.wait.mean} s, paid ${d.total.core_hours}`).toEqual([])
  })

  describe.skipIf(!haveTraces)("trace scenarios (need ../shared/traces)", () => {
    const files = readdirSync(compareDir).filter((f) => f.endsWith(".yaml"))
    it("there is one per trace, plus bursty", () => {
      const swf = readdirSync(traces).filter((f) => /\.swf(\.gz)?$/.test(f))
      expect(files.length).toBe(swf.length + 1)
    })
    it.each(files)("%s decodes, and its trace is found", (f) => {
      const sc = load(f)
      expect(sc.world.jobs.length).toBeGreaterThan(100)
    })
    // docs/policies.md "Sixth attempt": lean is inside the ±2 % band on every compare scenario (seed 1), waits less, and is 20 % better on three.
    const better20 = new Map<string, boolean>()
    it.each(files)("%s: lean is no worse than classic on mean wait and paid core-hours (within 2 %), and waits less", { timeout: 600_000 }, (f) => {
      const sc = load(f)
      const c = runScenario(sc, { policy: "classic", collect: false }).summary
      const l = runScenario(sc, { policy: "lean", collect: false }).summary
      expect(l.jobs.started).toBe(l.jobs.submitted)
      const missed = acceptance({ wait: c.wait.mean, paid: c.total.core_hours }, { wait: l.wait.mean, paid: l.total.core_hours })
      const worse = missed.filter((m) => !m.startsWith("neither"))
      expect(worse, `classic: wait ${c.wait.mean} s, paid ${c.total.core_hours}; lean: wait ${l.wait.mean} s, paid ${l.total.core_hours}`).toEqual([])
      expect(l.wait.mean).toBeLessThan(c.wait.mean)
      better20.set(f, missed.length === 0)
    })
    it("lean is better than classic by 20 % or more on at least three compare scenarios (issue #10)", () => {
      expect([...better20.keys()].sort(), "every scenario above must have run").toEqual([...files].sort())
      const good = [...better20].filter(([, ok]) => ok).map(([f]) => f)
      expect(good.length, `20 % better on: ${good.join(", ") || "none"}`).toBeGreaterThanOrEqual(3)
    })
  })
})
