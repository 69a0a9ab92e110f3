/**
 * The `demand` policy: boot only for demand that the capacity already there
 * or on its way cannot meet in time, keep doing so at every decision (not one
 * wave at a time), take the new nodes where they cost least, and retire an
 * idle node once keeping it costs more than booting a new one would.
 *
 * Rules (docs/policies.md has the measurements behind each):
 * 1. Capacity first (capacity.ts): queued jobs, highest priority first, are
 *    placed on free cores of Idle nodes, the free cores of Busy nodes we can
 *    account for, nodes Starting and boots in flight, and cores that running
 *    jobs free (start + walltime) before a new node could join.
 * 2. Continuous: whatever is left is provisioned at every decision. The
 *    capacity already starting is counted in rule 1, which is what caps it.
 * 3. Choice (choice.ts): the remainder goes to the candidate resource with
 *    the fewest new paid units (price, else cores), then least waste.
 * 4. Frozen, Draining and Drained resources never grow; a Draining
 *    resource's nodes are not counted as capacity.
 * 5. Break-even retirement (breakeven.ts): an idle node is held once it has
 *    been idle as long as it takes to boot a replacement.
 * Resources whose boots fail are in the engine's backoff and are not in the
 * input, so jobs fall through to the next candidate resource.
 */
import { eligibleJobs, mayUse, type ProposedNode } from "../../model/allocator.ts"
import { NodeState, ResourceFlag, type WorkerNode } from "../../model/types.ts"
import type { Policy, PolicyDecision, PolicyInput } from "../policy.ts"
import { IdleLearner, type BreakEvenOptions } from "./breakeven.ts"
import { buildCapacity, commit, placeOnExisting, type CountOptions } from "./capacity.ts"
import { chooseResource, type ChoiceOptions } from "./choice.ts"
import { PolicyMemory } from "./memory.ts"

export interface DemandOptions {
  readonly count: CountOptions
  /** false: like classic, nothing while any node is Starting or any boot is in flight. */
  readonly continuous: boolean
  readonly choice: ChoiceOptions
  /** null: the engine's max_idle_time rule. */
  readonly breakEven: BreakEvenOptions | null
  /** Seconds from a boot request to a node in the cluster, until one was observed. */
  readonly defaultBootTime: number
  /** Pool rule (wins over breakEven when set). */
  readonly pool?: PoolOptions | null
}

export interface PoolOptions {
  /** Keep as many idle nodes as demand events expected within weight × boot time. */
  readonly weight: number
  /** Time constant (s) of the demand-rate estimate. */
  readonly tau: number
  /** Idle limit of the nodes beyond that count: this × boot time (s). */
  readonly short: number
  /** Idle limit of the kept nodes (null: max_idle_time). */
  readonly keep: number | null
}

export const demandDefaults: DemandOptions = {
  count: { idle: true, busy: true, starting: true, soonFree: true },
  continuous: true,
  choice: { leastWaste: true, price: true },
  breakEven: null,
  defaultBootTime: 300,
  pool: { weight: 4, short: 1, keep: 1200, tau: 3600 }
}

const nothing = (reason: string): PolicyDecision => ({ provision: new Map(), jobsFor: new Map(), reasons: [reason] })

/** A demand policy with its own memory; `instantiate` makes another with fresh memory. */
export const makeDemandPolicy = (opts: DemandOptions = demandDefaults, name = "demand"): Policy => {
  const mem = new PolicyMemory()
  const bootTime = (resource: string) => mem.bootTime(resource) ?? opts.defaultBootTime
  let promised = new Set<string>()

  // Idle periods (breakeven.ts): watched at every idleLimit call (each engine
  // step, for Idle nodes above min) and closed when a decision sees the node
  // Busy (ended) or gone/held (retired). The first idle period after a join
  // is left out: the job the node was booted for lands on it at once.
  const learners = new Map<string, IdleLearner>()
  const learner = (res: string) => {
    let l = learners.get(res)
    if (l === undefined) learners.set(res, (l = new IdleLearner(opts.breakEven!)))
    return l
  }
  interface Watch {
    readonly resource: string
    readonly start: number
    lastSeen: number
    readonly explore: boolean
  }
  const watching = new Map<string, Watch>()
  // Demand events per resource (a job landing on an idle node, a node booted for the queue), decayed.
  const rate = new Map<string, { v: number; t: number }>()
  const tau = opts.pool?.tau ?? 3600
  const demandEvent = (res: string, now: number, k = 1) => {
    const r = rate.get(res) ?? { v: 0, t: now }
    r.v = r.v * Math.exp(-(now - r.t) / tau) + k
    r.t = now
    rate.set(res, r)
  }
  const demandRate = (res: string, now: number) => {
    const r = rate.get(res)
    return r === undefined ? 0 : (r.v * Math.exp(-(now - r.t) / tau)) / tau
  }
  const everBusy = new Set<string>()
  const closeIdle = (uuid: string, w: Watch, length: number, ended: boolean) => {
    watching.delete(uuid)
    if (ended && everBusy.has(uuid)) demandEvent(w.resource, w.start + Math.max(0, length))
    if (everBusy.has(uuid) && opts.breakEven !== null) learner(w.resource).add({ length: Math.max(0, length), ended })
    if (ended) everBusy.add(uuid)
  }
  const watchIdle = (node: WorkerNode, now: number): Watch => {
    const uuid = node.instance!.uuid ?? node.hostname
    const res = node.instance!.cloud_resource
    let w = watching.get(uuid)
    if (w !== undefined && w.start !== node.state_start_time) {
      // Busy and idle again since we last looked: that idle period ended with a job.
      closeIdle(uuid, w, w.lastSeen - w.start, true)
      w = undefined
    }
    if (w === undefined) {
      const every = opts.breakEven?.explore ?? 0
      w = { resource: res, start: node.state_start_time, lastSeen: now, explore: every > 0 && learner(res).seen % every === every - 1 }
      watching.set(uuid, w)
    }
    w.lastSeen = now
    return w
  }
  const observeIdle = (nodes: ReadonlyArray<WorkerNode>) => {
    const byUuid = new Map<string, WorkerNode>()
    for (const n of nodes) {
      if (n.instance === null) continue
      const uuid = n.instance.uuid ?? n.hostname
      byUuid.set(uuid, n)
      if (n.state === NodeState.Busy && !watching.has(uuid)) everBusy.add(uuid)
    }
    for (const [uuid, w] of [...watching]) {
      const n = byUuid.get(uuid)
      if (n !== undefined && n.state === NodeState.Idle) continue
      if (n !== undefined && n.state === NodeState.Busy) closeIdle(uuid, w, n.state_start_time - w.start, true)
      else closeIdle(uuid, w, w.lastSeen - w.start, false)
    }
    for (const uuid of [...everBusy]) if (!byUuid.has(uuid)) everBusy.delete(uuid)
  }

  const decide = (input: PolicyInput): PolicyDecision => {
    const now = input.now
    mem.observe(now, input.jobs, input.nodes, input.resources)
    observeIdle(input.nodes)
    if (!opts.continuous) {
      const starting = input.nodes.some((n) => n.state === NodeState.Starting) || [...input.inflight.values()].some((v) => v > 0)
      if (starting) return nothing("a node is starting: one wave at a time")
    }
    const jobs = eligibleJobs(input.jobs)
    if (jobs.length === 0) {
      promised = new Set()
      return nothing("no eligible queued job")
    }
    const caps = buildCapacity(now, input.nodes, input.inflight, mem, bootTime, opts.count)
    const proposals = new Map<string, Array<ProposedNode>>()
    const jobsFor = new Map<string, Array<string>>()
    let covered = 0
    let unmet = 0
    for (const job of jobs) {
      // Capacity that frees up before a new node could join is as good as a new node.
      const growable = input.resources.filter((r) => r.flag === ResourceFlag.Normal && mayUse(job, r))
      const horizon = growable.length > 0 ? Math.min(...growable.map((r) => bootTime(r.name))) : opts.defaultBootTime
      const place = placeOnExisting(job, caps, now + horizon)
      if (place.remaining === 0) {
        commit(place)
        covered++
        continue
      }
      const choice = chooseResource({ ...job, requested_cores: place.remaining }, input.resources, proposals, input.prices, opts.choice)
      if (choice === null) {
        unmet++
        continue
      }
      commit(place)
      proposals.set(choice.resource.name, choice.proposal)
      if (choice.added > 0 || choice.proposal.some((n) => n.jobs.includes(job.jobid))) {
        const list = jobsFor.get(choice.resource.name) ?? []
        list.push(job.jobid)
        jobsFor.set(choice.resource.name, list)
      }
    }
    // Idle nodes promised to queued jobs are not retired before the next decision.
    promised = new Set(caps.filter((c) => c.kind === "idle" && c.used > 0).map((c) => c.host))
    const provision = new Map<string, number>()
    const reasons: Array<string> = []
    for (const [res, p] of proposals) {
      if (p.length === 0) continue
      demandEvent(res, now, p.length)
      provision.set(res, p.length)
      const js = jobsFor.get(res) ?? []
      reasons.push(`${res}: start ${p.length} node(s) for job(s) ${js.slice(0, 10).join(", ")}${js.length > 10 ? ", ..." : ""}`)
    }
    if (covered > 0) reasons.push(`${covered} queued job(s) fit capacity that is free, starting or freed before a new node could join`)
    if (unmet > 0) reasons.push(`${unmet} queued job(s) fit no resource with room`)
    return { provision, jobsFor, reasons }
  }

  const policy: Policy = {
    name,
    description: "boots only for demand that free, starting and soon-free capacity cannot meet; continuous; cheapest fit; break-even idle retirement",
    decide,
    instantiate: () => makeDemandPolicy(opts, name)
  }
  const be = opts.breakEven
  const pool = opts.pool ?? null
  if (pool !== null)
    return {
      ...policy,
      idleLimit: (node, ctx) => {
        if (node.instance === null) return ctx.maxIdleTime
        const w = watchIdle(node, ctx.now)
        if (promised.has(node.hostname)) return Infinity
        const B = bootTime(w.resource)
        const keep = Math.round(demandRate(w.resource, ctx.now) * pool.weight * B)
        let rank = 0
        for (const x of watching.values())
          if (x !== w && x.resource === w.resource && x.lastSeen >= ctx.now - 30 && x.start > w.start) rank++
        return rank < keep ? pool.keep ?? ctx.maxIdleTime : Math.min(ctx.maxIdleTime, pool.short * B)
      }
    }
  return {
    ...policy,
    idleLimit: (node, ctx) => {
      if (be === null || node.instance === null) return promised.has(node.hostname) ? Infinity : ctx.maxIdleTime
      const w = watchIdle(node, ctx.now)
      if (promised.has(node.hostname)) return Infinity
      if (w.explore) return ctx.maxIdleTime
      return learner(w.resource).limit(bootTime(w.resource), ctx.maxIdleTime)
    }
  }
}

export const demandPolicy: Policy = makeDemandPolicy()
