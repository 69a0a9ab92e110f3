/**
 * The queue of a new cluster view, with the previous view's job objects kept
 * where nothing changed. A batch system's parser hands over a new copy of
 * every job at each poll; at 100,000 queued jobs the copies, kept for one
 * poll, survived into old space and died there (the next cycle paid their
 * garbage collection and read them again). `reuseJobs` hands the engine the
 * previous object of every job whose fields are all equal (the new copy dies
 * young), and the previous array itself when the whole queue is unchanged, so
 * that the per-view caches keyed on the array (EngineState.eligibleQueue,
 * the policies' memory) hit. What the engine sees is equal either way: a
 * reused object is field for field the one the batch system gave.
 */
import { isDeepStrictEqual } from "node:util"
import type { Job } from "../model/types.ts"

/** Plain data equal (primitives, arrays, plain objects), as a batch system's extra attributes are: Node's own deep equality. */
export const sameData = (a: unknown, b: unknown): boolean => a === b || isDeepStrictEqual(a, b)

/** Every field of the job record equal (field by field: queue-reuse.test.ts fails when a field of the schema is not compared). */
export const sameJob = (a: Job, b: Job): boolean =>
  a === b ||
  (a.jobid === b.jobid &&
    a.state === b.state &&
    a.priority === b.priority &&
    a.requested_cores === b.requested_cores &&
    a.cores_per_node === b.cores_per_node &&
    a.name === b.name &&
    a.owner === b.owner &&
    a.queue === b.queue &&
    a.account === b.account &&
    a.property === b.property &&
    a.requested_mem === b.requested_mem &&
    a.requested_walltime === b.requested_walltime &&
    a.creation_time === b.creation_time &&
    sameData(a.extra_attributes, b.extra_attributes))

/** How far ahead in the previous queue a job is looked for before an index of it is built (jobs that left the queue in between). */
const WINDOW = 8
/** Jobs not found near their place before the previous queue is indexed by id (a reordered queue). */
const MISSES_BEFORE_INDEX = 32

/**
 * `next` with the job objects of `prev` wherever a job is unchanged (same id,
 * every field equal), and `prev` itself when `next` holds the same jobs in
 * the same order. Queues keep their order from poll to poll (jobs start and
 * leave, new ones come in): each job is looked for just after the last one
 * found; when many are not, by id.
 */
export const reuseJobs = (prev: ReadonlyArray<Job>, next: ReadonlyArray<Job>): ReadonlyArray<Job> => {
  if (prev === next || prev.length === 0) return next
  let out: Array<Job> | null = null
  let all = prev.length === next.length
  let p = 0
  let misses = 0
  let byId: Map<string, Job> | null = null
  for (let k = 0; k < next.length; k++) {
    const j = next[k]
    let old: Job | undefined
    const end = Math.min(prev.length, p + WINDOW)
    for (let q = p; q < end; q++) {
      const c = prev[q]
      if (c === j || c.jobid === j.jobid) {
        old = c
        p = q + 1
        break
      }
    }
    if (old === undefined) {
      if (byId === null && ++misses > MISSES_BEFORE_INDEX) {
        byId = new Map()
        for (const c of prev) byId.set(c.jobid, c)
      }
      old = byId?.get(j.jobid)
    }
    const keep = old !== undefined && sameJob(old, j) ? old : j
    if (keep !== j) {
      if (out === null) out = next.slice()
      out[k] = keep
    }
    if (all && keep !== prev[k]) all = false
  }
  return all ? prev : (out ?? next)
}
