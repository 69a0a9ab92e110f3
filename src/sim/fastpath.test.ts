/**
 * The simulator skips engine steps that provably change nothing. That must
 * never change what happens: the event log with and without the fast path is
 * byte-identical, faults and restarts included.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { policyNames } from "../engine/policy.ts"
import { kitScenario } from "./kit.ts"
import { SimDriver } from "./run.ts"
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

/** The event log of one run, and the engine steps it ran and skipped. */
const run = (s: ReturnType<typeof scenario>, fastPath: boolean, policy: string) => {
  const events: Array<string> = []
  const d = new SimDriver(s, { fastPath, policy }, (line) => events.push(line))
  while (d.advance()) {
    /* to the end */
  }
  events.push(`{"t":${d.world.now},"ev":"end","summary":${JSON.stringify(d.summary())}}`)
  return { events, steps: d.steps, skipped: d.skipped }
}

describe("fast path", () => {
  // every registered policy (their decisions and idle limits are what the skipping must not miss),
  // and a reactive one (passes that start nothing run again after each poll)
  it.each([...policyNames(), "demand+reactive"])("gives the same event log as stepping the engine at every wake-up (%s)", (policy) => {
    for (const seed of [1, 2]) {
      const s = scenario(seed)
      const fast = run(s, true, policy)
      const slow = run(s, false, policy)
      expect(fast.events.length).toBeGreaterThan(1000)
      expect(fast.events.join("\n")).toBe(slow.events.join("\n"))
      expect(slow.skipped).toBe(0)
      // every policy's quiet steps are skipped, those of the policies with memory too (PolicyDecision.quietUntil)
      expect(fast.skipped).toBeGreaterThan(fast.steps / 4)
    }
  })
})
