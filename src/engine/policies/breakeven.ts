/**
 * Break-even retirement: how long an idle node is worth keeping.
 *
 * Keeping an idle node costs one node-second per second. Retiring it costs
 * nothing now, but if work for it comes back, a replacement must be booted:
 * that boot is paid (from the boot request on) and the work waits for it.
 * Call that cost K node-seconds (K = `weight` × the resource's observed boot
 * time, so weight 2 counts the paid boot and the wait it causes alike).
 *
 * If G is how long an idle period lasts until the next job lands on the
 * node, retiring at age T costs, per idle period,
 *
 *     C(T) = E[min(G, T)] + K · P(G > T)
 *
 * and the best T minimises it. The policy learns the distribution of G per
 * resource from the idle periods it watches (a Kaplan–Meier estimate: an
 * idle period that ended in a retirement only says G > its length), and
 * picks the T in [min, max_idle_time] with the lowest C. C only drops right
 * after an observed idle-period length, so those are the only candidates.
 *
 * Until enough idle periods were seen the engine's max_idle_time is used
 * (what classic does). Because retiring at T hides what happens after T, one
 * idle period in `explore` keeps the node up to max_idle_time, so the
 * estimate of the tail does not go stale.
 */

export interface BreakEvenOptions {
  /** K = weight × expected boot time (seconds) of the node's resource. */
  readonly weight: number
  /** The idle limit never goes below this (seconds). */
  readonly min: number
  /** Idle periods needed before the learned limit replaces max_idle_time. */
  readonly samples: number
  /** Every n-th idle period of a resource is kept up to max_idle_time (0 = never). */
  readonly explore: number
  /** Idle periods remembered per resource. */
  readonly window: number
}

export interface IdlePeriod {
  /** Seconds. */
  readonly length: number
  /** true: ended with a job on the node; false: the node was retired (or lost) first. */
  readonly ended: boolean
}

/**
 * The T in [lo, hi] minimising C(T) = ∫₀ᵀ S(t) dt + K·S(T), with S the
 * Kaplan–Meier survival of the idle periods. Pure; exported for tests.
 */
export const bestIdleLimit = (periods: ReadonlyArray<IdlePeriod>, k: number, lo: number, hi: number): number =>
  hi <= lo ? lo : bestInSorted([...periods].sort(byLength), k, lo, hi)

/** The order bestIdleLimit walks the periods in: shortest first, an ended period before a retired one of the same length. */
const byLength = (a: IdlePeriod, b: IdlePeriod): number => a.length - b.length || Number(b.ended) - Number(a.ended)

/** bestIdleLimit on periods already in `byLength` order (periods equal in both keys are interchangeable in the walk). */
const bestInSorted = (sorted: ReadonlyArray<IdlePeriod>, k: number, lo: number, hi: number): number => {
  if (hi <= lo) return lo
  let atRisk = sorted.length
  let s = 1 // S(t) just after the current point
  let area = 0 // ∫₀ᵗ S
  let t = 0
  let best = { T: lo, cost: Infinity }
  const consider = (T: number, costAtT: number) => {
    if (T >= lo && T <= hi && costAtT < best.cost - 1e-9) best = { T, cost: costAtT }
  }
  // C(lo): walk until lo, then every point after an ended period up to hi.
  let i = 0
  const advanceTo = (x: number) => {
    area += s * (x - t)
    t = x
  }
  while (i < sorted.length && sorted[i].length <= lo) {
    advanceTo(sorted[i].length)
    if (sorted[i].ended) s *= 1 - 1 / atRisk
    atRisk--
    i++
  }
  advanceTo(lo)
  consider(lo, area + k * s)
  for (; i < sorted.length && sorted[i].length <= hi; i++) {
    advanceTo(sorted[i].length)
    if (sorted[i].ended) {
      s *= 1 - 1 / atRisk
      consider(t, area + k * s)
    }
    atRisk--
  }
  advanceTo(hi)
  consider(hi, area + k * s)
  return best.T
}

/** Idle periods of one resource, with the limit they imply (recomputed when new periods come in). */
export class IdleLearner {
  /** In arrival order (the window drops the oldest). */
  private readonly periods: Array<IdlePeriod> = []
  /** The same periods in `byLength` order, kept as they come and go (no sort per new limit: the limit is asked again whenever a period or the boot time changes). */
  private readonly sorted: Array<IdlePeriod> = []
  private count = 0
  private cached: { k: number; lo: number; hi: number; n: number; T: number } | null = null

  constructor(private readonly opts: BreakEvenOptions) {}

  add(p: IdlePeriod): void {
    this.periods.push(p)
    // (after the last period that sorts before or equal to p: the place a stable sort gives it)
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const m = (lo + hi) >> 1
      if (byLength(this.sorted[m], p) <= 0) lo = m + 1
      else hi = m
    }
    this.sorted.splice(lo, 0, p)
    if (this.periods.length > this.opts.window) this.sorted.splice(this.sorted.indexOf(this.periods.shift()!), 1)
    this.count++
  }

  get seen(): number {
    return this.count
  }

  /** The learned limit in [lo, hi] for K = k seconds; hi until `samples` idle periods were seen. */
  limitIn(k: number, lo: number, hi: number): number {
    if (this.periods.length < this.opts.samples) return hi
    const c = this.cached
    if (c !== null && c.k === k && c.lo === lo && c.hi === hi && c.n === this.count) return c.T
    const T = bestInSorted(this.sorted, k, lo, hi)
    this.cached = { k, lo, hi, n: this.count, T }
    return T
  }

  /** The learned limit with K = weight × boot time, between `min` and max_idle_time. */
  limit(bootTime: number, maxIdleTime: number): number {
    return this.limitIn(this.opts.weight * bootTime, Math.min(this.opts.min, maxIdleTime), maxIdleTime)
  }
}
