/**
 * What the demand policy remembers between two decisions. The engine hands a
 * policy only the current view (queued jobs, nodes with their job ids); the
 * cores and walltime of a *running* job are not in it, nor how long a boot
 * took. We learn them by watching: a job's size and walltime while it is
 * queued, its start when its id first shows up on a node, a resource's boot
 * time when a node we saw Starting turns up Idle or Busy.
 *
 * Everything here is an approximation of what the batch system knows, and
 * errs on the side of "no free capacity" (which makes the policy boot, like
 * classic) rather than on the side of "free" (which would make jobs wait):
 * - a job that started before we saw it queued (e.g. across a restart) has
 *   unknown cores: its node counts as full and never soon-free;
 * - a job's start is the first decision that sees it on a node (later than
 *   the real start by up to one auto_provision_interval), so start + walltime
 *   is a late estimate of when its cores are free again;
 * - a spread job (cores_per_node 0) may fill any node it runs on (its split
 *   is not in the view);
 * - a job past its walltime has no known end.
 */
import type { AllocResource } from "../../model/allocator.ts"
import { NodeState, isPhysical, jobList, type Job, type WorkerNode } from "../../model/types.ts"

/**
 * One id for a job however the batch system spells it: Torque lists
 * `13.head` in qstat and `0/13` (slot/short id) on nodes; both become `13`.
 */
/** Node job lists whose keys PolicyMemory keeps (its keyCache). */
const KEY_CACHE_SIZE = 65_536

export const jobKey = (id: string): string => {
  // (the common spelling, `13.head` or `13`, without a regular expression: this runs for every queued job at every decision)
  const slash = id.indexOf("/")
  const first = id.charCodeAt(0)
  const last = id.charCodeAt(id.length - 1)
  // (printable ASCII at both ends: nothing for trim() to remove)
  if (slash < 0 && first > 32 && first < 127 && last > 32 && last < 127) {
    const dot = id.indexOf(".")
    return dot > 0 ? id.slice(0, dot) : id
  }
  const s = id.trim().replace(/^\d+\//, "")
  const dot = s.indexOf(".")
  return dot > 0 ? s.slice(0, dot) : s
}

/** Walltime as the batch systems print it: seconds, `MM:SS`, `HH:MM:SS` or `D:HH:MM:SS`; null when absent or unreadable. */
export const parseWalltime = (w: string | null): number | null => {
  if (w === null) return null
  const parts = w.trim().split(":")
  if (parts.length === 0 || parts.length > 4 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p))) return null
  const mult = [1, 60, 3600, 86400]
  let s = 0
  parts.reverse().forEach((p, i) => (s += Number(p) * mult[i]))
  return s > 0 ? s : null
}

export interface JobShape {
  readonly cores: number
  /** 0 = spread anywhere. */
  readonly cpn: number
  readonly walltime: number | null
}

export interface RunningJob extends JobShape {
  /** First time (policy clock) the job was seen on a node. */
  readonly start: number
  /** Whether we knew its shape from the queue (false: started before we saw it). */
  readonly known: boolean
}

/** Exponentially weighted mean that starts from the first sample. */
class Ewma {
  private v: number | null = null
  constructor(private readonly alpha: number) {}
  add(x: number) {
    this.v = this.v === null ? x : this.v + this.alpha * (x - this.v)
  }
  get value(): number | null {
    return this.v
  }
}

const noKeys: ReadonlyArray<string> = []

/** A queued job of the last view: its shape, when it was first seen queued, and the observation that last saw it. */
interface QueuedEntry {
  cores: number
  cpn: number
  walltime: number | null
  /** requested_walltime as given (walltime is parsed from it). */
  wallText: string | null
  readonly since: number
  seen: number
}

export class PolicyMemory {
  /**
   * @param trackSince whether `queuedFor` is asked (a policy whose stale
   *   jobs are those queued longer than a positive time). Without it the
   *   memory keeps no entry per queued job: the shapes of the jobs that
   *   start are read from the last queue when they show up on a node (one
   *   pass, nothing kept), and `queuedAtLeast` answers only x <= 0 (always
   *   true: no job has waited less than 0 s).
   */
  constructor(private readonly trackSince = true) {}
  /**
   * Queued jobs of the last view, by key, kept across observations: a new
   * view updates the entries in place (a pass over its jobs, no new entry for
   * a job already queued) instead of building new maps of 100,000 jobs.
   */
  private queued = new Map<string, QueuedEntry>()
  /**
   * The first queue seen, not indexed yet: nothing needs its entries until a
   * job of it starts or another queue comes (then `index` builds them, with
   * this observation's time as their first-seen time).
   */
  private pending: { readonly jobs: ReadonlyArray<Job>; readonly now: number } | null = null
  /** Observations that changed the queue (QueuedEntry.seen). */
  private generation = 0
  /** Running jobs by key, with the observation that last saw each on a node (`seenIn`). */
  readonly running = new Map<string, RunningJob & { seenIn: number }>()
  /** Observations (RunningJob's `seenIn`): marks instead of a set of the view's job keys per observation. */
  private observations = 0
  /** Seconds a queued job has been seen queued (0 the first time). */
  queuedFor(jobid: string, now: number): number {
    if (!this.trackSince) throw new Error("PolicyMemory: queuedFor needs trackSince")
    this.index()
    return now - (this.queued.get(jobKey(jobid))?.since ?? now)
  }
  /** The queue of the last observation by key: builds the entries of a pending first queue. */
  private index(): Map<string, QueuedEntry> {
    const p = this.pending
    if (p !== null) {
      this.pending = null
      this.update(p.jobs, p.now)
    }
    return this.queued
  }
  /** The queued entries from `jobs` seen at `now`: entries of jobs still queued keep their first-seen time, the others go. */
  private update(jobs: ReadonlyArray<Job>, now: number): void {
    const g = ++this.generation
    const queued = this.queued
    let latest: number | null = null
    let kept = 0
    for (const j of jobs) {
      const k = jobKey(j.jobid)
      let e = queued.get(k)
      if (e === undefined) {
        e = { cores: j.requested_cores, cpn: j.cores_per_node, walltime: this.walltimeOf(j.requested_walltime), wallText: j.requested_walltime, since: now, seen: g }
        queued.set(k, e)
        kept++
      } else {
        // (the last job of a key in the view gives its shape, as a map rebuilt from the view would)
        if (e.seen !== g) {
          e.seen = g
          kept++
        }
        e.cores = j.requested_cores
        e.cpn = j.cores_per_node
        if (e.wallText !== j.requested_walltime) {
          e.wallText = j.requested_walltime
          e.walltime = this.walltimeOf(j.requested_walltime)
        }
      }
      if (latest === null || e.since > latest) latest = e.since
    }
    // (deleting the entry being visited is safe in a Map's for-of)
    if (queued.size > kept) for (const [k, e] of queued) if (e.seen !== g) queued.delete(k)
    this.latestSince = latest
  }
  /** The latest first-seen time of the queued jobs of the last view (null: none). */
  private latestSince: number | null = null
  /** queuedFor(jobid, now) >= x, answered without a look-up when x <= 0 and every queued job of the last view has waited x (a job not in it has waited 0). */
  queuedAtLeast(jobid: string, now: number, x: number): boolean {
    if (!this.trackSince && x <= 0) return true
    if (x <= 0 && this.latestSince !== null && now - this.latestSince >= x) return true
    return this.queuedFor(jobid, now) >= x
  }
  /** Instance uuid of cloud nodes seen Starting, with their resource. */
  private starting = new Map<string, string>()
  private readonly boot = new Map<string, Ewma>()
  /** Every resource seen, so nodes of a resource in backoff keep their reservation. */
  readonly resources = new Map<string, AllocResource>()

  /**
   * Learns from one view. Observing the same view again (only `now` later:
   * nothing started, ended, joined or went) changes nothing here, which is
   * what lets a policy say its decision is quiet (PolicyDecision.quietUntil).
   */
  observe(now: number, jobs: ReadonlyArray<Job>, nodes: ReadonlyArray<WorkerNode>, resources: ReadonlyArray<AllocResource>): void {
    for (const r of resources) this.resources.set(r.name, r)

    // Running jobs: ids on nodes. A job leaving the queue and showing up on a node starts now.
    const g = ++this.observations
    let started: Map<string, JobShape | null> | null = null
    for (const n of nodes)
      for (const k of this.jobKeys(n.jobs)) {
        const r = this.running.get(k)
        if (r !== undefined) r.seenIn = g
        else if (started === null) started = new Map([[k, null]])
        else if (!started.has(k)) started.set(k, null)
      }
    if (started !== null) {
      if (this.trackSince) {
        const queued = this.index()
        for (const k of started.keys()) started.set(k, queued.get(k) ?? null)
      } else if (this.lastJobs !== null) {
        // (the last job of a key in the queue gives its shape, as a map of the queue would)
        for (const j of this.lastJobs) {
          const k = jobKey(j.jobid)
          if (started.has(k)) started.set(k, { cores: j.requested_cores, cpn: j.cores_per_node, walltime: this.walltimeOf(j.requested_walltime) })
        }
      }
      for (const [k, q] of started)
        this.running.set(k, q !== null ? { cores: q.cores, cpn: q.cpn, walltime: q.walltime, start: now, known: true, seenIn: g } : { cores: 0, cpn: 0, walltime: null, start: now, known: false, seenIn: g })
    }
    // (deleting the entry being visited is safe in a Map's for-of)
    for (const [k, r] of this.running) {
      if (r.seenIn === g) continue
      // A job we saw start and end: its runtime (both ends late by up to one interval).
      this.addRuntime(now - r.start)
      this.running.delete(k)
    }
    // The same list as last time (a cluster view that did not change hands over the same array): the same keys, shapes and first-seen times.
    if (!this.trackSince) this.lastJobs = jobs
    else if (jobs !== this.lastJobs && (jobs.length > 0 || this.queued.size > 0 || this.pending !== null)) {
      this.lastJobs = jobs
      if (this.queued.size === 0 && this.pending === null && jobs.length > 0) {
        // The first queue: every job first seen now; indexed when needed.
        this.pending = { jobs, now }
        this.latestSince = now
      } else {
        this.index()
        this.update(jobs, now)
      }
    }

    // Boot times: a node seen Starting that is now in the cluster joined at state_start_time.
    const alive = this.starting.size > 0 ? new Set<string>() : null
    for (const n of nodes) {
      if (n.instance === null || isPhysical(n)) continue
      const uuid = n.instance.uuid ?? n.hostname
      alive?.add(uuid)
      if (n.state === NodeState.Starting) {
        this.starting.set(uuid, n.instance.cloud_resource)
      } else if (this.starting.has(uuid)) {
        this.starting.delete(uuid)
        if ((n.state === NodeState.Idle || n.state === NodeState.Busy) && n.state_start_time >= n.instance.creation_time) {
          this.bootOf(n.instance.cloud_resource).add(n.state_start_time - n.instance.creation_time)
        }
      }
    }
    if (alive !== null) for (const uuid of this.starting.keys()) if (!alive.has(uuid)) this.starting.delete(uuid)
  }

  /** The queued jobs observed last (the array itself). */
  private lastJobs: ReadonlyArray<Job> | null = null
  /** parseWalltime, memoised: queues hold few distinct walltimes. */
  private walltimes = new Map<string | null, number | null>()
  private walltimeOf(w: string | null): number | null {
    let v = this.walltimes.get(w)
    if (v === undefined) {
      if (this.walltimes.size >= 4096) this.walltimes.clear()
      v = parseWalltime(w)
      this.walltimes.set(w, v)
    }
    return v
  }

  /**
   * The job keys (jobKey) of a node's job list, memoised: the same lists come
   * back at every view. Room for every node's list of a big cluster: with
   * room for 4,096, 5,000 busy nodes emptied the cache at every view and
   * every list missed (issue #19).
   */
  private keyCache = new Map<string, ReadonlyArray<string>>()
  jobKeys(jobs: string | null): ReadonlyArray<string> {
    if (jobs === null) return noKeys
    let keys = this.keyCache.get(jobs)
    if (keys === undefined) {
      if (this.keyCache.size >= KEY_CACHE_SIZE) this.keyCache.clear()
      keys = jobList(jobs).map(jobKey)
      this.keyCache.set(jobs, keys)
    }
    return keys
  }

  private bootOf(resource: string): Ewma {
    let e = this.boot.get(resource)
    if (e === undefined) this.boot.set(resource, (e = new Ewma(0.3)))
    return e
  }

  /** Seconds from a boot request until the node is in the cluster, as observed; null before the first sample. */
  bootTime(resource: string): number | null {
    return this.boot.get(resource)?.value ?? null
  }

  /**
   * Cores a running job holds on one node of `numProc` cores, or null when
   * we cannot tell (the node then counts as full).
   */
  coresOn(key: string, numProc: number): number | null {
    const r = this.running.get(key)
    if (r === undefined || !r.known) return null
    if (r.cpn > 0) return Math.min(r.cpn, numProc)
    // A spread job's split over its nodes is not in the view: it may fill any of them.
    return Math.min(numProc, r.cores)
  }

  /** Runtimes of finished jobs (first seen on a node to gone), sorted, the last `runtimeWindow` of them. */
  private runtimes: Array<number> = []
  private runtimeOrder: Array<number> = []
  static readonly runtimeWindow = 2000
  private addRuntime(x: number): void {
    this.runtimeOrder.push(x)
    insertSorted(this.runtimes, x)
    if (this.runtimeOrder.length > PolicyMemory.runtimeWindow) {
      const old = this.runtimeOrder.shift()!
      this.runtimes.splice(lowerBound(this.runtimes, old), 1)
    }
  }
  get runtimeSamples(): number {
    return this.runtimes.length
  }

  /**
   * How long a queued job with `walltime` (seconds, null: none) is expected
   * to run: the median of the runtimes observed so far (with at least `min`
   * of them), at most its walltime; its walltime without enough runtimes;
   * null when neither is known.
   */
  typicalRuntime(walltime: number | null, min = 30): number | null {
    const a = this.runtimes
    const median = a.length >= min ? a[a.length >> 1] : null
    return median === null ? walltime : walltime === null ? median : Math.min(median, walltime)
  }

  /** A queued job's walltime in seconds (parseWalltime of requested_walltime, memoised), null without one. */
  walltimeOfJob(j: Job): number | null {
    return this.walltimeOf(j.requested_walltime)
  }

  /**
   * When a running job of age `now - start` ends with probability `q`, from
   * the runtimes observed so far (conditional on its age): the q-quantile
   * of the observed runtimes longer than its age. null with fewer than
   * `min` finished jobs, or fewer than 5 longer than its age.
   */
  expectedEnd(key: string, now: number, q: number, min = 30): number | null {
    const r = this.running.get(key)
    if (r === undefined || this.runtimes.length < min) return null
    const age = now - r.start
    const i = upperBound(this.runtimes, age)
    const longer = this.runtimes.length - i
    if (longer < 5) return null
    const x = this.runtimes[Math.min(this.runtimes.length - 1, i + Math.floor(q * longer))]
    return r.start + x
  }

  /**
   * The chance a running job ends by `deadline`, judged by the runtimes
   * observed so far conditional on its age; null with fewer than `min`
   * finished jobs or fewer than 5 longer than its age.
   */
  endChance(key: string, now: number, deadline: number, min = 30): number | null {
    const r = this.running.get(key)
    if (r === undefined || this.runtimes.length < min) return null
    const i = upperBound(this.runtimes, now - r.start)
    const longer = this.runtimes.length - i
    if (longer < 5) return null
    return (upperBound(this.runtimes, deadline - r.start) - i) / longer
  }

  /**
   * The first time after `t` at which `endChance(key, t', t' + offset)` can
   * differ from its value at `t` (Infinity: never, with the same runtimes
   * observed): when the job's age or `offset` past it reaches the next
   * runtime observed (the quantile counts runtimes <= age, <= deadline).
   */
  endChanceChangesAfter(key: string, t: number, offset: number, min = 30): number {
    const r = this.running.get(key)
    if (r === undefined || this.runtimes.length < min) return Infinity
    const a = this.runtimes
    const i = upperBound(a, t - r.start)
    const j = upperBound(a, t + offset - r.start)
    return Math.min(i < a.length ? r.start + a[i] : Infinity, j < a.length ? r.start + a[j] - offset : Infinity)
  }

  /** When a running job's cores are free at the latest (start + walltime), or null when unknown. */
  releaseAt(key: string, now: number): number | null {
    const r = this.running.get(key)
    if (r === undefined || !r.known || r.walltime === null) return null
    // A job still running past its walltime (traces have them; some batch
    // systems allow overruns) says nothing about when it ends.
    const end = r.start + r.walltime
    return end >= now ? end : null
  }
}

/** The first index of sorted `a` whose value is at least `x` (a.length: none). */
export const lowerBound = (a: ReadonlyArray<number>, x: number): number => {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const m = (lo + hi) >> 1
    if (a[m] < x) lo = m + 1
    else hi = m
  }
  return lo
}
const upperBound = (a: ReadonlyArray<number>, x: number): number => {
  let lo = 0
  let hi = a.length
  while (lo < hi) {
    const m = (lo + hi) >> 1
    if (a[m] <= x) lo = m + 1
    else hi = m
  }
  return lo
}
const insertSorted = (a: Array<number>, x: number): void => {
  a.splice(upperBound(a, x), 0, x)
}
