/**
 * Free and soon-free capacity, as the demand policy sees it: which cores
 * queued jobs can get without a new boot, and when.
 *
 * Counted (each can be switched off, for the ablation in docs/policies.md):
 * - `idle`: every core of an Idle node;
 * - `busy`: the cores of a Busy node not held by its running jobs, when we
 *   know every job on it (see memory.ts; otherwise the node counts as full);
 * - `starting`: every core of a node Starting and of each boot in flight,
 *   at its expected join time;
 * - `soonFree`: cores a running job with a known walltime frees by
 *   start + walltime;
 * - `expect` (one entry, kind `expected`, for jobs without a node property):
 *   the cores running jobs are expected to free before a new node could join.
 * Nodes of a Draining resource are about to be held and are not counted; a
 * Frozen resource's nodes are (they stay). Physical nodes take any job that
 * asks for no node property (their properties are not in the view).
 */
import { ByJobKind, mayUse, type AllocResource } from "../../model/allocator.ts"
import { NodeState, ResourceFlag, isPhysical, type Job, type WorkerNode } from "../../model/types.ts"
import type { PolicyMemory } from "./memory.ts"

export interface CountOptions {
  readonly idle: boolean
  readonly busy: boolean
  readonly starting: boolean
  readonly soonFree: boolean
  /**
   * Also count a running job's cores as freed when it ends with this
   * probability judged by the runtimes observed so far (memory.ts
   * expectedEnd), not only by its walltime; null: walltimes only.
   */
  readonly runtimeQ?: number | null
  /**
   * Also count, as one pool any job without a node property may draw on,
   * the cores running jobs are expected to free before `expectBy`: each
   * job's cores times the chance it ends by then (memory.ts endChance),
   * times this weight, for jobs whose walltime does not already free them
   * by then; null: off.
   */
  readonly expect?: number | null
}

export interface Capacity {
  readonly host: string
  /** null for a physical node. */
  readonly resource: AllocResource | null
  readonly kind: "idle" | "busy" | "starting" | "inflight" | "expected"
  /** When the node can take jobs: now, or the expected join of a node still booting. */
  readonly readyAt: number
  /** Free cores once ready. */
  readonly free: number
  /** Cores freed later by running jobs: [time, cores], in time order. */
  readonly releases: ReadonlyArray<readonly [number, number]>
  /** Cores promised to queued jobs in the decision being made. */
  used: number
  /**
   * The queues (Slurm partitions, Grid Engine queues) the node says it
   * serves, from the batch system's view; null when it does not say (any
   * queue). Jobs of other queues cannot run there.
   */
  readonly queues?: ReadonlySet<string> | null
}

/**
 * The queues a node serves, when the batch system's view says: Slurm
 * `partitions`, Grid Engine `serves_queues` (empty: none, e.g. a Slurm node
 * in no partition, a host whose queue instances all have 0 slots); null when
 * the view does not say.
 */
export const queuesOf = (n: WorkerNode): ReadonlySet<string> | null => {
  const ea = n.extra_attributes
  if (ea === null) return null
  const list = (v: string) => new Set(v.split(",").map((q) => q.trim()).filter((q) => q.length > 0))
  // (an empty list: the node serves no queue, so it counts for nothing and the
  // policy errs towards booting, never towards starving a queue)
  const named = typeof ea.partitions === "string" ? ea.partitions : ea.serves_queues
  return typeof named === "string" ? list(named) : null
}

/**
 * How long a placement holds (Policy.quietAt): the earliest time after
 * `now` at which a comparison with the clock that it made could come out
 * differently, on the same view and memory. Each time the placement
 * compares with the clock it names the time the comparison flips (`at`);
 * what it cannot bound says `never`.
 */
export class QuietBound {
  until = Infinity
  constructor(readonly now: number) {}
  /** Something the decision read changes at `t` (ignored when already past: it does not change again). */
  at(t: number): void {
    if (t >= this.now && t < this.until) this.until = t
  }
  /** The decision depends on the clock in a way not bounded here: not quiet after `now`. */
  never(): void {
    this.until = this.now
  }
}

/** Cores of `c` a job can have by `deadline` (Starting and in-flight nodes count whenever they come). */
export const availableBy = (c: Capacity, deadline: number): number => {
  if (c.kind !== "starting" && c.kind !== "inflight" && c.readyAt > deadline) return 0
  let a = c.free
  for (const [t, cores] of c.releases) if (t <= deadline) a += cores
  return Math.max(0, a - c.used)
}

export const accepts = (c: Capacity, job: Job): boolean =>
  (c.resource === null ? job.property === null : mayUse(job, c.resource)) &&
  (c.queues == null || (job.queue === null ? c.queues.size > 0 : c.queues.has(job.queue)))

const draining = (r: AllocResource | undefined) => r !== undefined && (r.flag === ResourceFlag.Draining || r.flag === ResourceFlag.Drained)

/**
 * The capacity list, in the order jobs are placed on it: nodes in the
 * cluster first, then nodes still booting by expected join time.
 */
export const buildCapacity = (
  now: number,
  nodes: ReadonlyArray<WorkerNode>,
  inflight: ReadonlyMap<string, number>,
  mem: PolicyMemory,
  bootTime: (resource: string) => number,
  count: CountOptions,
  /** The deadline of `count.expect` (the earliest a new node could join). */
  expectBy?: number,
  /** Collects when the list could change on the same view (only `now` later), but for the `expected` pool (expectedQuiet). */
  quiet?: QuietBound
): Array<Capacity> => {
  // (expected ends by runtimes move with the job's age at every runtime observed: not bounded)
  if (count.runtimeQ != null) quiet?.never()
  const out: Array<Capacity> = []
  // The expected ends of running jobs are one pool that knows no node: it serves
  // only the queues every node that names its queues serves (all, when none does).
  let common: Set<string> | null = null
  for (const n of nodes) {
    const phys = isPhysical(n)
    const queues = queuesOf(n)
    if (queues !== null) {
      if (common === null) common = new Set(queues)
      else for (const q of [...common]) if (!queues.has(q)) common.delete(q)
    }
    const res = phys ? null : mem.resources.get(n.instance!.cloud_resource)
    // A cloud node whose resource we never saw cannot be matched to reservations.
    if (res === undefined || draining(res ?? undefined)) continue
    const cores = n.num_proc > 0 ? n.num_proc : (res?.coresPerNode ?? 0)
    if (cores <= 0) continue
    switch (n.state) {
      case NodeState.Idle:
        if (count.idle) out.push({ host: n.hostname, resource: res, kind: "idle", readyAt: now, free: cores, releases: [], used: 0, queues })
        break
      case NodeState.Busy: {
        if (!count.busy && !count.soonFree) break
        let held = 0
        let unknown = false
        let unknownEnd: number | null = count.runtimeQ != null ? now : null
        const releases: Array<readonly [number, number]> = []
        // (the memory's keys of the node's job list, memoised: the same lists come back at every view)
        for (const k of mem.jobKeys(n.jobs)) {
          const c = mem.coresOn(k, cores)
          if (c === null) {
            unknown = true
            // Its cores are not known, but its end may be: the rest of the node frees when the last such job ends.
            const e = count.runtimeQ != null ? mem.expectedEnd(k, now, count.runtimeQ) : null
            unknownEnd = e === null || unknownEnd === null ? null : Math.max(unknownEnd, e)
            continue
          }
          held += c
          const wall = count.soonFree ? mem.releaseAt(k, now) : null
          // (a release counts until just after start + walltime: releaseAt is null past it)
          if (wall !== null) quiet?.at(wall)
          const est = count.runtimeQ != null ? mem.expectedEnd(k, now, count.runtimeQ) : null
          const at = wall === null ? est : est === null ? wall : Math.min(wall, est)
          if (at !== null && at >= now) releases.push([at, c])
        }
        const free = count.busy && !unknown ? Math.max(0, cores - held) : 0
        if (unknown && count.busy && unknownEnd !== null && cores - held > 0) releases.push([unknownEnd, cores - held])
        releases.sort((a, b) => a[0] - b[0])
        if (free > 0 || releases.length > 0) out.push({ host: n.hostname, resource: res, kind: "busy", readyAt: now, free, releases, used: 0, queues })
        break
      }
      case NodeState.Starting: {
        if (!count.starting || res === null) break
        const joins = n.instance!.creation_time + bootTime(res.name)
        // (its place among the nodes still booting: by readyAt, which stops moving at `joins`)
        quiet?.at(joins)
        const readyAt = Math.max(now, joins)
        out.push({ host: n.hostname, resource: res, kind: "starting", readyAt, free: cores, releases: [], used: 0, queues })
        break
      }
      default:
        break
    }
  }
  if (count.expect != null && expectBy !== undefined) {
    const free = Math.floor(expectedCores(mem, now, expectBy, count.soonFree) * count.expect)
    if (free > 0) out.push({ host: "#expected", resource: null, kind: "expected", readyAt: now, free: 0, releases: [[now, free]], used: 0, queues: common })
  }
  if (count.starting) {
    for (const [name, k] of inflight) {
      const res = mem.resources.get(name)
      if (res === undefined || draining(res) || res.coresPerNode <= 0) continue
      // (boots in flight join at now + boot time: they pass nodes Starting whose join is that far ahead)
      if (quiet !== undefined && k > 0) for (const c of out) if (c.kind === "starting") quiet.at(c.readyAt - bootTime(name))
      for (let i = 0; i < k; i++)
        out.push({ host: `${name}#inflight${i}`, resource: res, kind: "inflight", readyAt: now + bootTime(name), free: res.coresPerNode, releases: [], used: 0 })
    }
  }
  const rank = { idle: 0, busy: 0, expected: 0, starting: 1, inflight: 1 } as const
  return out.sort((a, b) => rank[a.kind] - rank[b.kind] || a.readyAt - b.readyAt)
}

/** `count.expect`'s cores before the weight: each known running job's cores times the chance it ends by `expectBy`, unless its walltime frees them by then. */
const expectedCores = (mem: PolicyMemory, now: number, expectBy: number, soonFree: boolean): number => {
  let cores = 0
  for (const [k, r] of mem.running) {
    if (!r.known || r.cores <= 0) continue
    const wall = soonFree ? mem.releaseAt(k, now) : null
    if (wall !== null && wall <= expectBy) continue
    const p = mem.endChance(k, now, expectBy)
    if (p !== null) cores += r.cores * p
  }
  return cores
}

/**
 * The bound of `count.expect`'s pool (buildCapacity with `expectBy`, whose
 * cores were `free`): when `floor(expectedCores(t, t + offset) × weight)`
 * first differs from `free` for t after `now` (the same running jobs and
 * runtimes). A caller that needs the bound asks (it steps through the
 * running jobs: not worth it for a decision that boots). It moves
 * only when a job's age or deadline passes a runtime observed, when its
 * walltime starts to free its cores by the deadline (end − offset), and
 * just after its walltime (end). Looked at up to `expectedLookahead` seconds
 * and `expectedSteps` changes ahead; beyond that the bound is where it stopped.
 */
export const expectedQuiet = (mem: PolicyMemory, now: number, offset: number, soonFree: boolean, weight: number, free: number, quiet: QuietBound): void => {
  let t = now
  for (let step = 0; step < expectedSteps; step++) {
    let next = Infinity
    for (const [k, r] of mem.running) {
      if (!r.known || r.cores <= 0) continue
      if (soonFree && r.walltime !== null) {
        const end = r.start + r.walltime
        // (past its walltime releaseAt is null: the job counts again just after `end`)
        if (end >= t) quiet.at(end)
        if (end - offset > t) next = Math.min(next, end - offset)
      }
      next = Math.min(next, mem.endChanceChangesAfter(k, t, offset))
    }
    if (next >= quiet.until || next === Infinity) return
    if (next > now + expectedLookahead) return quiet.at(next)
    t = next
    const x = expectedCores(mem, t, t + offset, soonFree) * weight
    if (Math.floor(x) !== free) return quiet.at(t)
  }
  quiet.at(t)
}
const expectedSteps = 64
const expectedLookahead = 3600

export interface Placement {
  readonly takes: ReadonlyArray<readonly [Capacity, number]>
  /** Cores still needed after the existing capacity. */
  readonly remaining: number
}

/**
 * Place a job on existing capacity by `deadline` the way the batch
 * scheduler would: a spread job takes cores anywhere; otherwise one chunk of
 * `cores_per_node` (the last one smaller) per distinct node. Nothing is
 * consumed until `commit`.
 */
export const placeOnExisting = (job: Job, caps: ReadonlyArray<Capacity>, deadline: number): Placement => new CapacityIndex(caps).place(job, deadline)

export const commit = (p: Placement): void => {
  for (const [c, n] of p.takes) c.used += n
}


/**
 * `placeOnExisting` over the capacity list of one decision, without scanning
 * every entry for every job (100,000 queued jobs × 5,000 nodes): the entries
 * a job may use depend only on its account, queue and property, so each such
 * kind of job gets its list once (in the capacity order, for each subset of
 * the capacity a caller names and each deadline); an entry that has nothing
 * left by that deadline (`availableBy` 0: cores are only ever promised, never
 * given back, within a decision) leaves the list, and a job that needs more
 * cores on one node than any entry had at the last full scan does not scan.
 * Same placements as `placeOnExisting(job, subset, deadline)`.
 */
export class CapacityIndex {
  /** subset → deadline → the entries each kind of job accepts. */
  private readonly lists = new Map<string, Map<number, ByJobKind<CapacityList>>>()
  constructor(
    private readonly caps: ReadonlyArray<Capacity>,
    /** Named subsets of `caps` (e.g. only nodes still coming, for stale jobs). */
    private readonly subsets: Readonly<Record<string, (c: Capacity) => boolean>> = {}
  ) {}

  private listFor(job: Job, subset: string, deadline: number): CapacityList {
    let byDeadline = this.lists.get(subset)
    if (byDeadline === undefined) this.lists.set(subset, (byDeadline = new Map()))
    let lists = byDeadline.get(deadline)
    if (lists === undefined) {
      const inSubset = this.subsets[subset]
      lists = new ByJobKind((j) => ({
        entries: this.caps.filter((c) => (inSubset === undefined || inSubset(c)) && accepts(c, j) && availableBy(c, deadline) > 0),
        most: Infinity
      }))
      byDeadline.set(deadline, lists)
    }
    return lists.get(job)
  }

  /** `placeOnExisting(job, caps filtered by subset, deadline)`; "" is every entry. */
  place(job: Job, deadline: number, subset = ""): Placement {
    const list = this.listFor(job, subset, deadline)
    const entries = list.entries
    const takes: Array<readonly [Capacity, number]> = []
    let left = job.requested_cores
    // (a job that asks for more per node than any entry has takes nothing: every chunk needs min(cores_per_node, left))
    if (job.cores_per_node > 0 && Math.min(job.cores_per_node, left) > list.most) return { takes, remaining: Math.max(0, left) }
    let spent = 0
    let most = 0
    let i = 0
    for (; i < entries.length; i++) {
      if (left <= 0) break
      const c = entries[i]
      const a = availableBy(c, deadline)
      if (a > most) most = a
      if (a <= 0) {
        spent++
        continue
      }
      if (job.cores_per_node <= 0) {
        const take = Math.min(a, left)
        takes.push([c, take])
        left -= take
      } else {
        const want = Math.min(job.cores_per_node, left)
        if (a < want) continue
        takes.push([c, want])
        left -= want
      }
    }
    if (i === entries.length) list.most = most
    if (spent > 8 && spent * 16 > entries.length) {
      let k = 0
      for (const c of entries) if (availableBy(c, deadline) > 0) entries[k++] = c
      entries.length = k
    }
    return { takes, remaining: Math.max(0, left) }
  }
}

interface CapacityList {
  /** In capacity order; each had cores by the deadline when last looked at. */
  readonly entries: Array<Capacity>
  /** At most this many cores are available on any one entry (Infinity: not scanned yet). */
  most: number
}
