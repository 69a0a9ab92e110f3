/**
 * SimDriver.advanceMany (the bench's replay loop: many advances in one
 * fiber) moves the world exactly as advance() called once per step: the
 * same event log, steps run and skipped, engine restarts included.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { kitScenario } from "./kit.ts"
import { SimDriver } from "./run.ts"
import { generateSynthetic } from "./synthetic.ts"

const scenario = () => {
  const w = generateSynthetic(
    { duration: 86400, arrival: { type: "poisson", rate_per_hour: 20 }, cores: { type: "choice", values: [1, 4, 8, 16] }, cpn: 0, runtime: { type: "lognormal", median: 900, sigma: 1 } },
    3
  )
  if (Either.isLeft(w)) throw w.left
  const k = kitScenario({
    seed: 3,
    resources: [
      { name: "a", min: 1, max: 10, cores: 8, bootFailureRate: 0.05, apiErrorRate: 0.02 },
      { name: "b", max: 10, cores: 4, priority: 2 }
    ],
    faults: [
      { kind: "restart", at: 20001 },
      { kind: "instance_death", at: 40000, count: 2 },
      { kind: "restart", at: 60000.5 }
    ],
    settings: { max_idle_time: 900 }
  })
  return { ...k, world: { ...k.world, jobs: w.right.jobs } }
}

const run = (policy: string, batch: number | null) => {
  const events: Array<string> = []
  const d = new SimDriver(scenario(), { policy }, (line) => events.push(line))
  if (batch === null) while (d.advance()) continue
  else while (d.advanceMany(batch)) continue
  events.push(JSON.stringify(d.summary()))
  return { events, steps: d.steps, skipped: d.skipped, restarts: d.restarts }
}

describe("SimDriver.advanceMany", () => {
  it.each(["lean", "classic"])("gives the same event log as advance() one at a time (%s)", (policy) => {
    const one = run(policy, null)
    expect(one.restarts).toBe(2)
    for (const batch of [1, 7, 4096]) {
      const many = run(policy, batch)
      expect(many.steps).toBe(one.steps)
      expect(many.skipped).toBe(one.skipped)
      expect(many.events).toEqual(one.events)
    }
  })
})
