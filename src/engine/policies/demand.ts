/**
 * The `demand` policy: boot only for demand that the capacity already there
 * or on its way cannot meet in time, keep doing so at every decision (not one
 * wave at a time), take the new nodes where they cost least, and retire the
 * idle nodes beyond the demand it expects within a boot time quickly.
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
 * 5. Pool retirement: per resource, the policy keeps as many idle nodes as
 *    demand events (nodes booted for the queue, jobs landing on idle nodes)
 *    it expects within weight × boot time (a decayed rate, time constant
 *    `tau`); those stay idle up to `keep` seconds, the others go after one
 *    boot time. An idle node queued jobs were counted on is never retired.
 * Resources whose boots fail are in the engine's backoff and are not in the
 * input, so jobs fall through to the next candidate resource.
 *
 * Other ideas are options, off by default because they did not pay in the
 * measurements (break-even learned idle limit, hedged boots, spare nodes,
 * fastest resource, shared pool, last-booted-first-retired); the
 * experiments module (src/experiments/demand-variants.ts) builds any
 * combination by name (`demand-no-pool`, `demand+breakeven`) for
 * `simulate --policy`. `lean` (lean.ts) is a fixed set of them.
 */
import { billedSeconds, retireAt, type Billing } from "../../model/billing.ts"
import { ByJobKind, eligibleJobs, mayUse, type ProposedNode } from "../../model/allocator.ts"
import { NodeState, ResourceFlag, type Job, type WorkerNode } from "../../model/types.ts"
import type { Policy, PolicyDecision, PolicyInput } from "../policy.ts"
import { IdleLearner, type BreakEvenOptions } from "./breakeven.ts"
import { buildCapacity, CapacityIndex, commit, expectedQuiet, QuietBound, type CountOptions } from "./capacity.ts"
import { chooseResource, type ChoiceOptions } from "./choice.ts"
import { lowerBound, PolicyMemory } from "./memory.ts"
import { runSteps, SLICE_JOBS, SLICE_NODES, type Steps } from "../steps.ts"

export interface DemandOptions {
  readonly count: CountOptions
  /** false: like classic, nothing while any node is Starting or any boot is in flight. */
  readonly continuous: boolean
  readonly choice: ChoiceOptions
  /** null: the engine's max_idle_time rule. */
  readonly breakEven: BreakEvenOptions | null
  /** Seconds from a boot request to a node in the cluster, until one was observed. */
  readonly defaultBootTime: number
  /** Extra nodes when a decision starts at least `min` in a resource: ceil(n × frac). */
  readonly hedge?: { readonly frac: number; readonly min: number } | null
  /** Keep floor(demand rate × weight × boot time) whole nodes idle or starting per resource. */
  readonly spare?: { readonly weight: number } | null
  /** Queued this many boot times, a job counts only nodes starting or in flight (null: off). */
  readonly stale?: number | null
  /** Only jobs wider than the largest node of any resource go stale (small jobs find gaps; wide ones are what backfilling starves). */
  readonly staleWideOnly?: boolean
  /** Stale jobs also count Idle nodes (whole nodes nobody took) and, with `count.expect`, the cores running jobs are expected to free. */
  readonly staleIdle?: boolean
  /** Stale jobs get their nodes from the resource whose nodes join soonest (over price). */
  readonly urgentFastest?: boolean
  /** Pool retirement rule (wins over breakEven when set; null: breakEven, else the engine's max_idle_time). */
  readonly pool?: PoolOptions | null
  /** Policy.reactive: a decision that starts no node leaves the provisioning interval unspent. */
  readonly reactive?: boolean
  /**
   * Billing-aware retirement (`retireAt` in src/model/billing.ts), with
   * `paidIdle` seconds the time a retirement takes (hold, removal, destroy):
   * under billing by the hour, an idle node that would be retired after the
   * end of a paid hour it was idle through goes `paidIdle` before that end;
   * one that went idle later stays until `paidIdle` before the end of its
   * paid hour. null: off.
   */
  readonly paidIdle?: number | null
  /**
   * The trade-off knob in the boots (`bootWorthIt`): with a wait_value (the
   * configuration's, else `waitValue`) each proposed node in a priced
   * resource is started only when the wait it saves its jobs, at wait_value
   * per core-hour, is worth its billed cost beyond what the same work costs
   * on the cheapest resource; otherwise its jobs wait for the cores running
   * jobs free.
   */
  readonly knob?: boolean
  /**
   * With `knob`: the idle tail a booted node is expected to be paid for after
   * its jobs end, added to its billed time in `bootWorthIt`: "short" the
   * pool's limit for nodes beyond the kept count (short × boot time),
   * "keep" the kept nodes' limit (the learned keep, else pool.keep); both
   * scaled per core as the pool scales them. Unset: no tail.
   */
  readonly knobTail?: "short" | "keep"
  /**
   * With `knob`: a job wider than the largest node is weighed like the others
   * (its expected wait for the cores running jobs free) instead of always
   * starting its nodes.
   */
  readonly knobWide?: boolean
  /**
   * With `knob`: the supply of freed cores also counts the cores the
   * placement promised to queued jobs (on idle, busy, starting and in-flight
   * capacity), freed at their ready time + the median observed runtime: the
   * queue's expected wait without the proposed nodes.
   */
  readonly knobQueue?: boolean
  /** With `knobWide`: a wide job whose expected wait is within a boot time saves nothing by a boot (it is not always started). */
  readonly knobSoon?: boolean
  /** The policy's wait_value when the configuration sets none (money per waiting core-hour; undefined: none). */
  readonly waitValue?: number
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
  /**
   * Which idle nodes are kept: "idle" the most recently idle, "created" the
   * longest-lived (the others go first: last booted, first retired).
   */
  readonly order?: "idle" | "created"
  /** Idle limit of the nodes beyond the kept count: the learned break-even limit (needs breakEven) instead of `short`. */
  readonly excess?: "short" | "breakeven"
  /**
   * One pool for all resources: the kept count is the sum of the resources'
   * counts, and the idle nodes kept are the cheapest per core (price per
   * node-hour ÷ cores of the resources with a price; 1 otherwise), so dear
   * idle nodes go first.
   */
  readonly shared?: boolean
  /** Scale both idle limits by (cores per node of the smallest-node resource ÷ this node's cores): an idle core-hour costs the same in every resource. */
  readonly perCore?: boolean
  /**
   * Learned keep: the kept nodes stay idle up to the break-even limit learned
   * from the idle periods seen (breakeven.ts, needs `breakEven`), between
   * `breakEven.min` and `keep`, with K = learn × boot time (null: `keep`).
   */
  readonly learn?: number | null
  /**
   * With `learn` and `dynamic-cluster.wait_value` set and a price for the
   * resource: K in money, as idle seconds of the node: its billed boot
   * (billedSeconds(boot time), at least the billing minimum) plus a boot time
   * of waiting on its cores at wait_value, ÷ its price per second
   * (`moneyK`). Without wait_value or a price: learn × boot time.
   */
  readonly money?: boolean
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

const sameSet = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => {
  if (a.size !== b.size) return false
  for (const x of a) if (!b.has(x)) return false
  return true
}

const demandDescription =
  "boots only for demand that free, starting and soon-free capacity cannot meet; continuous; cheapest fit; idle nodes beyond the expected demand retired after one boot time"

/**
 * The trade-off knob (`dynamic-cluster.wait_value`, docs/policies.md): is a
 * spare node in `res` worth booting? It costs what its billing charges for
 * its boot and about one boot time idle (the pool's rule for nodes beyond the
 * demand), at least the billing minimum; it saves, about half the time, one
 * boot time of waiting for a job on its cores. Without `wait_value`, or
 * without a price for `res`, the answer is yes (the behaviour before the knob).
 */
export const spareWorthIt = (input: PolicyInput, res: string, bootSeconds: number, cores: number, w: number | undefined = input.waitValue): boolean => {
  const price = input.prices?.get(res)
  if (w === undefined || price === undefined || cores <= 0) return true
  const cost = (price * billedSeconds(2 * bootSeconds, input.billing?.get(res))) / 3600
  const saved = (w * 0.5 * cores * bootSeconds) / 3600
  return saved >= cost
}

/**
 * `lean`'s wait_value when the configuration sets none: a waiting core-hour
 * is worth 0.2 in the unit of the prices (13 × a spot core-hour of the eval
 * suite's `public` model, 0.015). Chosen on the tuning half of the
 * evaluation suite (docs/policies.md "Eighth round").
 */
export const defaultWaitValue = 0.2

/** A node a decision proposes to start, as the knob weighs it (`bootWorthIt`). */
export interface BootCase {
  /** Price per node-hour of its resource. */
  readonly price: number
  readonly billing: Billing | undefined
  /** Expected seconds from the boot request to the node in the cluster. */
  readonly bootSeconds: number
  /** Cores per node of its resource. */
  readonly cores: number
  /** The least price per core-hour of the priced resources (what the same work costs on the cheapest one). */
  readonly cheapestCore: number
  /** Seconds the node is expected to stay idle, paid, after its jobs end (0: none counted). */
  readonly tailSeconds?: number
  /**
   * The jobs promised cores on it: their cores, expected runtime (s) and
   * expected wait for cores that running jobs free if it is not started (s;
   * Infinity: none known to free in time).
   */
  readonly jobs: ReadonlyArray<{ readonly cores: number; readonly runtime: number; readonly wait: number; readonly held?: boolean }>
}

/**
 * The trade-off knob in a boot (docs/policies.md, `lean` rule 9): start the
 * node when wait_value × the waiting core-hours it saves (each job's
 * expected wait for freed cores beyond the boot time, × its cores) is at
 * least its extra cost: the node's billed cost for the boot and its jobs'
 * work (billedSeconds: a started hour under `{per: hour}`, the minimum)
 * minus what that work costs on the cheapest resource per core. A job with
 * no known wait (Infinity), or one whose cores free no later than the boot
 * (the placement found none for it: they free in pieces it cannot use),
 * always starts it.
 */
export const bootWorthIt = (waitValue: number, b: BootCase): boolean => {
  let work = 0
  let saved = 0
  for (const j of b.jobs) {
    if (j.held === true && j.wait <= b.bootSeconds) {
      work += j.cores * j.runtime
      continue
    }
    if (!(j.wait > b.bootSeconds && Number.isFinite(j.wait))) return true
    work += j.cores * j.runtime
    saved += j.cores * (j.wait - b.bootSeconds)
  }
  const busy = b.cores > 0 ? work / b.cores : 0
  const extra = (b.price * billedSeconds(b.bootSeconds + busy + (b.tailSeconds ?? 0), b.billing) - b.cheapestCore * b.cores * busy) / 3600
  return (waitValue * saved) / 3600 >= extra
}

/**
 * The break-even K of an idle node in money (`PoolOptions.money`), in idle
 * seconds of the node: retiring it and booting another when a job comes
 * costs the billed boot (at least the billing minimum) and one boot time of
 * the job waiting on the node's cores, worth `waitValue` per core-hour;
 * keeping it costs its price per second. null without a wait_value, a price
 * or cores.
 */
export const moneyK = (bootSeconds: number, cores: number, price: number | undefined, b: Billing | undefined, waitValue: number | undefined): number | null => {
  if (waitValue === undefined || price === undefined || price <= 0 || cores <= 0) return null
  return billedSeconds(bootSeconds, b) + (waitValue * cores * bootSeconds) / price
}

/** A demand policy with its own memory; `instantiate` makes another with fresh memory. */
export const makeDemandPolicy = (opts: DemandOptions = demandDefaults, name = "demand", description = demandDescription): Policy => {
  // (how long a job has been queued matters only to a positive `stale`: x <= 0 boot times is always waited)
  const mem = new PolicyMemory(opts.stale != null && opts.stale > 0)
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
    /** The node of this watch in the view of the observeIdle pass `seenIn`. */
    node: WorkerNode | null
    seenIn: number
    readonly resource: string
    readonly start: number
    /** When the node's instance was created (boot request). */
    readonly created: number
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
  /** Nodes seen Busy, with the observeIdle pass that last saw them in the view (those not in it are forgotten). */
  const everBusy = new Map<string, number>()
  const closeIdle = (uuid: string, w: Watch, length: number, ended: boolean) => {
    watching.delete(uuid)
    if (ended && everBusy.has(uuid)) demandEvent(w.resource, w.start + Math.max(0, length))
    if (everBusy.has(uuid) && opts.breakEven !== null) learner(w.resource).add({ length: Math.max(0, length), ended })
    if (ended) everBusy.set(uuid, observed)
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
      w = { node: null, seenIn: 0, resource: res, start: node.state_start_time, created: node.instance!.creation_time, lastSeen: now, explore: every > 0 && learner(res).seen % every === every - 1 }
      watching.set(uuid, w)
    }
    w.lastSeen = now
    return w
  }
  /** observeIdle passes (Watch.seenIn, everBusy): marks instead of a map of the view's nodes per decision. */
  let observed = 0
  const observeIdle = (nodes: ReadonlyArray<WorkerNode>) => {
    const g = ++observed
    for (const n of nodes) {
      if (n.instance === null) continue
      const uuid = n.instance.uuid ?? n.hostname
      // (the last node of a uuid in the view counts)
      const w = watching.get(uuid)
      if (w !== undefined) {
        w.node = n
        w.seenIn = g
      }
      if ((n.state === NodeState.Busy && w === undefined) || everBusy.has(uuid)) everBusy.set(uuid, g)
    }
    // (deleting the entry being visited is safe in a Map's for-of)
    for (const [uuid, w] of watching) {
      const n = w.seenIn === g ? w.node : undefined
      if (n != null && n.state === NodeState.Idle) continue
      if (n != null && n.state === NodeState.Busy) closeIdle(uuid, w, n.state_start_time - w.start, true)
      else closeIdle(uuid, w, w.lastSeen - w.start, false)
    }
    for (const [uuid, seen] of everBusy) if (seen !== g) everBusy.delete(uuid)
  }

  let prices: ReadonlyMap<string, number> | undefined = undefined
  let billing: ReadonlyMap<string, Billing> | undefined = undefined
  let waitValue: number | undefined = undefined
  /** The idle limit `limit` of a node idle since `w.start`, moved to its billing boundary by `paidIdle`. */
  const paid = (w: Watch, limit: number): number =>
    opts.paidIdle == null || !Number.isFinite(limit) ? limit : Math.max(0, retireAt(w.created, w.start, w.start + limit, opts.paidIdle, billing?.get(w.resource)) - w.start)
  /** Paid units per core-hour of a resource's nodes: price ÷ cores when priced, else 1 (a core-hour). */
  const unitCost = (res: string): number => {
    const r = mem.resources.get(res)
    const p = prices?.get(res)
    return r !== undefined && r.coresPerNode > 0 && p !== undefined ? p / r.coresPerNode : 1
  }
  let eligibleOf: ReadonlyArray<Job> | null = null
  let eligible: ReadonlyArray<Job> = []
  /** Whether this policy's decision can be said to hold (quietAt): not with a positive stale (how long each job waited), spare nodes (a decaying demand rate) or expected ends by runtimes. */
  const quietable = !(opts.stale != null && opts.stale > 0) && !opts.spare && opts.count.runtimeQ == null

  /**
   * Rules 1-3 on `jobs` at `now`: where each job goes (existing capacity, a
   * new node, nowhere). Reads the memory, changes nothing in it: the same
   * input and time give the same placement (quietAt makes it again).
   */
  function* placeSteps(input: PolicyInput, jobs: ReadonlyArray<Job>, now: number) {
    // count.expect: cores running jobs free before the soonest a new node could join
    const boots = opts.count.expect != null ? input.resources.filter((r) => r.flag === ResourceFlag.Normal).map((r) => bootTime(r.name)) : []
    const soonest = boots.length > 0 ? Math.min(...boots) : opts.defaultBootTime
    // When this placement could change on the same view (only the clock later): it names each time it compares with.
    const quiet = new QuietBound(now)
    if (!quietable) quiet.never()
    const caps = buildCapacity(now, input.nodes, input.inflight, mem, bootTime, opts.count, now + soonest, quiet)
    // (a pause point on a big cluster: the capacity is built, the index and the queue's walk follow)
    if (input.nodes.length >= SLICE_NODES) yield
    // Stale jobs count only nodes that are coming (and, with staleIdle, idle nodes and the expected ends).
    const index = new CapacityIndex(caps, { coming: (c) => c.kind === "starting" || c.kind === "inflight" || (opts.staleIdle === true && (c.kind === "idle" || c.kind === "expected")) })
    const proposals = new Map<string, Array<ProposedNode>>()
    const jobsFor = new Map<string, Array<string>>()
    let covered = 0
    let unmet = 0
    /** The horizons of the kinds of job placed: each job's deadline is now + its kind's horizon. */
    const horizons = new Set<number>()
    // (per decision: the resources, their boot times and flags do not change while it is made)
    const widest = Math.max(0, ...input.resources.map((r) => r.coresPerNode))
    // Per kind of job: the resources it may grow in, and how soon a new node there could join.
    const growth = new ByJobKind((job) => {
      const growable = input.resources.filter((r) => r.flag === ResourceFlag.Normal && mayUse(job, r))
      // Capacity that frees up before a new node could join is as good as a new node.
      const horizon = growable.length > 0 ? Math.min(...growable.map((r) => bootTime(r.name))) : opts.defaultBootTime
      horizons.add(horizon)
      /**
       * Shapes (stale or not → cores → cores per node) of jobs of this kind
       * that took no existing capacity and no resource could grow for: within
       * a decision capacity is only promised and proposals only grow, so a
       * later job of the same shape gets neither (unmet, nothing changed).
       */
      const dead: [Map<number, Set<number>>, Map<number, Set<number>>] = [new Map(), new Map()]
      return { growable, horizon, dead }
    })
    const choiceOpts = opts.choice
    const urgentOpts = { ...opts.choice, fastest: true }
    // Without a positive `stale` whether a job is stale depends on its shape
    // alone, and so whether it is `dead`: a shape found dead skips its later
    // jobs without reading them (the queue's shapes, allocator.ts eligibleQueue).
    const shaped = input.queue !== undefined && input.queue.jobs === jobs && !(opts.stale != null && opts.stale > 0) ? input.queue : null
    const deadShape = shaped !== null ? new Uint8Array(shaped.shapes.length) : null
    for (let k = 0; k < jobs.length; k++) {
      // (a slice boundary: the daemon lets its event loop in; nothing here changes meanwhile)
      if ((k + 1) % SLICE_JOBS === 0) yield
      if (deadShape !== null && deadShape[shaped!.shapeOf[k]] === 1) {
        unmet++
        continue
      }
      const job = jobs[k]
      const { growable, horizon, dead } = growth.get(job)
      // A job that waited longer than `stale` boot times despite the capacity we counted for it
      // (other jobs took it: the batch scheduler backfills) counts only nodes that are coming.
      const stale =
        opts.stale != null &&
        (!opts.staleWideOnly || job.requested_cores > widest) &&
        mem.queuedAtLeast(job.jobid, now, opts.stale * horizon)
      const deadCores = dead[stale ? 1 : 0].get(job.requested_cores)
      if (deadCores !== undefined && deadCores.has(job.cores_per_node)) {
        if (deadShape !== null) deadShape[shaped!.shapeOf[k]] = 1
        unmet++
        continue
      }
      const place = index.place(job, now + horizon, stale ? "coming" : "")
      if (place.remaining === 0) {
        commit(place)
        covered++
        continue
      }
      const rest = place.remaining === job.requested_cores ? job : { ...job, requested_cores: place.remaining }
      // (the candidates chooseResource keeps of input.resources are `growable`, in the same order)
      const choice = chooseResource(rest, growable, proposals, input.prices, stale && opts.urgentFastest ? urgentOpts : choiceOpts, bootTime)
      if (choice === null) {
        if (place.takes.length === 0) {
          const byCores = dead[stale ? 1 : 0]
          const cpns = byCores.get(job.requested_cores)
          if (cpns === undefined) byCores.set(job.requested_cores, new Set([job.cores_per_node]))
          else cpns.add(job.cores_per_node)
          if (deadShape !== null) deadShape[shaped!.shapeOf[k]] = 1
        }
        unmet++
        continue
      }
      commit(place)
      proposals.set(choice.resource.name, choice.proposal)
      // (a fit of a positive number of cores always promises the job cores on some node)
      if (choice.added > 0 || place.remaining > 0 || choice.proposal.some((n) => n.jobs.includes(job.jobid))) {
        const list = jobsFor.get(choice.resource.name) ?? []
        list.push(job.jobid)
        jobsFor.set(choice.resource.name, list)
      }
    }
    // Idle nodes promised to queued jobs are not retired before the next decision.
    const promises = new Set(caps.filter((c) => c.kind === "idle" && c.used > 0).map((c) => c.host))
    // (a decision that boots counts a demand event: the next one, even on the same view, differs)
    if (proposals.size > 0) quiet.never()
    if (quiet.until > now) {
      // A release counts for a job from `t - horizon` on (availableBy: t <= now + horizon).
      for (const c of caps) for (const [t] of c.releases) for (const h of horizons) quiet.at(t - h)
      if (opts.count.expect != null) {
        const pool = caps.find((c) => c.kind === "expected")
        expectedQuiet(mem, now, soonest, opts.count.soonFree, opts.count.expect, pool?.releases[0]?.[1] ?? 0, quiet)
      }
    }
    return { caps, proposals, jobsFor, covered, unmet, promises, quiet }
  }
  const place = (input: PolicyInput, jobs: ReadonlyArray<Job>, now: number) => runSteps(placeSteps(input, jobs, now))

  /** The idle tail `opts.knobTail` counts for a node booted in `res` (seconds; 0 without it or without a pool). */
  const tailOf = (res: string): number => {
    const pool = opts.pool ?? null
    if (opts.knobTail === undefined || pool === null) return 0
    const B = bootTime(res)
    const mine = mem.resources.get(res)?.coresPerNode ?? 0
    let scale = 1
    if (pool.perCore === true && mine > 0) {
      let least = mine
      for (const r of mem.resources.values()) if (r.coresPerNode > 0 && r.coresPerNode < least) least = r.coresPerNode
      scale = least / mine
    }
    if (opts.knobTail === "short") return pool.short * B * scale
    const hi = pool.keep ?? 1200
    const be = opts.breakEven
    if (pool.learn != null && be !== null && be !== undefined) return learner(res).limitIn(pool.learn * B, Math.min(be.min, hi), hi) * scale
    return hi * scale
  }
  /**
   * The knob in the boots (`opts.knob`, `bootWorthIt`): which proposed nodes
   * to start. The cores running jobs free (each known running job's cores at
   * the sooner of its walltime end and the median end of the runtimes
   * observed, conditional on its age) are one supply, minus those the
   * placement already promised; the jobs of the nodes not started take it in
   * turn (cheapest resource first, each resource's nodes in order), so a
   * job's expected wait is when the supply covers it and those before it.
   * One pass over the running jobs and the proposed nodes' jobs, a binary
   * search per job; only in decisions that propose nodes.
   */
  const weighBoots = (
    input: PolicyInput,
    jobs: ReadonlyArray<Job>,
    caps: ReadonlyArray<{ readonly kind: string; readonly free: number; readonly readyAt: number; used: number }>,
    proposals: ReadonlyMap<string, Array<ProposedNode>>,
    w: number,
    now: number
  ): { started: Map<string, Array<ProposedNode>>; deferred: Map<string, { nodes: number; jobs: Array<string> }> } => {
    const wanted = new Set<string>()
    for (const p of proposals.values()) for (const n of p) for (const id of n.jobs) wanted.add(id)
    const byId = new Map<string, Job>()
    if (wanted.size > 0)
      for (const j of jobs)
        if (wanted.has(j.jobid)) {
          byId.set(j.jobid, j)
          if (byId.size === wanted.size) break
        }
    const rel: Array<readonly [number, number]> = []
    for (const [k, r] of mem.running) {
      if (!r.known || r.cores <= 0) continue
      const a = mem.releaseAt(k, now)
      const e = mem.expectedEnd(k, now, 0.5)
      const t = a === null ? e : e === null ? a : Math.min(a, e)
      if (t !== null) rel.push([Math.max(now, t), r.cores])
    }
    if (opts.knobQueue === true) {
      const t = mem.typicalRuntime(null)
      if (t !== null) for (const c of caps) if (c.used > 0 && c.kind !== "expected") rel.push([Math.max(now, c.readyAt) + t, Math.min(c.used, c.free)])
    }
    rel.sort((a, b) => a[0] - b[0])
    const cum: Array<number> = []
    let sum = 0
    for (const [, c] of rel) cum.push((sum += c))
    /** Seconds until the supply reaches `need` cores (Infinity: never, as far as known). */
    const waitUntil = (need: number): number => {
      const i = lowerBound(cum, need)
      return i < cum.length ? rel[i][0] - now : Infinity
    }
    let demand = 0
    for (const c of caps) if (c.kind === "busy") demand += Math.max(0, c.used - c.free)
    let cheapestCore = Infinity
    let widest = 0
    for (const r of input.resources) {
      widest = Math.max(widest, r.coresPerNode)
      const p = input.prices?.get(r.name)
      if (p !== undefined && r.coresPerNode > 0) cheapestCore = Math.min(cheapestCore, p / r.coresPerNode)
    }
    const started = new Map<string, Array<ProposedNode>>()
    const deferred = new Map<string, { nodes: number; jobs: Array<string> }>()
    const order = [...proposals.keys()].sort((a, b) => unitCost(a) - unitCost(b))
    for (const res of order) {
      const p = proposals.get(res)!
      const price = input.prices?.get(res)
      const cores = mem.resources.get(res)?.coresPerNode ?? 0
      const keep: Array<ProposedNode> = []
      for (const n of p) {
        if (price === undefined || cores <= 0 || !Number.isFinite(cheapestCore)) {
          keep.push(n)
          continue
        }
        let d = demand
        const js: Array<BootCase["jobs"][number]> = []
        for (const id of n.jobs) {
          const j = byId.get(id)
          if (j === undefined || j.requested_cores <= 0) continue
          d += j.requested_cores
          const wait = j.requested_cores > widest && opts.knobWide !== true ? Infinity : waitUntil(d)
          js.push({ cores: j.requested_cores, runtime: mem.typicalRuntime(mem.walltimeOfJob(j)) ?? 0, wait, held: opts.knobSoon === true && j.requested_cores > widest })
        }
        if (js.length === 0 || bootWorthIt(w, { price, billing: input.billing?.get(res), bootSeconds: bootTime(res), cores, cheapestCore, jobs: js, tailSeconds: tailOf(res) })) keep.push(n)
        else {
          demand = d
          const x = deferred.get(res) ?? { nodes: 0, jobs: [] }
          x.nodes++
          x.jobs.push(...n.jobs)
          deferred.set(res, x)
        }
      }
      started.set(res, keep)
    }
    return { started, deferred }
  }

  /**
   * The last decision, for quietAt: its input, what it placed, and until
   * when that placement holds as far as checked (null: none, or it started nodes).
   */
  let last: { readonly input: PolicyInput; readonly jobs: ReadonlyArray<Job>; readonly covered: number; readonly unmet: number; readonly promises: ReadonlySet<string>; until: number } | null = null

  function* decideSteps(input: PolicyInput): Steps<PolicyDecision> {
    const now = input.now
    prices = input.prices
    billing = input.billing
    waitValue = input.waitValue ?? opts.waitValue
    last = null
    mem.observe(now, input.jobs, input.nodes, input.resources)
    observeIdle(input.nodes)
    // (a pause point on a big cluster: the memory has seen the view, the placement follows)
    if (input.nodes.length >= SLICE_NODES) yield
    if (!opts.continuous) {
      const starting = input.nodes.some((n) => n.state === NodeState.Starting) || [...input.inflight.values()].some((v) => v > 0)
      if (starting) {
        if (quietable) last = { input, jobs: [], covered: 0, unmet: 0, promises: promised, until: Infinity }
        return nothing("a node is starting: one wave at a time")
      }
    }
    // (the same queue array as last time: the same eligible jobs, in the same order)
    if (input.jobs !== eligibleOf) {
      eligible = input.eligible ?? eligibleJobs(input.jobs)
      eligibleOf = input.jobs
    }
    const jobs = eligible
    if (jobs.length === 0 && !opts.spare) {
      promised = new Set()
      if (quietable) last = { input, jobs, covered: 0, unmet: 0, promises: promised, until: Infinity }
      return nothing("no eligible queued job")
    }
    const placed = yield* placeSteps(input, jobs, now)
    const { caps, covered, unmet, promises, quiet } = placed
    let { proposals, jobsFor } = placed
    promised = promises
    if (quiet.until > now) last = { input, jobs, covered, unmet, promises, until: quiet.until }
    const provision = new Map<string, number>()
    const reasons: Array<string> = []
    const w = waitValue
    if (opts.knob === true && w !== undefined && [...proposals.keys()].some((r) => input.prices?.has(r) === true)) {
      const weighed = weighBoots(input, jobs, caps, proposals, w, now)
      if (weighed.deferred.size > 0) {
        proposals = weighed.started
        const kept = new Set<string>()
        for (const p of proposals.values()) for (const n of p) for (const id of n.jobs) kept.add(id)
        const js = new Map<string, Array<string>>()
        for (const [res, ids] of jobsFor) {
          const k = ids.filter((id) => kept.has(id))
          if (k.length > 0) js.set(res, k)
        }
        jobsFor = js
        for (const [res, d] of weighed.deferred)
          reasons.push(`${res}: ${d.nodes} node(s) not started for job(s) ${d.jobs.slice(0, 10).join(", ")}${d.jobs.length > 10 ? ", ..." : ""}: waiting for the cores running jobs free costs less at wait_value ${w}`)
      }
    }
    for (const [res, p] of proposals) {
      if (p.length === 0) continue
      demandEvent(res, now, p.length)
      const r = input.resources.find((x) => x.name === res)!
      const hedge = opts.hedge && p.length >= opts.hedge.min && spareWorthIt(input, res, bootTime(res), mem.resources.get(res)?.coresPerNode ?? 0, w) ? Math.min(Math.ceil(p.length * opts.hedge.frac), r.max - r.current - p.length) : 0
      provision.set(res, p.length + Math.max(0, hedge))
      const js = jobsFor.get(res) ?? []
      const spare = hedge > 0 ? ` and ${hedge} spare (failed and slow boots, the next job)` : ""
      reasons.push(`${res}: start ${p.length} node(s) for job(s) ${js.slice(0, 10).join(", ")}${js.length > 10 ? ", ..." : ""}${spare}`)
    }
    if (opts.spare) {
      for (const r of input.resources) {
        if (r.flag !== ResourceFlag.Normal || r.coresPerNode <= 0) continue
        const target = Math.floor(demandRate(r.name, now) * opts.spare.weight * bootTime(r.name))
        if (target <= 0) continue
        const have = caps.filter((c) => c.resource?.name === r.name && c.kind !== "busy" && c.used === 0).length + (provision.get(r.name) ?? 0) - (proposals.get(r.name)?.length ?? 0)
        const room = r.max - r.current - (provision.get(r.name) ?? 0)
        const k = Math.min(target - have, room)
        if (k > 0) {
          provision.set(r.name, (provision.get(r.name) ?? 0) + k)
          reasons.push(`${r.name}: start ${k} spare node(s) for the demand expected within a boot time`)
        }
      }
    }
    if (covered > 0) reasons.push(`${covered} queued job(s) fit capacity that is free, starting or freed before a new node could join`)
    if (unmet > 0) reasons.push(`${unmet} queued job(s) fit no resource with room`)
    return { provision, jobsFor, reasons }
  }
  const decide = (input: PolicyInput): PolicyDecision => runSteps(decideSteps(input))

  /**
   * Policy.quietAt: the last decision started nothing, and placing the same
   * jobs at `now` gives the same placement (the same jobs covered, left
   * unmet, the same idle nodes promised): decide() would return the same
   * and learn nothing (memory.ts observe: the same view teaches nothing).
   * Free until the first time the placement compared with (QuietBound); past
   * it, placed again (no boot, no memory touched) and, when the same, held
   * until that placement's bound.
   */
  const quietAt = (now: number): boolean => {
    const l = last
    if (l === null) return false
    if (now < l.until) return true
    const p = place(l.input, l.jobs, now)
    if (p.proposals.size > 0 || p.covered !== l.covered || p.unmet !== l.unmet || !sameSet(p.promises, l.promises)) return false
    l.until = p.quiet.until
    return true
  }

  const policy: Policy = {
    name,
    description,
    decide,
    decideSteps,
    quietAt,
    instantiate: () => makeDemandPolicy(opts, name, description),
    ...(opts.reactive === true ? { reactive: true } : {})
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
        const later = pool.order === "created" ? (x: Watch) => x.created < w.created : (x: Watch) => x.start > w.start
        let keep: number
        let ahead: (x: Watch) => boolean
        if (pool.shared) {
          let k = 0
          for (const r of mem.resources.keys()) k += demandRate(r, ctx.now) * pool.weight * bootTime(r)
          keep = Math.round(k)
          const cw = unitCost(w.resource)
          ahead = (x) => {
            const cx = unitCost(x.resource)
            return cx < cw - 1e-12 || (Math.abs(cx - cw) <= 1e-12 && later(x))
          }
        } else {
          keep = Math.round(demandRate(w.resource, ctx.now) * pool.weight * B)
          ahead = (x) => x.resource === w.resource && later(x)
        }
        // Only whether rank < keep matters: stop counting there.
        let rank = 0
        if (keep > 0)
          for (const x of watching.values())
            if (x !== w && x.lastSeen >= ctx.now - 30 && ahead(x) && ++rank >= keep) break
        let scale = 1
        if (pool.perCore) {
          const mine = mem.resources.get(w.resource)?.coresPerNode ?? 0
          let least = mine
          for (const r of mem.resources.values()) if (r.coresPerNode > 0 && r.coresPerNode < least) least = r.coresPerNode
          if (mine > 0) scale = least / mine
        }
        if (rank < keep) {
          const hi = pool.keep ?? ctx.maxIdleTime
          if (pool.learn != null && be !== null && !w.explore) {
            const K = (pool.money === true ? moneyK(B, mem.resources.get(w.resource)?.coresPerNode ?? 0, prices?.get(w.resource), billing?.get(w.resource), waitValue) : null) ?? pool.learn * B
            return paid(w, learner(w.resource).limitIn(K, Math.min(be.min, hi), hi) * scale)
          }
          return paid(w, hi * scale)
        }
        if (pool.excess === "breakeven" && be !== null && !w.explore) return paid(w, learner(w.resource).limit(B, ctx.maxIdleTime))
        return paid(w, Math.min(ctx.maxIdleTime, pool.short * B) * scale)
      }
    }
  return {
    ...policy,
    idleLimit: (node, ctx) => {
      if (be === null || node.instance === null) return promised.has(node.hostname) ? Infinity : ctx.maxIdleTime
      const w = watchIdle(node, ctx.now)
      if (promised.has(node.hostname)) return Infinity
      if (w.explore) return paid(w, ctx.maxIdleTime)
      return paid(w, learner(w.resource).limit(bootTime(w.resource), ctx.maxIdleTime))
    }
  }
}

export const demandPolicy: Policy = makeDemandPolicy()

/** Break-even options of the learner (breakeven.ts): `lean`'s learned keep (from 300 s) and the `+breakeven` experiment. */
export const breakEvenDefaults: BreakEvenOptions = { weight: 2, min: 30, samples: 20, explore: 10, window: 200 }
