/**
 * The engine's state and its only mutators. Everything a step, a task result
 * or an operator action changes lives in one `EngineState`; the rules
 * (rules/*.ts) only read it, the actuator (actuation.ts), the view
 * (view.ts), recovery (recovery.ts) and the operator actions (actions.ts)
 * change it through the methods here.
 *
 * `effects` counts every change (a log line, a task, a state change, a node
 * added or forgotten): a step that did not move it was "quiet", and the
 * caches of wake.ts are kept until it moves. The node counts of `countsOf`
 * are kept up to date by the node table and `setState` instead: a step asks
 * for them after every log line (lean retiring 500 of 5,000 nodes used to
 * recount all 5,000 nodes 500 times).
 */
import { eligibleQueue, type AllocResource, type EligibleQueue } from "../model/allocator.ts"
import { makeViewGuard, type ViewGuard } from "./view-guard.ts"
import { bootFailed, bootSucceeded } from "./backoff.ts"
import type { Effect } from "effect"
import type { ConfigFile, EngineSettings } from "../model/config.ts"
import { NodeState, ResourceFlag, type Instance, type Job, type Reservation, type WorkerNode } from "../model/types.ts"
import type { Policy, PolicyDecision } from "./policy.ts"
import { initialResState } from "./reconfigure.ts"
import type { Apply, TaskRunner } from "./tasks.ts"

export type LogLevel = "error" | "warn" | "info" | "debug"
export interface EngineLogEvent {
  readonly t: number
  readonly level: LogLevel
  readonly msg: string
  readonly [k: string]: unknown
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
export type NodeRec = Mutable<WorkerNode> & { instance: Instance }

export type Mode = "normal" | "frozen" | "draining"

export interface ResState {
  readonly name: string
  readonly type: string
  // (priority, cfgMin, cfgMax and config change at a reload: reconfigure.ts)
  priority: number
  cfgMin: number
  cfgMax: number
  min: number
  max: number
  mode: Mode
  readonly reservation: Reservation
  coresPerNode: number
  config: Record<string, unknown>
  /** Boots asked for whose answer has not been applied. */
  inflight: number
  /** Until when (seconds) this resource is not booted from after failures. */
  backoffUntil: number
  failures: number
  /** See backoff.ts. */
  failedDecision: number
  /** Its instances were listed and adopted (start-up recovery done). */
  recovered: boolean
  /** The cloud refused a boot as invalid: no boots until a reload (the message); null otherwise. */
  invalid: string | null
  /** When its instances were last listed (start-up recovery, then reconciliation: reconcile.ts). */
  reconciledAt: number
  /** A reconciliation listing is in flight. */
  reconciling: boolean
  /** Above its max was warned about (reset once it is back at or below max). */
  overMaxWarned: boolean
}

/** A new node record of resource `r`, Starting since `now` (a boot's answer, or an instance adopted at start-up). */
export const startingNode = (r: ResState, hostname: string, instance: Instance, now: number): NodeRec => ({
  hostname,
  type: r.type,
  state: NodeState.Starting,
  jobs: null,
  num_proc: instance.vcpu_number || r.coresPerNode,
  time_in_current_state: 0,
  state_start_time: now,
  instance,
  extra_attributes: null
})

export { BACKOFF_BASE, BACKOFF_CAP } from "./backoff.ts"

/** Nodes of one resource by state. */
export interface ResCounts {
  /** All nodes of the resource (nodesOf(res).length). */
  total: number
  starting: number
  deleting: number
  /** Idle + Busy. */
  usable: number
}
const noNodes: ResCounts = { total: 0, starting: 0, deleting: 0, usable: 0 }

type Bucket = "starting" | "deleting" | "usable" | null

const bucketOf = (s: NodeState): Bucket =>
  s === NodeState.Starting ? "starting" : s === NodeState.Deleting ? "deleting" : s === NodeState.Idle || s === NodeState.Busy ? "usable" : null

/**
 * The engine's cloud nodes by instance uuid, and how many there are per
 * resource and state (`counts`), updated as nodes come and go and, through
 * `stateChanged` (EngineState.setState), as their state changes. A node is
 * counted under the resource and state it had when it was last counted, so
 * that removing it takes back exactly what adding it gave.
 */
export class NodeTable extends Map<string, NodeRec> {
  readonly counts = new Map<string, ResCounts>()
  private readonly counted = new Map<NodeRec, { readonly res: string; bucket: Bucket }>()

  override set(uuid: string, n: NodeRec): this {
    const old = super.get(uuid)
    if (old !== undefined) this.uncount(old)
    super.set(uuid, n)
    this.count(n)
    return this
  }

  override delete(uuid: string): boolean {
    const old = super.get(uuid)
    if (old !== undefined) this.uncount(old)
    return super.delete(uuid)
  }

  override clear(): void {
    this.counts.clear()
    this.counted.clear()
    super.clear()
  }

  /** `n` (in the table or not) has a new state. */
  stateChanged(n: NodeRec): void {
    const c = this.counted.get(n)
    if (c === undefined) return
    const to = bucketOf(n.state)
    if (to === c.bucket) return
    const k = this.counts.get(c.res)!
    if (c.bucket !== null) k[c.bucket]--
    if (to !== null) k[to]++
    c.bucket = to
  }

  /** The counts recomputed from every node (for tests: they must equal `counts`). */
  recount(): Map<string, ResCounts> {
    const out = new Map<string, ResCounts>()
    for (const n of this.values()) {
      const name = n.instance.cloud_resource
      let c = out.get(name)
      if (c === undefined) out.set(name, (c = { total: 0, starting: 0, deleting: 0, usable: 0 }))
      c.total++
      const b = bucketOf(n.state)
      if (b !== null) c[b]++
    }
    return out
  }

  private count(n: NodeRec): void {
    const res = n.instance.cloud_resource
    let k = this.counts.get(res)
    if (k === undefined) this.counts.set(res, (k = { total: 0, starting: 0, deleting: 0, usable: 0 }))
    const bucket = bucketOf(n.state)
    k.total++
    if (bucket !== null) k[bucket]++
    this.counted.set(n, { res, bucket })
  }

  private uncount(n: NodeRec): void {
    const c = this.counted.get(n)
    if (c === undefined) return
    this.counted.delete(n)
    const k = this.counts.get(c.res)!
    k.total--
    if (c.bucket !== null) k[c.bucket]--
    if (k.total === 0) this.counts.delete(c.res)
  }
}

export interface Counters {
  readonly boots: Record<string, number>
  readonly boot_failures: Record<string, number>
  readonly destroys: Record<string, number>
  /** Spot interruptions seen (a node held, given up or removed for one: rules/spot.ts), by resource; once per instance. */
  readonly spot_interruptions: Record<string, number>
  cycles: number
}

/** See EngineState.lastPass. */
export interface PassInput {
  readonly effects: number
  readonly views: number
  readonly resources: ReadonlyArray<AllocResource>
}

export class EngineState {
  /** Replaced by a reload (Engine.reconfigure): read it at use, never keep a copy. */
  settings: EngineSettings
  /** A policy with memory is a fresh instance per engine (and per restart). */
  readonly policy: Policy
  /** See Policy.reactive. */
  readonly reactive: boolean
  /** A policy with memory (`instantiate`): every call it would get in a full step counts. */
  readonly stateful: boolean
  /** The task runner; every submission counts as an effect. */
  readonly tasks: TaskRunner

  /** Anything the engine did (a log line, a task, a state change); a step that did nothing is "quiet". */
  effects = 0
  /** Cloud nodes by instance uuid, with their counts per resource and state (countsOf). */
  readonly nodes = new NodeTable()
  physical: Array<WorkerNode> = []
  /**
   * Nodes of the cluster named like the instances of a resource whose start-up
   * recovery has not run yet: not physical (a policy would count their cores as
   * free for any job, and their reservation is unknown), not ours until adopted.
   */
  unclaimed: Array<WorkerNode> = []
  /**
   * Instances (uuid) of Idle, Busy, Holding or Held nodes that the last
   * listing of their resource did not have: refreshed at once (reconcile.ts).
   */
  readonly unlisted = new Set<string>()
  /** Instances (uuid) forgotten, and when: a listing taken before cannot bring them back (reconcile.ts). */
  readonly forgottenAt = new Map<string, number>()
  /** Host names in the last cluster view. */
  lastViewHosts: ReadonlyMap<string, unknown> = new Map()
  /** Counts the polls of a view that suddenly lost every node (view-guard.ts). */
  readonly viewGuard: ViewGuard = makeViewGuard()
  queued: ReadonlyArray<Job> = []
  private eligibleOf: ReadonlyArray<Job> | null = null
  private eligible: EligibleQueue | null = null
  /** eligibleQueue(queued) (the eligible jobs, with their shapes), once per view (the policy and the queue's explanations both walk it). */
  eligibleQueue(): EligibleQueue {
    if (this.eligibleOf !== this.queued || this.eligible === null) {
      this.eligible = eligibleQueue(this.queued)
      this.eligibleOf = this.queued
    }
    return this.eligible
  }
  autoMode: boolean
  viewFresh = false
  clusterStatus: Record<string, boolean> = {}
  lastClusterPoll = -Infinity
  /**
   * When the last provisioning pass ran (a `reactive` policy: the last pass
   * that started a node); the next is due `auto_provision_interval` later.
   */
  lastProvision = -Infinity
  /** A cluster view was applied (or an operator acted) that no provisioning pass has seen yet. */
  viewSinceProvision = true
  lastStepQuiet = false
  lastStepAt = -Infinity
  lastDecision: PolicyDecision | null = null
  /** Cluster views applied (view.ts applyView): a policy's queue and physical nodes come from the last one. */
  views = 0
  /**
   * What the last provisioning pass's input was made of apart from the clock
   * (`effects` and `views` at the end of the pass, the resources offered):
   * wake.ts tells by it that a later pass would get the same input, and then
   * asks the policy whether it is quiet (Policy.quietAt).
   */
  lastPass: PassInput | null = null
  /** When the queue was last explained (rules/queue.ts): each provisioning pass, and at that pace with auto mode off. */
  lastExplain = -Infinity
  /** The time of the step or action running (what log lines carry). */
  currentNow = 0
  readonly counters: Counters = { boots: {}, boot_failures: {}, destroys: {}, spot_interruptions: {}, cycles: 0 }
  /** Instances (uuid) whose spot interruption is counted (spotInterrupted). */
  private readonly spotCounted = new Set<string>()
  readonly resources = new Map<string, ResState>()
  /** `cloud.R.price` of the resources that configure one (the configuration does not change while the engine runs). */
  readonly prices = new Map<string, number>()

  constructor(
    /** The configuration in effect (GET /server/config/effective): as loaded, then as last reloaded. */
    public config: ConfigFile,
    settings: EngineSettings,
    policy: Policy,
    tasks: TaskRunner,
    private readonly logSink: ((e: EngineLogEvent) => void) | undefined
  ) {
    this.settings = settings
    this.policy = policy
    this.reactive = policy.reactive === true
    this.stateful = policy.instantiate !== undefined
    this.autoMode = this.settings.autoMode
    this.tasks = {
      ...tasks,
      submit: (label: string, task: Effect.Effect<Apply>) => {
        this.effects++
        return tasks.submit(label, task)
      }
    }
    for (const [name, rc] of Object.entries(config.cloud)) {
      this.resources.set(name, initialResState(name, rc))
      this.counters.boots[name] = 0
      this.counters.boot_failures[name] = 0
      this.counters.destroys[name] = 0
      if (rc.price !== undefined) this.prices.set(name, rc.price)
    }
  }

  // ---------------------------------------------------------------- mutators

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.effects++
    this.logSink?.({ t: this.currentNow, level, msg, ...fields })
  }

  setState(n: NodeRec, s: NodeState, now: number): void {
    if (n.state !== s) {
      this.effects++
      n.state = s
      this.nodes.stateChanged(n)
      n.state_start_time = now
    }
  }

  forget(n: NodeRec, why: string): void {
    this.nodes.delete(n.instance.uuid!)
    this.unlisted.delete(n.instance.uuid!)
    this.spotCounted.delete(n.instance.uuid!)
    this.forgottenAt.set(n.instance.uuid!, this.currentNow)
    this.log("info", `forgetting ${n.hostname}: ${why}`, { host: n.hostname, instance: n.instance.instance_name })
  }

  toDeleting(n: NodeRec, now: number, why: string): void {
    this.log("info", `${n.hostname} → Deleting: ${why}`, { host: n.hostname })
    this.setState(n, NodeState.Deleting, now)
  }

  /** A boot started by `decision` (backoff.ts) failed. */
  backoff(r: ResState, now: number, decision: number, retryAfter?: number): void {
    bootFailed(r, now, decision, retryAfter)
  }

  bootSucceeded(r: ResState): void {
    bootSucceeded(r)
  }

  /**
   * A spot interruption was seen on the node of instance `uuid` of `resource`
   * (at its hold, retire or remove for it): counted once per instance, however
   * many decisions it leads to (held and removed; held again after something
   * un-held it). Forgetting the node forgets the entry.
   */
  spotInterrupted(resource: string, uuid: string): void {
    if (this.spotCounted.has(uuid)) return
    this.spotCounted.add(uuid)
    this.counters.spot_interruptions[resource] = (this.counters.spot_interruptions[resource] ?? 0) + 1
  }

  /** Whether the interruption of instance `uuid` has been recorded (spotInterrupted). */
  spotRecorded(uuid: string): boolean {
    return this.spotCounted.has(uuid)
  }

  // ---------------------------------------------------------------- reads

  nodesOf(res: string): Array<NodeRec> {
    const out: Array<NodeRec> = []
    for (const n of this.nodes.values()) if (n.instance.cloud_resource === res) out.push(n)
    return out
  }

  findByHost(hostname: string): NodeRec | undefined {
    for (const n of this.nodes.values()) if (n.hostname === hostname) return n
    return undefined
  }

  /** Nodes per resource by state, kept up to date by NodeTable (a node added or removed) and setState. */
  countsOf(res: string): ResCounts {
    return this.nodes.counts.get(res) ?? noNodes
  }

  usable(res: string): number {
    return this.countsOf(res).usable
  }

  recoveredCount(): number {
    let k = 0
    for (const r of this.resources.values()) if (r.recovered) k++
    return k
  }

  flagOf(r: ResState): ResourceFlag {
    if (r.mode === "frozen") return ResourceFlag.Frozen
    if (r.mode === "draining") return this.countsOf(r.name).total > 0 || r.inflight > 0 ? ResourceFlag.Draining : ResourceFlag.Drained
    return ResourceFlag.Normal
  }

  /** Cloud poll of an instance is due (refresh or check). */
  due(inst: Instance, now: number): boolean {
    return now - inst.last_update_time >= this.settings.cloudPollerInterval
  }
}
