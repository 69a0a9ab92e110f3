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
export const eligibleJobs = (jobs: ReadonlyArray<Job>): ReadonlyArray<Job> => eligibleQueue(jobs).jobs

/**
 * A shape of queued job: its kind (account, queue, property: what `mayUse`
 * and a reservation look at), its cores and cores per node. Whatever a
 * decision or the queue's explanations work out for a job that depends only
 * on these is the same for every job of the shape.
 */
export interface QueueShape {
  /** The first job of this shape in the queue's input order (it stands for them all). */
  readonly job: Job
  /** Kind number: shapes of the same kind have the same one (0, 1, 2, ... in order of first appearance). */
  readonly kind: number
  /** `requested_cores` of its jobs. */
  readonly cores: number
  /** `cores_per_node` of its jobs. */
  readonly cpn: number
}

/**
 * §4.1's eligible queue of one view, and each job's shape as a small number:
 * at 100,000 queued jobs, reading each job object again (in priority order,
 * i.e. all over memory) costs more than the work done with it, so the passes
 * over the queue look at the shape numbers and touch a job only when the
 * answer for its shape is not known yet or its id is needed.
 */
export interface EligibleQueue {
  /** eligibleJobs(queue): queued, with a priority, highest first, ties in input order. */
  readonly jobs: ReadonlyArray<Job>
  /** `shapeOf[k]`: the shape of `jobs[k]` (an index into `shapes`). */
  readonly shapeOf: Int32Array
  /** `inputShape[i]`: the shape of the input queue's i-th job; -1 when it is not eligible. */
  readonly inputShape: Int32Array
  readonly shapes: ReadonlyArray<QueueShape>
  /** How many kinds (`QueueShape.kind` < kinds). */
  readonly kinds: number
}

/** The eligible queue of `jobs` (eligibleJobs) with each job's shape: one read of each job, in input order. */
export const eligibleQueue = (jobs: ReadonlyArray<Job>): EligibleQueue => {
  const n = jobs.length
  const inputShape = new Int32Array(n)
  const prio = new Float64Array(n)
  const shapes: Array<QueueShape> = []
  let kinds = 0
  // per kind: cores × 1024 + cores per node → shape when both are whole and small, else cores → cores per node → shape
  type Kind = { readonly kind: number; readonly small: Map<number, number>; readonly byCores: Map<number, Map<number, number>> }
  const kindOf = new ByJobKind((): Kind => ({ kind: kinds++, small: new Map(), byCores: new Map() }))
  let lastKind: Kind | null = null
  let lastCores = 0
  let lastCpn = 0
  let lastShape = -1
  let eligible = 0
  let finite = true
  let integral = true
  let sorted = true
  let prev = Infinity
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < n; i++) {
    const j = jobs[i]
    if (j.state !== JobState.Queued || j.priority === null) {
      inputShape[i] = -1
      continue
    }
    const p = j.priority
    eligible++
    if (!Number.isFinite(p)) finite = false
    else if (!Number.isInteger(p)) integral = false
    if (p > prev) sorted = false
    prev = p
    if (p < lo) lo = p
    if (p > hi) hi = p
    prio[i] = p
    const k = kindOf.get(j)
    const cores = j.requested_cores
    const cpn = j.cores_per_node
    // (queues hold runs of alike jobs: the last shape first)
    if (k !== lastKind || cores !== lastCores || cpn !== lastCpn) {
      // (one look-up for the usual sizes, whole and small: cores and cores per node in one number)
      const small = cores >= 0 && cores < 1 << 20 && cpn >= 0 && cpn < 1024 && Number.isInteger(cores) && Number.isInteger(cpn)
      let byCpn = small ? k.small : k.byCores.get(cores)
      if (byCpn === undefined) k.byCores.set(cores, (byCpn = new Map()))
      const key = small ? cores * 1024 + cpn : cpn
      let s = byCpn.get(key)
      if (s === undefined) {
        s = shapes.length
        shapes.push({ job: j, kind: k.kind, cores, cpn })
        byCpn.set(key, s)
      }
      lastKind = k
      lastCores = cores
      lastCpn = cpn
      lastShape = s
    }
    inputShape[i] = lastShape
  }
  const done = (out: ReadonlyArray<Job>, shapeOf: Int32Array): EligibleQueue => ({ jobs: out, shapeOf, inputShape, shapes, kinds })
  // (every job eligible and already highest first: the sort would change nothing)
  if (finite && sorted && eligible === n) return done(jobs, inputShape)
  // The input positions in eligible order, then the jobs in that order.
  const order = new Int32Array(eligible)
  if (finite && integral && hi - lo <= Math.max(4096, 4 * n)) {
    // A counting sort by priority over the numbers read above (each priority's
    // jobs in input order, priorities highest first): the order of a stable
    // sort, without a comparison sort over 100,000 jobs nor reading them again.
    const slots = new Int32Array(eligible === 0 ? 0 : hi - lo + 1)
    for (let i = 0; i < n; i++) if (inputShape[i] >= 0) slots[(prio[i] - lo) | 0]++
    let at = 0
    for (let v = slots.length - 1; v >= 0; v--) {
      const c = slots[v]
      slots[v] = at
      at += c
    }
    for (let i = 0; i < n; i++) if (inputShape[i] >= 0) order[slots[(prio[i] - lo) | 0]++] = i
  } else {
    // Fractional, far apart or non-finite priorities (where `b - a` is NaN): a
    // comparison sort, stable (ES2019), so ties keep input order.
    const byPriority: Array<number> = []
    for (let i = 0; i < n; i++) if (inputShape[i] >= 0) byPriority.push(i)
    byPriority.sort((a, b) => (jobs[b].priority as number) - (jobs[a].priority as number))
    order.set(byPriority)
  }
  const out = new Array<Job>(eligible)
  const shapeOf = new Int32Array(eligible)
  for (let k = 0; k < eligible; k++) {
    out[k] = jobs[order[k]]
    shapeOf[k] = inputShape[order[k]]
  }
  return done(out, shapeOf)
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
  resources: ReadonlyArray<AllocResource>,
  /** eligibleQueue(jobs), when the caller has it (the engine makes it once per view). */
  queue: EligibleQueue = eligibleQueue(jobs)
): ReadonlyArray<Proposal> => {
  const proposals = new Map<AllocResource, Array<ProposedNode>>(resources.map((r) => [r, []]))
  // Per 100,000 jobs, the candidate order and the cores already promised were
  // recomputed per job; both are cached here (same result: the candidates
  // depend only on the job's account, queue and property, and a resource whose
  // promised cores leave too little room is exactly one tryFit rejects).
  type Candidate = { readonly r: AllocResource; readonly i: number; readonly proposal: Array<ProposedNode> }
  const index = new Map(resources.map((r, i) => [r, i]))
  const candidates: Array<ReadonlyArray<Candidate>> = []
  // Cores a resource can still promise: (max − current) × cores per node − cores promised so far.
  const room = resources.map((r) => (r.max - r.current) * r.coresPerNode)
  // A shape that did not fit a resource never fits it later in this pass
  // (proposals only grow: fewer cores left, more full nodes): by shape × resource.
  const nr = resources.length
  const failed = new Uint8Array(queue.shapes.length * nr)
  const { jobs: eligible, shapeOf, shapes } = queue
  for (let k = 0; k < eligible.length; k++) {
    const sid = shapeOf[k]
    const shape = shapes[sid]
    // (the job itself is read only when some resource may take it)
    let cs = candidates[shape.kind]
    if (cs === undefined) cs = candidates[shape.kind] = orderCandidates(shape.job, resources).map((r) => ({ r, i: index.get(r)!, proposal: proposals.get(r)! }))
    for (const c of cs) {
      if (room[c.i] < shape.cores || failed[sid * nr + c.i] === 1) continue
      if (tryFit(eligible[k], c.r, c.proposal)) {
        room[c.i] = (c.r.max - c.r.current) * c.r.coresPerNode - c.proposal.reduce((sum, n) => sum + n.cores, 0)
        break
      }
      failed[sid * nr + c.i] = 1
    }
  }
  return resources.flatMap((r) => {
    const nodes = proposals.get(r)!
    return nodes.length > 0 ? [{ resource: r.name, nodes }] : []
  })
}
