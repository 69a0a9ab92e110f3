import { Either, Schema } from "effect"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import {
  decodeWorkloadSpec,
  explicitJobs,
  loadWorkload,
  SwfWorkloadSpec,
  type Workload,
  type WorkloadError
} from "./workload.ts"

const SwfWorkloadSpecDecode = Schema.decodeUnknownEither(SwfWorkloadSpec)

const TRACES = fileURLToPath(new URL("../../../shared/traces/", import.meta.url))
const haveTraces = existsSync(join(TRACES, "KTH-SP2-1996-2.1-cln.swf.gz"))
if (!haveTraces) console.warn(`workload.test: ${TRACES} not found, the SWF loading test is skipped`)

const ok = <A, E extends { readonly message: string }>(r: Either.Either<A, E>): A => {
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const err = <A, E>(r: Either.Either<A, E>): E => {
  if (Either.isRight(r)) throw new Error("expected an error")
  return r.left
}

describe("explicitJobs", () => {
  it("fills defaults and sorts by submit, then id", () => {
    const w = ok(
      explicitJobs([
        { id: "b", submit: 10, cores: 4, runtime: 60 },
        { id: "a", submit: 10, cores: 8, cpn: 4, runtime: 30, walltime: 120, queue: "batch", account: "x", property: "gpu", priority: 5 },
        { id: 7, submit: 0, cores: 2, cpn: 16, runtime: 1 }
      ])
    )
    expect(w.jobs).toEqual([
      { id: "7", submit: 0, cores: 2, cpn: 2, runtime: 1, walltime: null, queue: null, account: null, property: null, priority: 0 },
      { id: "a", submit: 10, cores: 8, cpn: 4, runtime: 30, walltime: 120, queue: "batch", account: "x", property: "gpu", priority: 5 },
      { id: "b", submit: 10, cores: 4, cpn: 0, runtime: 60, walltime: null, queue: null, account: null, property: null, priority: 0 }
    ])
    expect(w.skipped).toBe(0)
  })

  it("numbers jobs without an id by position; ties sort 2 before 10", () => {
    const list = Array.from({ length: 12 }, () => ({ submit: 0, cores: 1, runtime: 1 }))
    expect(ok(explicitJobs(list)).jobs.map((j) => j.id)).toEqual(list.map((_, i) => String(i + 1)))
  })

  it("refuses duplicates and bad values, naming where", () => {
    expect(err(explicitJobs([{ id: "x", submit: 0, cores: 1, runtime: 1 }, { id: "x", submit: 1, cores: 1, runtime: 1 }])).message).toContain(
      "1.id"
    )
    const bad = err(explicitJobs([{ submit: 0, cores: 1, runtime: 1 }, { submit: 0, cores: 0, runtime: 1 }]))
    expect(bad._tag).toBe("WorkloadSpecError")
    expect(bad.message).toContain("1.cores")
    expect(err(explicitJobs([{ submit: -1, cores: 1, runtime: 1 }])).message).toContain("0.submit")
  })
})

describe("WorkloadSpec", () => {
  it("decodes each type and names the path of a bad value", () => {
    expect(ok(decodeWorkloadSpec({ type: "swf", file: "t.swf", time_scale: 10, cores_per_node: 8 })).type).toBe("swf")
    expect(
      ok(decodeWorkloadSpec({ type: "synthetic", jobs: 3, arrival: 60, cores: 1, runtime: { type: "exponential", mean: 5 } }))
        .type
    ).toBe("synthetic")
    expect(ok(decodeWorkloadSpec({ type: "jobs", jobs: [{ submit: 0, cores: 1, runtime: 5 }] })).type).toBe("jobs")

    expect(err(decodeWorkloadSpec({ type: "swf", file: "t.swf", time_scale: -1 })).message).toContain("time_scale")
    expect(err(decodeWorkloadSpec({ type: "jobs", jobs: [{ submit: 0, cores: 1, runtime: "x" }] })).message).toContain(
      "jobs.0.runtime"
    )
    expect(err(decodeWorkloadSpec({ type: "swf", file: "t.swf", timescale: 2 })).message).toContain("timescale")
    expect(err(decodeWorkloadSpec({ type: "csv", file: "t.csv" }))._tag).toBe("WorkloadSpecError")
  })

  it("loads explicit and synthetic workloads; the seed matters only to synthetic ones", () => {
    const jobs = ok(decodeWorkloadSpec({ type: "jobs", jobs: [{ submit: 5, cores: 2, runtime: 5 }] }))
    expect(ok(loadWorkload(jobs, { seed: 1, baseDir: "/" })).jobs).toHaveLength(1)
    const syn = ok(
      decodeWorkloadSpec({ type: "synthetic", jobs: 50, arrival: { type: "poisson", rate_per_hour: 100 }, cores: 1, runtime: 60 })
    )
    const a = ok(loadWorkload(syn, { seed: 1, baseDir: "/" }))
    expect(ok(loadWorkload(syn, { seed: 1, baseDir: "/nowhere" }))).toEqual(a)
    expect(ok(loadWorkload(syn, { seed: 2, baseDir: "/" })).jobs).not.toEqual(a.jobs)
  })

  it.skipIf(!haveTraces)("loads an SWF trace relative to the scenario's directory", () => {
    const spec = ok(
      SwfWorkloadSpecDecode({
        type: "swf",
        file: "KTH-SP2-1996-2.1-cln.swf.gz",
        start: 86400,
        duration: 86400,
        time_scale: 2,
        cores_per_node: 4,
        account: "user{user}"
      })
    )
    const w = ok(loadWorkload(spec, { seed: 1, baseDir: TRACES }))
    expect(w.jobs.length).toBeGreaterThan(10)
    expect(Either.getOrThrow(decodeWorkloadSpec({ ...spec }))).toEqual(spec)
    expect(w.jobs[w.jobs.length - 1].submit).toBeLessThan(86400 / 2)
    expect(w.jobs.every((j) => j.cpn === Math.min(4, j.cores) && j.account !== null && j.queue === "default")).toBe(true)
    const missing = err<Workload, WorkloadError>(loadWorkload({ ...spec, file: "nope.swf" }, { seed: 1, baseDir: TRACES }))
    expect(missing._tag).toBe("SwfError")
    expect(missing.message).toContain(join(TRACES, "nope.swf"))
  })
})
