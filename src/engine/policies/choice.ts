/**
 * Which resource new nodes for a job come from. Classic takes the first
 * resource by (priority, node count); the demand policy tries the job on
 * every candidate (the classic building blocks: mayUse, reservationMatches,
 * tryFit) and keeps the placement that costs least:
 *
 * 1. resources reserved for something the job has (classic rule 3) first;
 * 2. fewest new paid units: new nodes × price per node-hour when every
 *    candidate has a price, else new nodes × cores per node (paid core-hours);
 *    a job that fits in room already promised on proposed nodes costs 0;
 * 3. least waste: fewest idle cores left on the proposal after packing;
 * 4. then classic's order: priority, then fewer nodes.
 */
import { canFit, mayUse, reservationMatches, tryFit, type AllocResource, type ProposedNode } from "../../model/allocator.ts"
import { ResourceFlag, type Job } from "../../model/types.ts"

export interface ChoiceOptions {
  /** false: classic order (reservation match, priority, node count), first fit. */
  readonly leastWaste: boolean
  /** Use prices (when every candidate has one) as the cost of a node. */
  readonly price: boolean
  /** Experimental: prefer the resource whose nodes join soonest (observed boot time). */
  readonly fastest?: boolean
  /** Experimental: least waste first, then the resource whose nodes join soonest, then price. */
  readonly fitFast?: boolean
}

const clone = (p: ReadonlyArray<ProposedNode>): Array<ProposedNode> => p.map((n) => ({ cores: n.cores, jobs: [...n.jobs] }))
const waste = (p: ReadonlyArray<ProposedNode>, perNode: number) => p.reduce((s, n) => s + Math.max(0, perNode - n.cores), 0)

export interface Choice {
  readonly resource: AllocResource
  readonly proposal: Array<ProposedNode>
  readonly added: number
}

/**
 * The best resource to start new nodes in for `job` (already reduced to the
 * cores existing capacity cannot give), or null when none has room. The
 * proposals are not changed; the caller stores `proposal` on success.
 */
export const chooseResource = (
  job: Job,
  resources: ReadonlyArray<AllocResource>,
  proposals: ReadonlyMap<string, ReadonlyArray<ProposedNode>>,
  prices: ReadonlyMap<string, number> | undefined,
  opts: ChoiceOptions,
  bootTime: (resource: string) => number = () => 0
): Choice | null => {
  // Frozen: no automatic growth; Draining/Drained: going away (SPEC §5).
  const cands = resources.filter((r) => r.flag === ResourceFlag.Normal && mayUse(job, r))
  const priced = opts.price && prices !== undefined && cands.length > 0 && cands.every((r) => prices.has(r.name))
  let best: { c: Choice; key: ReadonlyArray<number> } | null = null
  for (const r of cands) {
    const before = proposals.get(r.name) ?? []
    // (a copy only where the job fits: once a resource is full, every later job is tried on it)
    if (!canFit(job, r, before)) continue
    const p = clone(before)
    if (!tryFit(job, r, p)) continue
    const added = p.length - before.length
    const key = opts.fitFast
      ? [
          reservationMatches(job, r) ? 0 : 1,
          waste(p, r.coresPerNode) - waste(before, r.coresPerNode),
          Math.round(bootTime(r.name) / 30),
          added * (priced ? prices!.get(r.name)! : r.coresPerNode),
          r.priority,
          r.current
        ]
      : opts.leastWaste
      ? [
          reservationMatches(job, r) ? 0 : 1,
          opts.fastest ? Math.round(bootTime(r.name) / 30) : 0,
          added * (priced ? prices!.get(r.name)! : r.coresPerNode),
          waste(p, r.coresPerNode) - waste(before, r.coresPerNode),
          r.priority,
          r.current
        ]
      : [reservationMatches(job, r) ? 0 : 1, r.priority, r.current]
    if (best === null || less(key, best.key)) best = { c: { resource: r, proposal: p, added }, key }
  }
  return best?.c ?? null
}

const less = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): boolean => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i]
  return false
}
