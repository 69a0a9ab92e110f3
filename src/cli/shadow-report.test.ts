/**
 * `dyncluster shadow-report`: boots and retirements per resource and day, and
 * real against would-be waits, from a decisions file written by hand; bad
 * lines name the line and the path of the bad value.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { parseDecisionsFile, renderReport, shadowReport } from "./shadow-report.ts"

const DAY = 86_400
const T0 = 1_700_000_000 - (1_700_000_000 % DAY) // a UTC midnight
const file = [
  { type: "start", t: T0, mode: "live", dry_run: true, boot_time: { os: 100, aws: 60 } },
  { type: "job_queued", t: T0 + 10, job: "1", submitted: T0, cores: 4, queue: "batch" },
  { type: "job_queued", t: T0 + 10, job: "2", submitted: T0 + 5, cores: 1, queue: "batch" },
  { type: "decision", t: T0 + 20, kind: "provision", resource: "os", count: 2, jobs: ["1"], jobs_total: 1, jobs_truncated: false, reason: "queued_jobs", message: "m", dry_run: true },
  { type: "decision", t: T0 + 30, kind: "refuse", resource: null, jobs: ["9"], jobs_total: 1, jobs_truncated: false, reason: "no_matching_resource", message: "m", dry_run: true },
  { type: "job_left_queue", t: T0 + 1000, job: "1" },
  { type: "job_left_queue", t: T0 + 50, job: "2" },
  { type: "decision", t: T0 + DAY + 5, kind: "remove", resource: "os", hosts: ["would-be-os-1"], jobs: [], jobs_total: 0, jobs_truncated: false, reason: "held_empty", message: "m", dry_run: true },
  { type: "decision", t: T0 + DAY + 6, kind: "provision", resource: "aws", count: 1, jobs: ["3"], jobs_total: 1, jobs_truncated: false, reason: "queued_jobs", message: "m", dry_run: true },
  { type: "job_queued", t: T0 + DAY, job: "3", submitted: null, cores: 1, queue: "batch" }
]
  .map((l) => JSON.stringify(l))
  .join("\n")

describe("shadow-report", () => {
  it("sums boots and retirements per resource and day, and bounds a provisioned job's wait by the decision plus the boot time", () => {
    const r = shadowReport(Either.getOrThrow(parseDecisionsFile(file, "d.jsonl")))
    const day0 = new Date(T0 * 1000).toISOString().slice(0, 10)
    const day1 = new Date((T0 + DAY) * 1000).toISOString().slice(0, 10)
    expect(r.resources.os).toEqual({ boots: 2, retirements: 1, refusals: 0, days: { [day0]: { boots: 2, retirements: 0 }, [day1]: { boots: 0, retirements: 1 } } })
    expect(r.resources.aws).toEqual({ boots: 1, retirements: 0, refusals: 0, days: { [day1]: { boots: 1, retirements: 0 } } })
    // job 1: real 1000 s, would-be 20 + 100; job 2: 45 s both; job 3 still queued at the end (first seen T0+DAY, end T0+DAY+6): real 6, would-be min(6, 66)
    expect(r.jobs).toMatchObject({ observed: 3, still_queued: 1, provisioned_for: 2, sooner: 1 })
    expect(r.jobs.real_wait).toMatchObject({ jobs: 3, max: 1000, median: 45 })
    expect(r.jobs.would_be_wait).toMatchObject({ jobs: 3, max: 120, median: 45 })
    expect(renderReport(r, "d.jsonl")).toContain("os: 2 boot(s), 1 retirement(s), 0 refusal(s) (boot time 100s)")
  })

  it("a bad line is named by its number and the path of the bad value; a file without a start line is refused", () => {
    const bad = file.replace('"job":"2","submitted"', '"job":2,"submitted"')
    expect(Either.getLeft(parseDecisionsFile(bad, "d.jsonl")).pipe((o) => (o._tag === "Some" ? o.value : ""))).toMatch(/^d\.jsonl:3: [\s\S]*\["job"\]/)
    expect(parseDecisionsFile("{not json", "d.jsonl")).toMatchObject({ _tag: "Left", left: expect.stringMatching(/^d\.jsonl:1: not JSON/) })
    expect(parseDecisionsFile(file.split("\n").slice(1).join("\n"), "d.jsonl")).toMatchObject({ _tag: "Left", left: expect.stringMatching(/no "start" line/) })
  })
})
