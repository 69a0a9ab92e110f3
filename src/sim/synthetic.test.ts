import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { compareJobs } from "./swf.ts"
import { generateSynthetic, type SyntheticSpec, SyntheticWorkloadSpec } from "./synthetic.ts"
import type { Workload } from "./workload.ts"

const gen = (spec: SyntheticSpec, seed: number): Workload => Either.getOrThrow(generateSynthetic(spec, seed))

const SPEC: SyntheticSpec = {
  jobs: 2000,
  arrival: { type: "poisson", rate_per_hour: 60 },
  cores: { type: "choice", values: [1, 2, 4, 8, 16], weights: [5, 4, 3, 2, 1] },
  cpn: 4,
  runtime: { type: "lognormal", median: 600, sigma: 1 },
  walltime_factor: 2,
  queues: { values: ["batch", "short"], weights: [3, 1] },
  accounts: { values: ["physics", "chemistry", null] },
  properties: null
}

const one = { type: "constant", value: 1 } as const
const mean = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) / xs.length

describe("generateSynthetic", () => {
  it("same seed → identical jobs; different seeds → different jobs", () => {
    expect(gen(SPEC, 1)).toEqual(gen(SPEC, 1))
    const a = gen(SPEC, 1).jobs, b = gen(SPEC, 2).jobs
    expect(a.map((j) => j.submit)).not.toEqual(b.map((j) => j.submit))
    expect(a.map((j) => j.runtime)).not.toEqual(b.map((j) => j.runtime))
    expect(a.map((j) => j.cores)).not.toEqual(b.map((j) => j.cores))
  })

  it("is deterministic for any seed and spec (property)", () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: 0, max: 200 }), fc.double({ min: 1, max: 1000, noNaN: true }), (seed, n, rate) => {
        const spec: SyntheticSpec = { ...SPEC, jobs: n, arrival: { type: "poisson", rate_per_hour: rate } }
        const w = gen(spec, seed)
        expect(w.jobs.length).toBe(n)
        expect(gen(spec, seed)).toEqual(w)
        expect(w.jobs.every((j, i) => i === 0 || compareJobs(w.jobs[i - 1], j) <= 0)).toBe(true)
      }),
      { numRuns: 50 }
    )
  })

  it("follows the arrival rate and the distributions", () => {
    const w = gen({ ...SPEC, jobs: 20000 }, 7)
    const gaps = w.jobs.slice(1).map((j, i) => j.submit - w.jobs[i].submit)
    expect(mean(gaps)).toBeGreaterThan(57)
    expect(mean(gaps)).toBeLessThan(63)
    // cores: weighted mean of the choice = (5+8+12+16+16)/15 = 3.8
    expect(mean(w.jobs.map((j) => j.cores))).toBeGreaterThan(3.6)
    expect(mean(w.jobs.map((j) => j.cores))).toBeLessThan(4.0)
    const runtimes = w.jobs.map((j) => j.runtime).sort((a, b) => a - b)
    expect(runtimes[10000]).toBeGreaterThan(570)
    expect(runtimes[10000]).toBeLessThan(630)
    const batch = w.jobs.filter((j) => j.queue === "batch").length / w.jobs.length
    expect(batch).toBeGreaterThan(0.72)
    expect(batch).toBeLessThan(0.78)
    expect(new Set(w.jobs.map((j) => j.account))).toEqual(new Set(["physics", "chemistry", null]))
    for (const j of w.jobs) {
      if (!(Number.isInteger(j.cores) && j.cores >= 1 && j.runtime >= 1 && Number.isInteger(j.runtime)))
        throw new Error(JSON.stringify(j))
      expect(j.cpn).toBe(Math.min(4, j.cores))
      expect(j.walltime).toBe(j.runtime * 2)
      expect(j.property).toBeNull()
    }
  })

  it("runs until a duration, with an inter-arrival distribution", () => {
    const w = gen(
      { duration: 3600, arrival: { type: "uniform", min: 10, max: 30 }, cores: one, runtime: { type: "constant", value: 100 } },
      3
    )
    expect(w.jobs.length).toBeGreaterThan(150)
    expect(w.jobs.length).toBeLessThan(210)
    expect(w.jobs[w.jobs.length - 1].submit).toBeLessThan(3600)
    expect(w.jobs[0]).toMatchObject({ id: "1", cores: 1, cpn: 0, runtime: 100, walltime: null, queue: null, priority: 0 })
  })

  it("adds bursts on top of the arrivals, ids in submit order", () => {
    const w = gen(
      {
        jobs: 100,
        arrival: { type: "exponential", mean: 60 },
        bursts: [{ at: 1000, count: 50, spread: 60 }, { at: 2000, count: 20 }],
        cores: { type: "constant", value: 2 },
        runtime: { type: "constant", value: 60 },
        id_prefix: "s"
      },
      9
    )
    expect(w.jobs.length).toBe(170)
    expect(w.jobs.filter((j) => j.submit >= 1000 && j.submit < 1060).length).toBeGreaterThanOrEqual(50)
    expect(w.jobs.filter((j) => j.submit === 2000).length).toBeGreaterThanOrEqual(20)
    expect(w.jobs.map((j) => j.id)).toEqual(w.jobs.map((_, i) => `s${i + 1}`))
    expect(w.jobs.every((j, i) => i === 0 || compareJobs(w.jobs[i - 1], j) <= 0)).toBe(true)
    // bursts alone
    expect(gen({ bursts: [{ at: 5, count: 3 }], cores: one, runtime: one }, 1).jobs.map((j) => j.submit)).toEqual([5, 5, 5])
  })

  it("keeps each attribute on its own stream", () => {
    const a = gen(SPEC, 4)
    const b = gen({ ...SPEC, queues: { values: ["x", "y", "z"] }, accounts: "acct" }, 4)
    expect(b.jobs.map((j) => [j.submit, j.cores, j.runtime])).toEqual(a.jobs.map((j) => [j.submit, j.cores, j.runtime]))
    expect(b.jobs.every((j) => j.account === "acct")).toBe(true)
  })

  it("a spec's own seed wins over the scenario seed", () => {
    expect(gen({ ...SPEC, seed: 5 }, 1).jobs).toEqual(gen({ ...SPEC, seed: 5 }, 2).jobs)
    expect(gen({ ...SPEC, seed: 5 }, 1).source).toBe("synthetic:seed=5")
  })

  it("refuses a runaway duration-only spec instead of hanging", () => {
    const r = generateSynthetic({ duration: 10, arrival: { type: "constant", value: 0 }, cores: one, runtime: one }, 1)
    expect(Either.isLeft(r)).toBe(true)
  })
})

describe("SyntheticWorkloadSpec", () => {
  const decode = Schema.decodeUnknownEither(SyntheticWorkloadSpec)

  it("decodes a scenario's spec", () => {
    const spec = Either.getOrThrow(
      decode({
        type: "synthetic",
        jobs: 10,
        arrival: { type: "poisson", rate_per_hour: 30 },
        cores: { type: "uniform", min: 1, max: 8 },
        cpn: 8,
        runtime: { type: "exponential", mean: 900 },
        queues: "batch",
        bursts: [{ at: 60, count: 5 }]
      })
    )
    expect(gen(spec, 1).jobs.length).toBe(15)
  })

  it("refuses specs that cannot be generated", () => {
    const base = { type: "synthetic", cores: 1, runtime: 1 }
    expect(Either.isLeft(decode({ ...base, arrival: { type: "poisson", rate_per_hour: 1 } }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, jobs: 5 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, jobs: 5, arrival: { type: "poisson", rate_per_hour: 0 } }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, jobs: 1.5, arrival: 60 }))).toBe(true)
    expect(Either.isLeft(decode({ ...base, jobs: 5, arrival: 60, queues: { values: ["a"], weights: [1, 2] } }))).toBe(
      true
    )
    expect(Either.isRight(decode({ ...base, jobs: 5, arrival: 60 }))).toBe(true)
  })
})
