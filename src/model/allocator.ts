/**
 * The classic allocator of SPEC §4: queued jobs in, "start N nodes in
 * resource R" out. Pure.
 *
 * This reproduces the first version's policy on purpose, including what it
 * does not look at (the resource flag, Idle nodes' free cores, nodes already
 * Starting): users rely on it, and the improved policy is to be a separate,
 * selectable one. Two places where the first version's code disagreed with
 * its own rule follow the rule instead: node counts really are
 * ceil(requested / per node) (Python 2 floored them), and a spread job takes
 * only the cores it needs from a partly promised node (the old loop marked
 * every partly promised node full, promising cores no job asked for).
 */
import { JobState } from "./types.ts"
import type { Job, Reservation, ResourceFlag } from "./types.ts"

export interface AllocResource {
  readonly name: string
  readonly priority: number
  /** Effective limits (after freeze / drain). */
  readonly min: number
  readonly max: number
  /** Nodes the resource has now, in any state (Starting and Deleting included). */
  readonly current: number
  readonly coresPerNode: number
  readonly reservation: Reservation
  readonly flag: ResourceFlag
}

export interface ProposedNode {
  /** Cores already promised on this new node. */
  cores: number
  /** Ids of the jobs that were promised cores on this node. */
  readonly jobs: Array<string>
}

export interface Proposal {
  readonly resource: string
  readonly nodes: ReadonlyArray<ProposedNode>
}

/** §4.1: queued, with a priority from the scheduler; highest priority first, ties in input order. */
export const eligibleJobs = (jobs: ReadonlyArray<Job>): ReadonlyArray<Job> => {
  // A counting sort by priority (each priority's jobs in input order,
  // priorities highest first): the order of a stable sort, without a
  // comparison sort over 100,000 jobs (a third of an engine cycle at that
  // size, bench/engine-cycle) and with one new array (allocation is most of
  // the cost at that size). Queues have few distinct priorities; non-finite
  // ones (where `b - a` is NaN) take the sort.
  const counts = new Map<number, number>()
  let eligible = 0
  let finite = true
  let sorted = true
  let prev = Infinity
  for (const j of jobs) {
    if (j.state !== JobState.Queued || j.priority === null) continue
    const p = j.priority
    eligible++
    if (!Number.isFinite(p)) finite = false
    if (p > prev) sorted = false
    prev = p
    counts.set(p, (counts.get(p) ?? 0) + 1)
  }
  if (!finite || counts.size > jobs.length / 4) {
    return jobs
      .filter((j) => j.state === JobState.Queued && j.priority !== null)
      // Array.prototype.sort is stable (ES2019), so ties keep input order.
      .sort((a, b) => (b.priority as number) - (a.priority as number))
  }
  // (every job eligible and already highest first: the sort would change nothing)
  if (sorted && eligible === jobs.length) return jobs
  // counts becomes each priority's next slot in the output
  let at = 0
  for (const p of [...counts.keys()].sort((a, b) => b - a)) {
    const n = counts.get(p)!
    counts.set(p, at)
    at += n
  }
  const out = new Array<Job>(eligible)
  for (const j of jobs) {
    if (j.state !== JobState.Queued || j.priority === null) continue
    const slot = counts.get(j.priority)!
    out[slot] = j
    counts.set(j.priority, slot + 1)
  }
  return out
}

/** §4.2: whether the resource's reservation allows the job at all. */
export const mayUse = (job: Job, r: Pick<AllocResource, "reservation">): boolean => {
  const res = r.reservation
  if (res.account !== null && job.account !== res.account) return false
  if (res.queue !== null && job.queue !== res.queue) return false
  if (job.property !== null && job.property !== res.property) return false
  return true
}

/**
 * A value per kind of job (account, queue, property: what `mayUse` and a
 * reservation look at), made once by `make` and kept: over 100,000 queued
 * jobs, per-job work that depends only on the kind is done a few times.
 * Queues often hold runs of alike jobs: the last kind is checked first.
 */
export class ByJobKind<T> {
  private readonly byAccount = new Map<string | null, Map<string | null, Map<string | null, T>>>()
  /** Jobs with neither account nor property (the common kind), by queue: one look-up instead of three. */
  private readonly byQueue = new Map<string | null, T>()
  // The last kind asked for, in fields (no object per call: a queue that
  // interleaves queues misses here for most of its 100,000 jobs).
  private hasLast = false
  private lastAccount: string | null = null
  private lastQueue: string | null = null
  private lastProperty: string | null = null
  private lastValue: T | undefined = undefined
  constructor(private readonly make: (job: Job) => T) {}
  get(job: Job): T {
    if (this.hasLast && this.lastAccount === job.account && this.lastQueue === job.queue && this.lastProperty === job.property) return this.lastValue as T
    let value: T
    if (job.account === null && job.property === null) {
      const v = this.byQueue.get(job.queue)
      if (v !== undefined || this.byQueue.has(job.queue)) value = v as T
      else this.byQueue.set(job.queue, (value = this.make(job)))
    } else {
      let byQueue = this.byAccount.get(job.account)
      if (byQueue === undefined) this.byAccount.set(job.account, (byQueue = new Map()))
      let byProperty = byQueue.get(job.queue)
      if (byProperty === undefined) byQueue.set(job.queue, (byProperty = new Map()))
      if (byProperty.has(job.property)) value = byProperty.get(job.property)!
      else byProperty.set(job.property, (value = this.make(job)))
    }
    this.hasLast = true
    this.lastAccount = job.account
    this.lastQueue = job.queue
    this.lastProperty = job.property
    this.lastValue = value
    return value
  }
}

/** §4.3: the resource is reserved for something this job has. */
export const reservationMatches = (job: Job, r: AllocResource): boolean => {
  const res = r.reservation
  return (
    (res.account !== null && res.account === job.account) ||
    (res.property !== null && res.property === job.property) ||
    (res.queue !== null && res.queue === job.queue)
  )
}

/** §4.2–4.3: the resources the job may use, in the order they are tried. */
export const orderCandidates = (job: Job, resources: ReadonlyArray<AllocResource>): ReadonlyArray<AllocResource> => {
  const byPreference = resources
    .filter((r) => mayUse(job, r))
    .sort((a, b) => a.priority - b.priority || a.current - b.current)
  return [
    ...byPreference.filter((r) => reservationMatches(job, r)),
    ...byPreference.filter((r) => !reservationMatches(job, r))
  ]
}

const isCount = (n: number): boolean => Number.isFinite(n) && n >= 0

/**
 * §4.4: whether `tryFit` would place the job on the resource's proposal
 * (nothing changed). Lets a caller that tries one job on several resources
 * copy only the proposals the job fits.
 */
export const canFit = (job: Job, r: AllocResource, proposal: ReadonlyArray<ProposedNode>): boolean => {
  const perNode = r.coresPerNode
  // A resource whose node size is not known yet cannot promise cores.
  if (!(Number.isFinite(perNode) && perNode > 0)) return false
  if (!isCount(job.requested_cores) || !isCount(job.cores_per_node)) return false
  if (job.cores_per_node > perNode) return false

  const newNodesAllowed = r.max - r.current
  let promised = 0
  for (const n of proposal) promised += n.cores
  const coresLeft = newNodesAllowed * perNode - promised
  if (coresLeft < job.requested_cores) return false
  if (job.cores_per_node === 0) return true

  const nodesNeeded = Math.ceil(job.requested_cores / job.cores_per_node)
  if (nodesNeeded > newNodesAllowed) return false
  // Slots for one more chunk: proposed nodes with room, plus nodes not yet proposed.
  let fullNodes = 0
  for (const n of proposal) if (perNode - n.cores < job.cores_per_node) fullNodes++
  return newNodesAllowed - fullNodes >= nodesNeeded
}

/**
 * §4.4: try to place the job on the resource's proposal. On success the
 * proposal is extended in place and true is returned; on failure the
 * proposal is left untouched.
 */
export const tryFit = (job: Job, r: AllocResource, proposal: Array<ProposedNode>): boolean => {
  if (!canFit(job, r, proposal)) return false
  const perNode = r.coresPerNode

  if (job.cores_per_node === 0) {
    // Spread anywhere: top up partly promised nodes, then add new ones.
    let wanted = job.requested_cores
    for (const node of proposal) {
      if (wanted <= 0) break
      const room = perNode - node.cores
      if (room <= 0) continue
      const take = Math.min(room, wanted)
      node.cores += take
      node.jobs.push(job.jobid)
      wanted -= take
    }
    while (wanted > 0) {
      const take = Math.min(perNode, wanted)
      proposal.push({ cores: take, jobs: [job.jobid] })
      wanted -= take
    }
    return true
  }

  const nodesNeeded = Math.ceil(job.requested_cores / job.cores_per_node)
  let remaining = nodesNeeded
  for (const node of proposal) {
    if (remaining === 0) break
    if (node.cores + job.cores_per_node <= perNode) {
      node.cores += job.cores_per_node
      node.jobs.push(job.jobid)
      remaining -= 1
    }
  }
  for (; remaining > 0; remaining -= 1) {
    proposal.push({ cores: job.cores_per_node, jobs: [job.jobid] })
  }
  return true
}

/**
 * SPEC §4. Returns one proposal per resource that should grow, in the order
 * the resources were given; `nodes.length` is how many nodes to start.
 */
export const classicAllocate = (
  jobs: ReadonlyArray<Job>,
  resources: ReadonlyArray<AllocResource>
): ReadonlyArray<Proposal> => {
  const proposals = new Map<AllocResource, Array<ProposedNode>>(resources.map((r) => [r, []]))
  // Per 100,000 jobs, the candidate order and the cores already promised were
  // recomputed per job; both are cached here (same result: the candidates
  // depend only on the job's account, queue and property, and a resource whose
  // promised cores leave too little room is exactly one tryFit rejects).
  type Candidate = { readonly r: AllocResource; readonly i: number; readonly proposal: Array<ProposedNode> }
  const index = new Map(resources.map((r, i) => [r, i]))
  const candidates = new ByJobKind((job): ReadonlyArray<Candidate> => orderCandidates(job, resources).map((r) => ({ r, i: index.get(r)!, proposal: proposals.get(r)! })))
  // Cores a resource can still promise: (max − current) × cores per node − cores promised so far.
  const room = resources.map((r) => (r.max - r.current) * r.coresPerNode)
  for (const job of eligibleJobs(jobs)) {
    for (const c of candidates.get(job)) {
      if (room[c.i] < job.requested_cores) continue
      if (tryFit(job, c.r, c.proposal)) {
        room[c.i] = (c.r.max - c.r.current) * c.r.coresPerNode - c.proposal.reduce((sum, n) => sum + n.cores, 0)
        break
      }
    }
  }
  return resources.flatMap((r) => {
    const nodes = proposals.get(r)!
    return nodes.length > 0 ? [{ resource: r.name, nodes }] : []
  })
}
