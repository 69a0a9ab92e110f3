/**
 * Work over a big queue, in slices: a generator that yields between slices
 * (every `SLICE_JOBS` jobs) and returns its result at the end. The daemon's
 * engine drives it with its pause between slices (engine.ts
 * `EngineOptions.pause`), so that one walk over 100,000 queued jobs does not
 * hold the event loop in one piece; everything else runs it to its end at
 * once (`runSteps`). A slice boundary is only a point where the caller may
 * let other work in: the result does not depend on where, or whether, the
 * caller paused (src/sim/pause.test.ts).
 */
export type Steps<A> = Generator<void, A, void>

/** Jobs between two yields: ~0.5–1 ms of work for the policy's placement or the queue's explanations. */
export const SLICE_JOBS = 1024

/**
 * Nodes from which a policy's decision also yields between the phases that
 * walk the nodes before its walk of the queue (demand.ts: the memory's
 * observation, the capacity index): each is ~10–20 ms at 5,000 nodes.
 */
export const SLICE_NODES = 1024

/** Runs `steps` to its end, without pausing; its result. */
export const runSteps = <A>(steps: Steps<A>): A => {
  for (;;) {
    const r = steps.next()
    if (r.done === true) return r.value
  }
}

/** Steps that do nothing and return `a`. */
export function* done<A>(a: A): Steps<A> {
  return a
}
