/**
 * The simulator skips engine steps that provably change nothing. That must
 * never change what happens: the event log with and without the fast path is
 * byte-identical, faults and restarts included.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { policyNames } from "../engine/policy.ts"
import { kitScenario } from "./kit.ts"
import { runScenario } from "./run.ts"
import { generateSynthetic } from "./synthetic.ts"

const scenario = (seed: number) => {
  const w = generateSynthetic(
    {
      duration: 2 * 86400,
      arrival: { type: "poisson", rate_per_hour: 12 },
      bursts: [{ at: 50000, count: 80, spread: 600 }],
      cores: { type: "choice", values: [1, 2, 4, 8] },
      cpn: 0,
      runtime: { type: "lognormal", median: 1200, sigma: 1 }
    },
    seed
  )
  if (Either.isLeft(w)) throw w.left
  const k = kitScenario({
    seed,
    resources: [
      { name: "a", min: 1, max: 12, cores: 8, bootFailureRate: 0.05, apiErrorRate: 0.02 },
      { name: "b", max: 12, cores: 4, priority: 2, quota: 6 }
    ],
    physical: [{ hostname: "p1", cores: 8 }],
    faults: [
      { kind: "outage", resource: "a", at: 30000, duration: 3000 },
      { kind: "restart", at: 40001 },
      { kind: "instance_death", at: 52000, count: 2 },
      { kind: "batch_failure", at: 60000, duration: 900, mode: "garbage" },
      { kind: "restart", at: 90000.5 }
    ],
    settings: { max_idle_time: 900 }
  })
  return { ...k, world: { ...k.world, jobs: w.right.jobs } }
}

describe("fast path", () => {
  // every registered policy (their decisions and idle limits are what the skipping must not miss),
  // and a reactive one (passes that start nothing run again after each poll)
  it.each([...policyNames(), "demand+reactive"])("gives the same event log as stepping the engine at every wake-up (%s)", (policy) => {
    for (const seed of [1, 2]) {
      const s = scenario(seed)
      const fast = runScenario(s, { fastPath: true, policy }).events
      const slow = runScenario(s, { fastPath: false, policy }).events
      expect(fast.length).toBeGreaterThan(1000)
      expect(fast.join("\n")).toBe(slow.join("\n"))
    }
  })
})
