/**
 * The queue of a new view keeps the previous view's job objects only where a
 * job is unchanged (queue-reuse.ts): a change in any field of the job record
 * is never masked by the reuse (every field of the Job schema is tried, so a
 * field added to the schema but not compared fails here), and whatever the
 * queues, the engine's queue is field for field the view's.
 */
import { Arbitrary, FastCheck as fc, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { Job, makeJob } from "../model/types.ts"
import { reuseJobs, sameData, sameJob } from "./queue-reuse.ts"

const jobArb = Arbitrary.make(Job)
/** NaN is never equal to itself: a job holding one is (safely) never reused. */
const hasNaN = (x: unknown): boolean =>
  typeof x === "number" ? Number.isNaN(x) : typeof x === "object" && x !== null ? Object.values(x).some(hasNaN) : false
const fields = Object.keys(Job.fields) as Array<keyof typeof Job.fields>

describe("reuseJobs", () => {
  it("compares every field of the job schema: a job with any one field changed is not reused", () => {
    expect(fields.length).toBe(14)
    for (const f of fields) {
      const valueArb = Arbitrary.make(Job.fields[f] as Schema.Schema<unknown>)
      fc.assert(
        fc.property(jobArb, valueArb, (a, v) => {
          fc.pre(!sameData(a[f], v))
          const b = { ...a, [f]: v } as Job
          const prev = [a]
          const out = reuseJobs(prev, [b])
          expect(sameJob(a, b), f).toBe(false)
          expect(out[0], f).toBe(b)
          expect(out, f).not.toBe(prev)
        }),
        { numRuns: 200 }
      )
    }
  })

  it("a copy equal in every field (extra attributes nested included) is the previous object, and an unchanged queue the previous array", () => {
    fc.assert(
      fc.property(fc.array(jobArb, { maxLength: 30 }), (jobs) => {
        fc.pre(!hasNaN(jobs))
        const copy = jobs.map((j) => structuredClone(j))
        const out = reuseJobs(jobs, copy)
        if (jobs.length > 0) expect(out).toBe(jobs)
        else expect(out).toBe(copy)
      })
    )
  })

  it("a nested change in extra attributes is seen", () => {
    const a = makeJob({ jobid: "1", extra_attributes: { status: { x: [1, 2] } } })
    const b = makeJob({ jobid: "1", extra_attributes: { status: { x: [1, 3] } } })
    expect(reuseJobs([a], [b])[0]).toBe(b)
    const c = makeJob({ jobid: "1", extra_attributes: { status: { x: [1, 2] }, y: undefined } })
    expect(reuseJobs([a], [c])[0]).toBe(c)
  })

  it("whatever the two queues (jobs gone, new, changed, reordered), the result is the new queue field for field, reusing only equal jobs", () => {
    const ids = fc.constantFrom(...Array.from({ length: 60 }, (_, i) => String(i)))
    const small = fc.record({ jobid: ids, priority: fc.constantFrom(0, 1, null), state: fc.constantFrom(0, 1), requested_cores: fc.constantFrom(1, 8) })
    const queue = fc.array(small, { maxLength: 80 }).map((xs) => xs.map((x) => makeJob(x as Partial<Job> & { jobid: string })))
    fc.assert(
      fc.property(queue, queue, fc.boolean(), (prev, fresh, derive) => {
        // half the time the new queue is the old one copied, with some jobs dropped and the rest kept in order
        const next = derive ? [...prev.filter((_, i) => i % 3 !== 0).map((j) => ({ ...j })), ...fresh] : fresh
        const out = reuseJobs(prev, next)
        expect(out.length).toBe(next.length)
        const olds = new Set(prev)
        for (let k = 0; k < next.length; k++) {
          expect(sameJob(out[k], next[k])).toBe(true)
          expect(out[k] === next[k] || olds.has(out[k])).toBe(true)
        }
        if (out === prev) expect(next.length).toBe(prev.length)
      }),
      { numRuns: 500 }
    )
  })
})
