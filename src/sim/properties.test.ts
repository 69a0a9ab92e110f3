/**
 * Property: in random worlds (configurations, workloads, faults, operator
 * actions at random times) every invariant of SPEC §6 holds, for the classic
 * policy and every other registered policy. A fixed number of runs from a
 * fixed seed, so CI sees the same worlds every time; `npm run soak` explores.
 *
 * On failure the counterexample is shrunk (for at most SHRINK_MS) and written
 * as a scenario file; the message names the seed, the file and how to replay
 * it (docs/testing.md). Environment: DYNCLUSTER_PROPERTY_RUNS (runs per
 * policy), DYNCLUSTER_PROPERTY_SEED (another seed), DYNCLUSTER_COUNTEREXAMPLES
 * (where files go; default the system's temporary directory).
 */
import * as fc from "fast-check"
import { mkdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { policyNames } from "../engine/policy.ts"
import { registerExperiment } from "../experiments/policies.ts"
import { arbWorld, type RandomWorld } from "./arbitrary.ts"
import { checkWorld, counterexampleHeader, runWorld, scenarioYaml, type CheckedRun } from "./harness.ts"
import { kitScenario } from "./kit.ts"
import { formatViolation } from "./invariants.ts"

const RUNS = Number(process.env.DYNCLUSTER_PROPERTY_RUNS ?? 12)
const SEED = process.env.DYNCLUSTER_PROPERTY_SEED !== undefined ? Number(process.env.DYNCLUSTER_PROPERTY_SEED) : 20240601
const SHRINK_MS = 25_000
const OUT = process.env.DYNCLUSTER_COUNTEREXAMPLES ?? join(tmpdir(), "dyncluster-counterexamples")

/** Smaller worlds than the soak's, so that the file stays fast on a busy 2-core machine. */
const worlds = arbWorld({ maxJobs: 20, horizon: [600, 2400], maxFaults: 4, maxActions: 5 })

interface Outcome {
  readonly failed: boolean
  readonly report: string
  readonly file: string | null
  readonly counterexample: RandomWorld | null
}

/**
 * Checks the property for a policy; on failure shrinks from the failing run
 * (time-boxed) and writes the smallest counterexample found as a scenario file.
 */
const checkPolicy = (policy: string, numRuns: number, seed: number): Outcome => {
  const prop = fc.property(worlds, (w) => checkWorld(w, policy).violations.length === 0)
  const first = fc.check(prop, { numRuns, seed, endOnFailure: true })
  if (!first.failed) return { failed: false, report: "", file: null, counterexample: null }
  const shrunk = fc.check(prop, { seed: first.seed, path: first.counterexamplePath ?? undefined, interruptAfterTimeLimit: SHRINK_MS })
  const w = (shrunk.failed ? shrunk.counterexample : first.counterexample)![0]
  const run: CheckedRun = checkWorld(w, policy)
  mkdirSync(OUT, { recursive: true })
  const file = join(OUT, `${policy}-seed${first.seed}.yaml`)
  const header = counterexampleHeader({
    title: `Counterexample of the invariants property (src/sim/properties.test.ts), shrunk for ${SHRINK_MS / 1000} s at most.`,
    found: `fast-check seed ${first.seed}, path ${first.counterexamplePath} (DYNCLUSTER_PROPERTY_SEED=${first.seed} replays the property run).`,
    policy,
    violations: run.violations,
    file
  })
  writeFileSync(file, scenarioYaml(w, policy, header))
  const report = [
    `policy ${policy}: invariants broken in a random world (seed ${first.seed}, path ${first.counterexamplePath}, after ${first.numRuns} run(s)).`,
    `Smallest counterexample found: ${file}`,
    `Replay: npx dyncluster soak --replay ${file}   (store it under scenarios/regressions/ once understood)`,
    ...run.violations.slice(0, 8).map(formatViolation)
  ].join("\n")
  return { failed: true, report, file, counterexample: w }
}

describe("invariants in random worlds", () => {
  for (const [i, policy] of policyNames().entries()) {
    it(`hold in ${RUNS} worlds with faults and operator actions (policy ${policy})`, { timeout: 120_000 }, () => {
      const out = checkPolicy(policy, RUNS, SEED + i)
      if (out.failed) expect.fail(out.report)
    })
  }

  it("the simulator's fast path never changes what happens, operator actions included", { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(worlds, (w) => {
        const s = kitScenario(w.kit)
        const fast = runWorld(s, w.actions, { fastPath: true }).lines.join("\n")
        const slow = runWorld(s, w.actions, { fastPath: false }).lines.join("\n")
        expect(fast).toBe(slow)
      }),
      { numRuns: 6, seed: SEED - 1 }
    )
  })

  it("the property can fail: a policy that never provisions is caught, shrunk and written out", { timeout: 120_000 }, () => {
    registerExperiment({
      name: "test-never-provisions",
      description: "a broken policy for this test",
      decide: () => ({ provision: new Map(), jobsFor: new Map(), reasons: ["never"] })
    })
    const out = checkPolicy("test-never-provisions", 40, 7)
    expect(out.failed).toBe(true)
    expect(out.report).toMatch(/\[provision\]/)
    expect(out.file).not.toBeNull()
    // shrinking left a job that fits and a resource with room
    expect(out.counterexample!.kit.jobs!.length).toBeGreaterThan(0)
  })
})
