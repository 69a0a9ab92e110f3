/**
 * The run summary of DESIGN.md. Every figure is recomputable from the event
 * log alone (`summaryFromEvents`), which tests compare against the live tally.
 * `cost` is price × billed node-hours under the resource's billing model
 * (src/model/billing.ts; without one, the node-hours themselves).
 */
import { billedSeconds, type Billing } from "../model/billing.ts"

export interface ResourceSummary {
  boots: number
  failed_boots: number
  peak_nodes: number
  node_hours: number
  core_hours: number
  useful_core_hours: number
  utilisation: number | null
  cost: number | null
}

export interface Summary {
  scenario: string
  policy: string
  seed: number
  /** Simulated seconds from start to end. */
  span: number
  /**
   * `started` counts starts (a resubmitted job starts again); `resubmitted`:
   * killed jobs put back in the queue (only in scenarios with a
   * spot_interruption fault).
   */
  jobs: { submitted: number; started: number; finished: number; killed: number; resubmitted?: number; skipped: number }
  wait: { mean: number; p50: number; p95: number; max: number }
  resources: Record<string, ResourceSummary>
  total: ResourceSummary
  faults: number
  restarts: number
  /** Spot instances the cloud took back (only in scenarios with a spot_interruption fault). */
  spot_interruptions?: number
}

export const round = (x: number, digits = 3): number => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: ReadonlyArray<number>, p: number): number => {
  if (sorted.length === 0) return 0
  const k = Math.max(0, Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[k]
}

export const waitStats = (waits: ReadonlyArray<number>) => {
  const sorted = [...waits].sort((a, b) => a - b)
  const mean = sorted.length === 0 ? 0 : sorted.reduce((a, b) => a + b, 0) / sorted.length
  return {
    mean: round(mean),
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    max: round(sorted.length === 0 ? 0 : sorted[sorted.length - 1])
  }
}

export const resourceSummary = (r: {
  boots: number
  failedBoots: number
  peakNodes: number
  nodeSeconds: number
  /** Seconds billed under the resource's billing model (cost = price × billed hours); nodeSeconds without one. */
  billedSeconds?: number
  coreSeconds: number
  usefulCoreSeconds: number
  price: number | null
}): ResourceSummary => ({
  boots: r.boots,
  failed_boots: r.failedBoots,
  peak_nodes: r.peakNodes,
  node_hours: round(r.nodeSeconds / 3600),
  core_hours: round(r.coreSeconds / 3600),
  useful_core_hours: round(r.usefulCoreSeconds / 3600),
  utilisation: r.coreSeconds > 0 ? round(r.usefulCoreSeconds / r.coreSeconds, 4) : null,
  cost: r.price === null ? null : round(((r.billedSeconds ?? r.nodeSeconds) / 3600) * r.price, 2)
})

export const totalOf = (rs: ReadonlyArray<ResourceSummary>, raw: { nodeSeconds: number; coreSeconds: number; usefulCoreSeconds: number }): ResourceSummary => {
  const priced = rs.filter((r) => r.cost !== null)
  return {
    boots: rs.reduce((a, r) => a + r.boots, 0),
    failed_boots: rs.reduce((a, r) => a + r.failed_boots, 0),
    peak_nodes: rs.reduce((a, r) => a + r.peak_nodes, 0),
    node_hours: round(raw.nodeSeconds / 3600),
    core_hours: round(raw.coreSeconds / 3600),
    useful_core_hours: round(raw.usefulCoreSeconds / 3600),
    utilisation: raw.coreSeconds > 0 ? round(raw.usefulCoreSeconds / raw.coreSeconds, 4) : null,
    cost: priced.length === 0 ? null : round(priced.reduce((a, r) => a + (r.cost ?? 0), 0), 2)
  }
}

/**
 * Recomputes the summary's job, wait and paid/useful figures from the event
 * log lines alone (the ground truth). Prices and cores come from the log too
 * (`boot` carries the resource; `physical`/`join` carry hosts).
 */
export const summaryFromEvents = (
  lines: ReadonlyArray<string>,
  coresOf: (resource: string) => number,
  priceOf: (resource: string) => number | null,
  billingOf: (resource: string) => Billing | null = () => null
) => {
  const submit = new Map<string, number>()
  const waits: Array<number> = []
  const instRes = new Map<string, string>()
  const instBorn = new Map<string, number>()
  const hostRes = new Map<string, string>() // cloud host → resource
  const jobStart = new Map<string, { t: number; hosts: ReadonlyArray<string>; perHost: ReadonlyArray<number> }>()
  const perRes = new Map<string, { boots: number; failed: number; live: number; peak: number; nodeS: number; billedS: number; useful: number }>()
  const res = (r: string) => {
    let x = perRes.get(r)
    if (x === undefined) perRes.set(r, (x = { boots: 0, failed: 0, live: 0, peak: 0, nodeS: 0, billedS: 0, useful: 0 }))
    return x
  }
  const jobs = { submitted: 0, started: 0, finished: 0, killed: 0 }
  const spot = { resubmitted: 0, interrupted: 0 }
  let end = 0
  const endJob = (id: string, t: number) => {
    const s = jobStart.get(id)
    if (s === undefined) return
    jobStart.delete(id)
    s.hosts.forEach((h, i) => {
      const r = hostRes.get(h)
      if (r !== undefined) res(r).useful += s.perHost[i] * (t - s.t)
    })
  }
  for (const line of lines) {
    const e = JSON.parse(line)
    end = e.t
    switch (e.ev) {
      case "submit":
        jobs.submitted++
        submit.set(e.job, e.t)
        break
      case "start":
        jobs.started++
        waits.push(e.t - submit.get(e.job)!)
        jobStart.set(e.job, { t: e.t, hosts: e.hosts, perHost: e.per_host })
        break
      case "finish":
        jobs.finished++
        endJob(e.job, e.t)
        break
      case "killed":
        if (jobStart.has(e.job)) {
          jobs.killed++
          endJob(e.job, e.t)
        }
        break
      case "boot": {
        const r = res(e.resource)
        r.boots++
        r.live++
        r.peak = Math.max(r.peak, r.live)
        instRes.set(e.instance, e.resource)
        instBorn.set(e.instance, e.t)
        break
      }
      case "boot_failed":
        res(e.resource).failed++
        break
      case "resubmit":
        spot.resubmitted++
        break
      case "interrupted":
        spot.interrupted++
        break
      case "join":
        hostRes.set(e.host, instRes.get(e.instance)!)
        break
      case "gone": {
        const name = instRes.get(e.instance)!
        const r = res(name)
        r.live--
        r.nodeS += e.t - instBorn.get(e.instance)!
        r.billedS += billedSeconds(e.t - instBorn.get(e.instance)!, billingOf(name))
        instBorn.delete(e.instance)
        break
      }
    }
  }
  for (const [inst, born] of instBorn) {
    const name = instRes.get(inst)!
    res(name).nodeS += end - born
    res(name).billedS += billedSeconds(end - born, billingOf(name))
  }
  for (const id of [...jobStart.keys()]) endJob(id, end)
  return { jobs, spot, wait: waitStats(waits), perRes, coresOf, priceOf }
}
