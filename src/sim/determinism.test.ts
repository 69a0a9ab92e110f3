/**
 * Issue 2's determinism check: a 7-day synthetic scenario (at least 5,000
 * jobs, 2 resources, faults included) run twice with the same seed gives a
 * byte-identical event log; another seed gives another log. The scenario goes
 * through the scenario decoder like a file would.
 */
import { Either } from "effect"
import { createHash } from "node:crypto"
import { describe, expect, it } from "vitest"
import { runScenario } from "./run.ts"
import { decodeScenario, type LoadedScenario } from "./scenario.ts"

const WEEK = 7 * 86400

const doc = {
  name: "determinism-7d",
  seed: 20240601,
  config: {
    "dynamic-cluster": {
      max_idle_time: 600,
      // production-like intervals: a week is ~20,000 cluster polls
      cluster_poller_interval: 30,
      cloud_poller_interval: 30,
      auto_provision_interval: 60,
      worker_thread_number: 4
    },
    cluster: { type: "simulated" },
    cloud: {
      os: { type: "simulated", priority: 1, quantity: { min: 1, max: 12 } },
      aws: { type: "simulated", priority: 2, quantity: { min: 0, max: 8 } }
    }
  },
  cluster: { physical: { count: 2, cores: 8 }, scheduler_cycle: 30 },
  clouds: {
    os: { cores: 8, boot_time: { type: "lognormal", median: 90, sigma: 0.3 }, config_time: { type: "uniform", min: 30, max: 90 }, boot_failure_rate: 0.02, api_error_rate: 0.005 },
    aws: { cores: 8, boot_time: { type: "lognormal", median: 50, sigma: 0.3 }, config_time: 40, price: 0.34 }
  },
  workload: {
    type: "synthetic",
    jobs: 5200,
    arrival: { type: "poisson", rate_per_hour: 5200 / (WEEK / 3600) },
    cores: { type: "choice", values: [1, 2, 4, 8], weights: [4, 3, 2, 1] },
    cpn: 8,
    runtime: { type: "lognormal", median: 900, sigma: 0.8 },
    queues: { values: ["batch", "short"], weights: [3, 1] }
  },
  faults: [
    { kind: "outage", resource: "os", at: 2 * 86400, duration: 3600 },
    { kind: "instance_death", at: 3 * 86400, count: 2 },
    { kind: "batch_failure", at: 4 * 86400, duration: 600, mode: "garbage" },
    { kind: "restart", random: 2 }
  ],
  drain: 1800
}

const scenario = (seed?: number): LoadedScenario => {
  const r = decodeScenario(doc, { baseDir: ".", ...(seed !== undefined ? { seed } : {}) })
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}

/** The log as one hash (the lines are not kept: a week is tens of thousands of them). */
const run = (s: LoadedScenario) => {
  const h = createHash("sha256")
  let lines = 0
  const r = runScenario(s, {
    collect: false,
    onEvent: (l) => {
      h.update(l + "\n")
      lines++
    }
  })
  return { hash: h.digest("hex"), lines, summary: r.summary }
}

describe("determinism over a simulated week", () => {
  it("same seed → byte-identical event log; another seed → another log", () => {
    const s = scenario()
    expect(s.world.jobs.length).toBeGreaterThanOrEqual(5000)
    expect(s.world.jobs[s.world.jobs.length - 1].submit).toBeGreaterThan(6 * 86400)
    expect(s.world.resources).toHaveLength(2)

    const first = run(s)
    const second = run(scenario())
    expect(first.summary.jobs.submitted).toBe(s.world.jobs.length)
    expect(first.summary.jobs.finished + first.summary.jobs.killed).toBe(s.world.jobs.length)
    expect(first.summary.span).toBeGreaterThanOrEqual(WEEK * 0.95)
    expect(first.summary.restarts).toBe(2)
    expect(first.summary.resources.os.boots).toBeGreaterThan(0)
    expect(first.summary.resources.aws.boots).toBeGreaterThan(0)
    expect(first.lines).toBeGreaterThan(20_000)
    expect(second.lines).toBe(first.lines)
    expect(second.hash).toBe(first.hash)
    expect(second.summary).toEqual(first.summary)

    const other = run(scenario(doc.seed + 1))
    expect(other.hash).not.toBe(first.hash)
  }, 180_000)
})
