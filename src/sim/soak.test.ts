/**
 * The soak loop in this process (the CLI runs the same loop on worker
 * processes): budgets, totals, and a failing seed written out with a shrunk
 * scenario file that replays the failure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { registerExperiment } from "../experiments/policies.ts"
import { checkScenario, loadRegression } from "./harness.ts"
import { formatTotals, runSoak, soakRun } from "./soak.ts"

const dir = mkdtempSync(join(tmpdir(), "dyncluster-soak-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A fake clock: every reading is one second after the last. */
const ticking = () => {
  let t = 0
  return () => (t += 1000)
}

describe("soak", () => {
  it("runs every policy on the same worlds, stops at the run budget and adds up the runs", async () => {
    const { totals } = await runSoak({ policies: ["classic", "demand"], seed: 3, runs: 4, seconds: null, workers: 0, out: join(dir, "ok"), shrinkMs: 0, now: ticking() })
    expect(totals.runs).toBe(4)
    expect(totals.byPolicy).toEqual({ classic: 2, demand: 2 })
    expect(totals.violations).toBe(0)
    expect(totals.failing).toEqual([])
    expect(existsSync(join(dir, "ok"))).toBe(false)
    // runs 0..3 are worlds 3, 3, 4, 4 under classic, demand, classic, demand
    const each = [soakRun({ seed: 3, policy: "classic" }), soakRun({ seed: 3, policy: "demand" }), soakRun({ seed: 4, policy: "classic" }), soakRun({ seed: 4, policy: "demand" })]
    expect(totals.jobs).toBe(each.reduce((a, r) => a + r.jobs, 0))
    expect(totals.faultsInjected).toBe(each.reduce((a, r) => a + Object.values(r.faults).reduce((x, y) => x + y, 0), 0))
    const text = formatTotals(totals, 10, 0)
    expect(text).toMatch(/Random worlds: 4 in 10\.0 s/)
    expect(text).toMatch(/Invariant violations: 0/)
    expect(text).toMatch(/Failing seeds: none/)
  })

  it("stops at the time budget", async () => {
    const { totals } = await runSoak({ policies: ["classic"], seed: 1, runs: null, seconds: 2.5, workers: 0, out: join(dir, "t"), shrinkMs: 0, now: ticking() })
    // the fake clock moves one second per reading: start, budget check, the run's two wall-time readings, budget check → over
    expect(totals.runs).toBe(1)
  })

  it("writes a failing seed and a shrunk scenario file that replays the failure", async () => {
    registerExperiment({ name: "test-soak-never", description: "broken on purpose", decide: () => ({ provision: new Map(), jobsFor: new Map(), reasons: ["never"] }) })
    const out = join(dir, "fail")
    // world 22 has a job that a resource could take: a policy that never boots leaves it waiting
    const { totals } = await runSoak({ policies: ["test-soak-never"], seed: 22, runs: 1, seconds: null, workers: 0, out, shrinkMs: 20_000, now: ticking() })
    expect(totals.violations).toBeGreaterThan(0)
    expect(totals.failing).toHaveLength(1)
    const seeds = readFileSync(join(out, "seeds.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    expect(seeds).toMatchObject([{ seed: 22, policy: "test-soak-never", invariants: ["provision"] }])
    const file = seeds[0].file as string
    expect(readFileSync(file, "utf8")).toMatch(/^# Counterexample found by the soak/)
    const r = loadRegression(file)
    expect(r.policy).toBe("test-soak-never")
    const replayed = checkScenario(r.scenario, r.actions, { policy: r.policy })
    expect(replayed.violations.map((v) => v.invariant)).toContain("provision")
  }, 120_000)
})
