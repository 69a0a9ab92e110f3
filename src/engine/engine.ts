/**
 * The scaling engine of SPEC §3 and the operator actions of SPEC §5, written
 * once against the Cluster/Cloud/Checker/Hooks services. One `step` looks at
 * the world as last observed and decides; slow calls go out as tasks whose
 * results are applied at a later step. Time comes only from Effect's Clock.
 */
import { Clock, Context, Effect } from "effect"
import type { AllocResource } from "../model/allocator.ts"
import { engineSettings, redactSecrets, type ConfigFile, type EngineSettings } from "../model/config.ts"
import {
  InstanceState,
  NodeState,
  NodeStateNames,
  ResourceFlag,
  hasJobs,
  jobList,
  type CloudResourceView,
  type Instance,
  type Job,
  type Reservation,
  type WorkerNode
} from "../model/types.ts"
import { ActionError, type EngineApi, type Snapshot, timeInState, withStamp } from "./api.ts"
import { getPolicy, unknownPolicy, type Policy, type PolicyDecision } from "./policy.ts"
import {
  Checker,
  Cloud,
  Cluster,
  Hooks,
  type ClusterNode,
  type ClusterView,
  type NewNode
} from "./services.ts"
import type { Apply, TaskRunner } from "./tasks.ts"

export type EngineEnv = Cluster | Cloud | Checker | Hooks

export type LogLevel = "error" | "warn" | "info" | "debug"
export interface EngineLogEvent {
  readonly t: number
  readonly level: LogLevel
  readonly msg: string
  readonly [k: string]: unknown
}

export interface EngineOptions {
  readonly config: ConfigFile
  readonly tasks: TaskRunner
  readonly log?: (e: EngineLogEvent) => void
  /** Overrides dynamic-cluster.policy. */
  readonly policy?: string
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
export type NodeRec = Mutable<WorkerNode> & { instance: Instance }

type Mode = "normal" | "frozen" | "draining"

export interface ResState {
  readonly name: string
  readonly type: string
  readonly priority: number
  readonly cfgMin: number
  readonly cfgMax: number
  min: number
  max: number
  mode: Mode
  readonly reservation: Reservation
  coresPerNode: number
  readonly config: Record<string, unknown>
  /** Boots asked for whose answer has not been applied. */
  inflight: number
  /** Until when (seconds) this resource is not booted from after failures. */
  backoffUntil: number
  failures: number
  /** Its instances were listed and adopted (start-up recovery done). */
  recovered: boolean
}

const BACKOFF_BASE = 30
const BACKOFF_CAP = 600

export interface Engine {
  /** One pass of the loop at the Clock's current time. Never fails. */
  readonly step: Effect.Effect<void, never, EngineEnv>
  /** When (seconds since the epoch) the engine next has something due, without outside events. */
  readonly nextWake: () => number
  /** See makeEngine: whether a step at `now` would do nothing, given an unchanged world. */
  readonly canSkip: (now: number) => boolean
  readonly skipStep: (now: number) => void
  /** A step at `now` would query the cluster. */
  readonly pollDue: (now: number) => boolean
  readonly api: EngineApi
  readonly settings: EngineSettings
  readonly policy: Policy
  /** The last policy decision (for `plan` and the dashboard). */
  readonly lastDecision: () => PolicyDecision | null
}

export class UnknownPolicyError extends Error {
  constructor(readonly policy: string) {
    super(unknownPolicy(policy))
  }
}

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

/** State versions of every engine of the process (api.stamp): a restarted engine never repeats one. */
let versionSeq = 0

export const makeEngine = (opts: EngineOptions): Effect.Effect<Engine, never, EngineEnv> =>
  Effect.gen(function* () {
    const settings = engineSettings(opts.config)
    const policyName = opts.policy ?? settings.policy
    const registered = getPolicy(policyName)
    if (registered === undefined) return yield* Effect.die(new UnknownPolicyError(policyName))
    // A policy with memory gets a fresh instance per engine (and per restart).
    const policy = registered.instantiate?.() ?? registered
    const ctx = yield* Effect.context<EngineEnv>()
    // The services, resolved once: steps and tasks use them directly, without
    // an Effect.provide or a service lookup each (bench/sim-trace, docs/performance.md).
    const cluster = Context.get(ctx, Cluster)
    const cloud = Context.get(ctx, Cloud)
    const checker = Context.get(ctx, Checker)
    const hooks = Context.get(ctx, Hooks)
    /** Anything the engine did (a log line, a task, a state change); a step that did nothing is "quiet". */
    let effects = 0
    const tasks: TaskRunner = {
      ...opts.tasks,
      submit: (label, task) => {
        effects++
        return opts.tasks.submit(label, task)
      }
    }
    /**
     * api.stamp: a new version when a step, a skipped step or an operator
     * action starts and when it ends; `changing` > 0 while one runs (its
     * changes may straddle a suspension, so its state is never cached).
     */
    let version = ++versionSeq
    let changing = 0
    /**
     * The engine lock: one step or operator action at a time. A free lock is
     * taken without suspending the fiber (Effect's semaphore always resumes
     * through the scheduler, ~10 µs per step). The lock is taken and released
     * only in uninterruptible code; a waiter waits interruptibly and is woken
     * (with every other waiter, to try again) when the lock is released.
     */
    let held = false
    const waiters = new Set<() => void>()
    const released: Effect.Effect<void> = Effect.async<void>((resume) => {
      // released since the waiter looked (the fiber may have yielded in between): go on at once
      if (!held) return resume(Effect.void)
      const wake = () => {
        waiters.delete(wake)
        resume(Effect.void)
      }
      waiters.add(wake)
      return Effect.sync(() => {
        waiters.delete(wake)
      })
    })
    const unlock = () => {
      changing--
      version = ++versionSeq
      held = false
      if (waiters.size > 0) for (const wake of [...waiters]) wake()
    }
    /** Runs `eff` holding the engine lock, as a change of the state for api.stamp. */
    const exclusive = <A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) => {
        // (each Effect operation counts: a step runs this once, bench/sim-trace)
        const take = (): Effect.Effect<A, E, R> => {
          if (held) return Effect.zipRight(restore(released), Effect.suspend(take))
          held = true
          version = ++versionSeq
          changing++
          // (Effect.ensuring, without its own uninterruptible region: this one is)
          return Effect.matchCauseEffect(restore(eff), {
            onFailure: (cause) =>
              Effect.suspend(() => {
                unlock()
                return Effect.failCause(cause)
              }),
            onSuccess: (a) =>
              Effect.sync(() => {
                unlock()
                return a
              })
          })
        }
        return take()
      })

    // ------------------------------------------------------------ state
    const nodes = new Map<string, NodeRec>() // cloud nodes by instance uuid
    let physical: Array<WorkerNode> = []
    /**
     * Nodes of the cluster named like the instances of a resource whose start-up
     * recovery has not run yet: not physical (a policy would count their cores as
     * free for any job, and their reservation is unknown), not ours until adopted.
     */
    let unclaimed: Array<WorkerNode> = []
    /** Host names in the last cluster view. */
    let lastViewHosts: ReadonlyMap<string, unknown> = new Map()
    let queued: ReadonlyArray<Job> = []
    let autoMode = settings.autoMode
    let viewFresh = false
    let clusterStatus: Record<string, boolean> = {}
    let lastClusterPoll = -Infinity
    /**
     * When the last provisioning pass ran (a `reactive` policy: the last pass
     * that started a node); the next is due `auto_provision_interval` later.
     */
    let lastProvision = -Infinity
    const reactive = policy.reactive === true
    /** A policy with memory (`instantiate`): every call it would get in a full step counts. */
    const stateful = policy.instantiate !== undefined
    let lastDecision: PolicyDecision | null = null
    let currentNow = 0
    const counters = { boots: {} as Record<string, number>, boot_failures: {} as Record<string, number>, destroys: {} as Record<string, number>, cycles: 0 }
    const resources = new Map<string, ResState>()
    for (const [name, rc] of Object.entries(opts.config.cloud)) {
      resources.set(name, {
        name,
        type: rc.type,
        priority: rc.priority,
        cfgMin: rc.quantity.min,
        cfgMax: rc.quantity.max,
        min: rc.quantity.min,
        max: rc.quantity.max,
        mode: "normal",
        reservation: rc.reservation,
        coresPerNode: 0,
        config: rc.config,
        inflight: 0,
        backoffUntil: 0,
        failures: 0,
        recovered: false
      })
      counters.boots[name] = 0
      counters.boot_failures[name] = 0
      counters.destroys[name] = 0
    }

    const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}) => {
      effects++
      opts.log?.({ t: currentNow, level, msg, ...fields })
    }

    const run = <A>(eff: Effect.Effect<A, never, EngineEnv>): Effect.Effect<A> => Effect.provide(eff, ctx)

    // ------------------------------------------------------------ helpers
    const setState = (n: NodeRec, s: NodeState, now: number) => {
      if (n.state !== s) {
        effects++
        n.state = s
        n.state_start_time = now
      }
    }
    const nodesOf = (res: string): Array<NodeRec> => {
      const out: Array<NodeRec> = []
      for (const n of nodes.values()) if (n.instance.cloud_resource === res) out.push(n)
      return out
    }
    // Nodes per resource by state, recounted only after something changed
    // (every change to the node set or a node's state bumps `effects`): a step
    // asks for them per resource and per node, and would otherwise walk every node each time.
    interface ResCounts {
      /** All nodes of the resource (nodesOf(res).length). */
      total: number
      starting: number
      deleting: number
      /** Idle + Busy. */
      usable: number
    }
    let countsAt = -1
    const resCounts = new Map<string, ResCounts>()
    const noNodes: ResCounts = { total: 0, starting: 0, deleting: 0, usable: 0 }
    const countsOf = (res: string): ResCounts => {
      if (countsAt !== effects) {
        resCounts.clear()
        for (const n of nodes.values()) {
          const name = n.instance.cloud_resource
          let c = resCounts.get(name)
          if (c === undefined) {
            c = { total: 0, starting: 0, deleting: 0, usable: 0 }
            resCounts.set(name, c)
          }
          c.total++
          if (n.state === NodeState.Starting) c.starting++
          else if (n.state === NodeState.Deleting) c.deleting++
          else if (n.state === NodeState.Idle || n.state === NodeState.Busy) c.usable++
        }
        countsAt = effects
      }
      return resCounts.get(res) ?? noNodes
    }
    const usable = (res: string): number => countsOf(res).usable
    const findByHost = (hostname: string): NodeRec | undefined => {
      for (const n of nodes.values()) if (n.hostname === hostname) return n
      return undefined
    }
    const newNodeOf = (n: NodeRec): NewNode => {
      const r = resources.get(n.instance.cloud_resource)
      return {
        hostname: n.hostname,
        ip: n.instance.ip,
        cores: n.instance.vcpu_number || n.num_proc,
        resource: n.instance.cloud_resource,
        reservation: r?.reservation ?? { queue: null, account: null, property: null },
        instanceName: n.instance.instance_name
      }
    }
    const hookArgs = (n: NodeRec): Array<string> => [
      n.hostname,
      n.instance.ip ?? "",
      n.instance.instance_name ?? "",
      n.instance.cloud_resource
    ]
    const due = (inst: Instance, now: number) => now - inst.last_update_time >= settings.cloudPollerInterval

    /** Submit a task for a node; the node is `tasked` until its result is applied. */
    const nodeTask = (n: NodeRec, label: string, task: Effect.Effect<(n: NodeRec, now: number) => void>) => {
      const uuid = n.instance.uuid!
      n.instance = { ...n.instance, tasked: true }
      return tasks.submit(
        `${label} ${n.hostname}`,
        task.pipe(
          Effect.map(
            (f): Apply =>
              (now) => {
                const cur = nodes.get(uuid)
                if (cur === undefined) return
                // A result that writes the instance clears `tasked` in the same copy (one copy per result, not two).
                f(cur, now)
                if (cur.instance.tasked) cur.instance = { ...cur.instance, tasked: false }
              }
          )
        )
      )
    }

    const forget = (n: NodeRec, why: string) => {
      nodes.delete(n.instance.uuid!)
      log("info", `forgetting ${n.hostname}: ${why}`, { host: n.hostname, instance: n.instance.instance_name })
    }

    const toDeleting = (n: NodeRec, now: number, why: string) => {
      log("info", `${n.hostname} → Deleting: ${why}`, { host: n.hostname })
      setState(n, NodeState.Deleting, now)
    }

    const backoff = (r: ResState, now: number, retryAfter?: number) => {
      r.failures++
      const d = Math.min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (r.failures - 1))
      r.backoffUntil = now + Math.max(d, retryAfter ?? 0)
    }

    // ------------------------------------------------------------ tasks

    const bootTask = (r: ResState, reason: string) => {
      r.inflight++
      return tasks.submit(
        `boot ${r.name}`,
        (
          cloud.boot(r.name).pipe(
            Effect.map(
              (inst): Apply =>
                (now) => {
                  r.inflight--
                  r.failures = 0
                  r.backoffUntil = 0
                  counters.boots[r.name]++
                  const uuid = inst.uuid ?? inst.instance_name ?? `unknown-${now}`
                  const rec: NodeRec = {
                    hostname: inst.instance_name ?? uuid,
                    type: r.type,
                    state: NodeState.Starting,
                    jobs: null,
                    num_proc: inst.vcpu_number || r.coresPerNode,
                    time_in_current_state: 0,
                    state_start_time: now,
                    instance: { ...inst, uuid, tasked: false, last_update_time: now, last_task_result: 0 },
                    extra_attributes: null
                  }
                  nodes.set(uuid, rec)
                  log("info", `booted ${rec.hostname} in ${r.name} (${reason})`, { resource: r.name, instance: inst.instance_name })
                }
            ),
            Effect.catchAll((e) =>
              Effect.succeed<Apply>((now) => {
                r.inflight--
                counters.boot_failures[r.name]++
                backoff(r, now, e.retryAfter)
                log("warn", `boot in ${r.name} failed (${e.kind}): ${e.message}; backing off until +${Math.round(r.backoffUntil - now)}s`, {
                  resource: r.name,
                  kind: e.kind
                })
              })
            )
          )
        )
      )
    }

    const refreshTask = (n: NodeRec) =>
      nodeTask(
        n,
        "refresh",
        // (no generator on the common path: a refresh runs every cloud poll interval for every starting node)
        Effect.suspend(() => {
          const before = n.instance
          return Effect.flatMap(Effect.either(cloud.refresh(before)), (r) => {
            if (r._tag === "Left") {
              const err = r.left
              return Effect.succeed((cur: NodeRec, now: number) => {
                cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: 1 }
                log("warn", `refresh of ${cur.hostname} failed: ${err.message}`, { host: cur.hostname })
              })
            }
            let inst = r.right
            // The cloud only knows Active; Ready is our checker's word and stays.
            if (before.state === InstanceState.Ready && inst.state === InstanceState.Active) inst = { ...inst, state: InstanceState.Ready }
            const becameActive =
              n.state === NodeState.Starting &&
              before.state < InstanceState.Active &&
              (inst.state === InstanceState.Active || inst.state === InstanceState.Ready)
            const apply = refreshed(inst)
            if (!becameActive) return Effect.succeed(apply)
            const got = inst
            return Effect.gen(function* () {
              const host = got.dns_name ?? got.instance_name ?? n.hostname
              const nn: NewNode = { ...newNodeOf(n), hostname: host, ip: got.ip, cores: got.vcpu_number || n.num_proc }
              yield* hooks.run("post_vm_provision_command", [host, got.ip ?? "", got.instance_name ?? "", got.cloud_resource])
              const act = yield* Effect.either(cluster.instanceActive(nn))
              if (act._tag === "Left") yield* Effect.sync(() => log("warn", `instance-active hook for ${host} failed: ${act.left.message}`))
              return apply
            })
          })
        })
      )

    /** A successful refresh's result, applied to the node. */
    const refreshed =
      (inst: Instance) =>
      (cur: NodeRec, now: number): void => {
        cur.instance = { ...inst, uuid: cur.instance.uuid, tasked: false, last_update_time: now, last_task_result: 0 }
        if (cur.state === NodeState.Starting && (inst.state === InstanceState.Active || inst.state === InstanceState.Ready)) {
          cur.hostname = inst.dns_name ?? inst.instance_name ?? cur.hostname
          if (inst.vcpu_number > 0) cur.num_proc = inst.vcpu_number
        }
      }

    /** Configuration check; on Ready a Starting node joins the cluster. */
    const checkTask = (n: NodeRec) =>
      nodeTask(
        n,
        "check",
        // (no generator on the common path: "not ready yet" every cloud poll interval while a node configures)
        Effect.flatMap(
          Effect.suspend(() => Effect.either(checker.check(n.instance))),
          (ok): Effect.Effect<(n: NodeRec, now: number) => void> => {
            if (ok._tag === "Left" || !ok.right) {
              const msg = ok._tag === "Left" ? ok.left.message : null
              return Effect.succeed((cur: NodeRec, now: number) => {
                cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: msg === null ? 0 : 1 }
                if (msg !== null) log("debug", `check of ${cur.hostname} failed: ${msg}`)
              })
            }
            if (n.state !== NodeState.Starting) {
              return Effect.succeed((cur: NodeRec, now: number) => {
                cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 0 }
              })
            }
            return joinTask(n)
          }
        )
      )

    /** A Starting node whose check says ready: add it to the cluster (or take it out again and destroy it). */
    const joinTask = (n: NodeRec) =>
      Effect.gen(function* () {
        const nn = newNodeOf(n)
        const added = yield* Effect.either(cluster.addNode(nn))
        if (added._tag === "Right") {
          yield* hooks.run("post_add_node_command", [nn.hostname, nn.ip ?? ""])
          return (cur: NodeRec, now: number) => {
            cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 0 }
            if (cur.state === NodeState.Starting) setState(cur, NodeState.Idle, now)
            log("info", `${cur.hostname} is ready and joined the cluster`, { host: cur.hostname })
          }
        }
        // Adding failed: take it out again and destroy it.
        yield* Effect.either(cluster.removeNode(nn.hostname, nn.reservation))
        const err = added.left
        return (cur: NodeRec, now: number) => {
          cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Ready, last_update_time: now, last_task_result: 1 }
          toDeleting(cur, now, `adding it to the cluster failed: ${err.message}`)
        }
      })

    const destroyTask = (n: NodeRec) =>
      nodeTask(
        n,
        "destroy",
        Effect.gen(function* () {
          const r = yield* Effect.either(cloud.destroy(n.instance))
          return (cur: NodeRec, now: number) => {
            if (r._tag === "Left") {
              cur.instance = { ...cur.instance, tasked: false, last_update_time: now, last_task_result: 1 }
              log("warn", `destroy of ${cur.hostname} failed: ${r.left.message}`, { host: cur.hostname })
            } else {
              counters.destroys[cur.instance.cloud_resource] = (counters.destroys[cur.instance.cloud_resource] ?? 0) + 1
              cur.instance = { ...cur.instance, tasked: false, state: InstanceState.Deleting, last_update_time: now, last_task_result: 0 }
            }
          }
        })
      )

    /** Hold in the cluster (engine decided or operator asked). */
    const holdTask = (n: NodeRec, now: number, why: string) => {
      setState(n, NodeState.Holding, now)
      log("info", `holding ${n.hostname}: ${why}`, { host: n.hostname })
      return nodeTask(
        n,
        "hold",
        Effect.gen(function* () {
          const r = yield* Effect.either(cluster.holdNode(n.hostname))
          return (cur: NodeRec) => {
            if (r._tag === "Left") log("warn", `hold of ${cur.hostname} failed: ${r.left.message}`, { host: cur.hostname })
          }
        })
      )
    }

    /** Remove from the cluster, run post_remove_node_command, then go Deleting (or as `after` says). */
    const removeTask = (n: NodeRec, why: string, after: "delete" | "error-timeout") => {
      const hasJ = hasJobs(n)
      return nodeTask(
        n,
        "remove",
        Effect.gen(function* () {
          const nn = newNodeOf(n)
          const r = yield* Effect.either(cluster.removeNode(n.hostname, nn.reservation))
          if (r._tag === "Right") yield* hooks.run("post_remove_node_command", [nn.hostname, nn.ip ?? ""])
          return (cur: NodeRec, now: number) => {
            if (r._tag === "Left") {
              if (after === "error-timeout") toDeleting(cur, now, `${why}; removal from the cluster failed (${r.left.message})`)
              else log("warn", `removing ${cur.hostname} from the cluster failed: ${r.left.message}`, { host: cur.hostname })
              return
            }
            if (after === "error-timeout" && hasJ) {
              log("error", `${cur.hostname} is in Error with jobs (${cur.jobs}); an administrator must act`, { host: cur.hostname })
              cur.jobs = cur.jobs // keep, the view will tell
              return
            }
            toDeleting(cur, now, why)
          }
        })
      )
    }

    // ------------------------------------------------------------ view

    const applyView = (view: ClusterView, now: number) => {
      const byHost = new Map<string, ClusterNode>()
      for (const cn of view.nodes) byHost.set(cn.hostname, cn)
      lastViewHosts = byHost
      const seen = new Set<string>()
      for (const n of nodes.values()) {
        const cn = byHost.get(n.hostname)
        if (cn !== undefined) seen.add(n.hostname)
        if (n.state === NodeState.Deleting) continue
        if (n.state === NodeState.Starting && n.instance.state !== InstanceState.Ready) continue
        if (cn === undefined) {
          if (n.state === NodeState.Starting) continue
          if (n.state !== NodeState.Error) log("warn", `${n.hostname} is no longer in the cluster`, { host: n.hostname })
          setState(n, NodeState.Error, now)
          continue
        }
        // The batch system says Starting while the node is still joining.
        const s = cn.state === NodeState.Starting ? (n.state === NodeState.Starting ? NodeState.Starting : NodeState.Idle) : cn.state
        setState(n, s, cn.since ?? now)
        n.jobs = cn.jobs
        if (cn.num_proc > 0) n.num_proc = cn.num_proc
        n.extra_attributes = cn.extra_attributes
      }
      const phys: Array<WorkerNode> = []
      const unc: Array<WorkerNode> = []
      const prev = new Map<string, WorkerNode>()
      for (const p of physical) prev.set(p.hostname, p)
      for (const p of unclaimed) prev.set(p.hostname, p)
      for (const cn of view.nodes) {
        if (seen.has(cn.hostname)) continue
        const old = prev.get(cn.hostname)
        const same = old !== undefined && old.state === cn.state
        // an unchanged node keeps its record (never mutated: a new view makes new ones)
        const rec: WorkerNode =
          same && old.jobs === cn.jobs && old.num_proc === cn.num_proc && old.extra_attributes === cn.extra_attributes
            ? old
            : {
                hostname: cn.hostname,
                type: "physical",
                state: cn.state,
                jobs: cn.jobs,
                num_proc: cn.num_proc,
                time_in_current_state: 0,
                state_start_time: same ? old.state_start_time : cn.since ?? now,
                instance: null,
                extra_attributes: cn.extra_attributes
              }
        ;(ofUnrecoveredResource(cn.hostname) ? unc : phys).push(rec)
      }
      physical = phys
      unclaimed = unc
      queued = view.jobs
    }

    const ofUnrecoveredResource = (hostname: string): boolean => {
      for (const r of resources.values()) {
        const prefix = r.config.instance_name_prefix
        if (!r.recovered && typeof prefix === "string" && prefix !== "" && hostname.startsWith(prefix)) return true
      }
      return false
    }

    let appliedView: ClusterView | null = null
    let appliedAt = -1
    let appliedRecovered = -1
    const recoveredCount = (): number => {
      let k = 0
      for (const r of resources.values()) if (r.recovered) k++
      return k
    }
    /**
     * Polls the cluster, then runs `then()` (a step polls every cluster poll
     * interval: one continuation instead of a zipRight and a suspend, and no
     * Either per poll).
     */
    const refreshViewThen = <A>(then: () => Effect.Effect<A>): Effect.Effect<A> =>
      Effect.suspend(() => {
        const now = currentNow
        lastClusterPoll = now
        return Effect.matchEffect(cluster.query, {
          onFailure: (e) =>
            Effect.flatMap(cluster.status, (status) => {
              clusterStatus = status
              if (viewFresh) log("error", `cannot query the batch system (${e.op}): ${e.message}; keeping the last view`)
              viewFresh = false
              return then()
            }),
          onSuccess: (view) =>
            Effect.flatMap(cluster.status, (status) => {
              clusterStatus = status
              viewFresh = true
              viewSinceProvision = true
              // The very view applied last time, and nothing changed here since (a
              // simulated cluster answers an unchanged world with the same object):
              // applying it again would change nothing.
              if (view !== appliedView || effects !== appliedAt || recoveredCount() !== appliedRecovered) {
                applyView(view, now)
                appliedView = view
                appliedAt = effects
                appliedRecovered = recoveredCount()
              }
              return then()
            })
        })
      })
    const refreshView: Effect.Effect<void> = refreshViewThen(() => Effect.void)

    // ------------------------------------------------------------ recovery

    /** Start-up recovery for the resources not yet recovered: adopt or destroy every instance with their prefix. */
    const recover = Effect.gen(function* () {
      const now = currentNow
      for (const r of resources.values()) {
        if (r.recovered) continue
        if (r.coresPerNode <= 0) {
          const c = yield* Effect.either(cloud.coresPerNode(r.name))
          if (c._tag === "Right") r.coresPerNode = c.right
          else log("warn", `cannot look up the cores per node of ${r.name}: ${c.left.message}`, { resource: r.name })
        }
        const listed = yield* Effect.either(cloud.list(r.name))
        if (listed._tag === "Left") {
          log("warn", `cannot list the instances of ${r.name}: ${listed.left.message}; will retry`, { resource: r.name })
          continue
        }
        if (!viewFresh) continue // need the cluster view to know which instances are nodes
        r.recovered = true
        const hosts = new Map<string, { state: NodeState; jobs: string | null; num_proc: number; state_start_time: number }>()
        for (const p of [...physical, ...unclaimed]) hosts.set(p.hostname, p)
        for (const inst0 of listed.right) {
          const uuid = inst0.uuid ?? inst0.instance_name
          if (uuid === null || nodes.has(uuid)) continue
          const inst: Instance = { ...inst0, uuid, tasked: false, last_update_time: now }
          const host = inst.dns_name ?? inst.instance_name ?? uuid
          const inCluster = hosts.get(host)
          const rec: NodeRec = {
            hostname: host,
            type: r.type,
            state: NodeState.Starting,
            jobs: null,
            num_proc: inst.vcpu_number || r.coresPerNode,
            time_in_current_state: 0,
            state_start_time: now,
            instance: inst,
            extra_attributes: null
          }
          const active = inst.state === InstanceState.Active || inst.state === InstanceState.Ready
          if (active && inCluster !== undefined) {
            rec.state = inCluster.state === NodeState.Starting ? NodeState.Idle : inCluster.state
            rec.jobs = inCluster.jobs
            rec.state_start_time = inCluster.state_start_time
            if (inCluster.num_proc > 0) rec.num_proc = inCluster.num_proc
            if (rec.state === NodeState.Idle || rec.state === NodeState.Busy) rec.instance = { ...inst, state: InstanceState.Ready }
            nodes.set(uuid, rec)
            physical = physical.filter((p) => p.hostname !== host)
            unclaimed = unclaimed.filter((p) => p.hostname !== host)
            log("info", `adopted ${host} (${NodeStateNames[rec.state]}) in ${r.name}`, { host, resource: r.name })
            if (r.reservation.queue !== null || r.reservation.account !== null || r.reservation.property !== null) {
              const fixed = yield* Effect.either(cluster.checkReservation(host, r.reservation))
              if (fixed._tag === "Left") log("warn", `reservation check of ${host} failed: ${fixed.left.message}`, { host })
            }
          } else if (inst.state === InstanceState.Pending || inst.state === InstanceState.Starting) {
            rec.hostname = inst.instance_name ?? uuid
            // max_launch_time counts from the boot, not from this restart (a hung boot gets no fresh budget)
            if (Number.isFinite(inst.creation_time) && inst.creation_time <= now) rec.state_start_time = inst.creation_time
            nodes.set(uuid, rec)
            log("info", `adopted starting instance ${rec.hostname} in ${r.name}`, { resource: r.name })
          } else if (active && now - inst.creation_time < settings.maxLaunchTime) {
            // Improve (SPEC §3): a young Active instance may still be joining.
            rec.instance = { ...inst, state: InstanceState.Active }
            rec.state_start_time = inst.creation_time
            nodes.set(uuid, rec)
            log("info", `adopted young active instance ${host} as Starting in ${r.name}`, { resource: r.name })
          } else if (inst.state === InstanceState.Inexistent) {
            continue
          } else {
            rec.state = NodeState.Deleting
            rec.hostname = host
            nodes.set(uuid, rec)
            log("info", `instance ${inst.instance_name} of ${r.name} is not in the cluster: destroying it`, { resource: r.name })
          }
        }
      }
    })

    // ------------------------------------------------------------ per-node pass

    /** How long an Idle node may stay idle: the policy's break-even rule if it has one, else max_idle_time. */
    const idleLimitOf = (n: NodeRec, now: number): number =>
      policy.idleLimit?.(n, { now, maxIdleTime: settings.maxIdleTime }) ?? settings.maxIdleTime

    /** The rule for one node; null when there is nothing to do (the common case, kept cheap). */
    const actOnNode = (n: NodeRec, now: number): Effect.Effect<void> | null => {
      const inst = n.instance
      const r = resources.get(inst.cloud_resource)
      const draining = r !== undefined && r.mode === "draining"
      const inState = now - n.state_start_time
      switch (n.state) {
        case NodeState.Starting: {
          if (inst.state === InstanceState.Inexistent) {
            forget(n, "its instance is gone")
            return hooks.run("post_vm_destroy_command", hookArgs(n))
          }
          if (inst.state === InstanceState.Error) {
            toDeleting(n, now, "its instance is in Error")
            return destroyTask(n)
          }
          if (inState > settings.maxLaunchTime) {
            toDeleting(n, now, `still starting after ${Math.round(inState)}s (max_launch_time ${settings.maxLaunchTime}s)`)
            return destroyTask(n)
          }
          if (!due(inst, now)) return null
          if (inst.state === InstanceState.Pending || inst.state === InstanceState.Starting || inst.state === InstanceState.Unknown)
            return refreshTask(n)
          if (inst.state === InstanceState.Active || inst.state === InstanceState.Ready) return checkTask(n)
          return null
        }
        case NodeState.Idle: {
          if (inst.state === InstanceState.Active && due(inst, now)) return checkTask(n)
          if (draining) return holdTask(n, now, `resource ${inst.cloud_resource} is draining`)
          if (autoMode && viewFresh && r !== undefined && usable(r.name) > r.min) {
            const limit = idleLimitOf(n, now)
            if (inState > limit)
              return holdTask(n, now, `idle for ${Math.round(inState)}s (${policy.idleLimit ? `${policy.name} idle limit ${Math.round(limit)}s` : `max_idle_time ${settings.maxIdleTime}s`})`)
          }
          return null
        }
        case NodeState.Busy: {
          if (inst.state === InstanceState.Active && due(inst, now)) return checkTask(n)
          if (draining) return holdTask(n, now, `resource ${inst.cloud_resource} is draining`)
          return null
        }
        case NodeState.Holding:
          return null
        case NodeState.Held: {
          if (!viewFresh || hasJobs(n) || r === undefined) return null
          if ((autoMode || draining) && usable(r.name) + 1 > r.min)
            return removeTask(n, draining ? `resource ${r.name} is draining` : "held with no jobs", "delete")
          return null
        }
        case NodeState.Error: {
          if (inst.state === InstanceState.Inexistent) {
            return nodeTask(
              n,
              "cleanup",
              Effect.gen(function* () {
                const jobs = jobList(n.jobs)
                if (jobs.length > 0) yield* Effect.either(cluster.vacateNode(n.hostname, jobs))
                yield* Effect.either(cluster.removeNode(n.hostname, newNodeOf(n).reservation))
                yield* hooks.run("post_vm_destroy_command", hookArgs(n))
                return (cur: NodeRec) => forget(cur, "its instance is gone")
              })
            )
          }
          if (autoMode && viewFresh && inState > settings.maxDownTime)
            return removeTask(n, `in Error for ${Math.round(inState)}s (max_down_time ${settings.maxDownTime}s)`, "error-timeout")
          if (due(inst, now)) return refreshTask(n)
          return null
        }
        case NodeState.Deleting: {
          if (inst.state === InstanceState.Inexistent) {
            if (lastViewHosts.has(n.hostname)) {
              // Still registered in the batch system (e.g. it joined before it was
              // destroyed): take it out, or it would come back as a "physical" node.
              return nodeTask(
                n,
                "cleanup",
                Effect.gen(function* () {
                  yield* Effect.either(cluster.removeNode(n.hostname, newNodeOf(n).reservation))
                  yield* hooks.run("post_vm_destroy_command", hookArgs(n))
                  return (cur: NodeRec) => forget(cur, "destroyed")
                })
              )
            }
            forget(n, "destroyed")
            return hooks.run("post_vm_destroy_command", hookArgs(n))
          }
          if (inst.state !== InstanceState.Deleting) {
            if (inst.last_task_result !== 1 || due(inst, now)) return destroyTask(n)
            return null
          }
          if (due(inst, now)) return refreshTask(n)
          return null
        }
        default:
          return null
      }
    }

    // ------------------------------------------------------------ min and provisioning

    const allocResources = (now: number): Array<AllocResource> => {
      const out: Array<AllocResource> = []
      for (const r of resources.values()) {
        if (!r.recovered || r.backoffUntil > now) continue
        out.push({
          name: r.name,
          priority: r.priority,
          min: r.min,
          max: r.max,
          current: countsOf(r.name).total + r.inflight,
          coresPerNode: r.coresPerNode,
          reservation: r.reservation,
          flag: flagOf(r)
        })
      }
      return out
    }

    // The decisions of a step are plain functions: each updates the state at
    // once and queues its task submissions (effects) in `todo`, run in order
    // at the end of the step. A step that decides nothing runs no effect.
    const enforceMin = (now: number, todo: Array<Effect.Effect<void>>): void => {
      for (const r of resources.values()) {
        if (!autoMode || !r.recovered || r.backoffUntil > now || r.mode === "draining") continue
        const mine = countsOf(r.name)
        // Improve (SPEC §3 says "no node of it Starting"): nodes Starting count
        // in `live` below, so waiting for them only delays the rest. With a
        // Deleting node still holding a slot at max, classic booted one node,
        // waited for it to join, then booted the next: min was reached
        // after two boot times, past max_launch_time (soak, invariant 5).
        if (r.inflight > 0) continue
        const live = mine.total - mine.deleting
        const n = Math.min(r.min - live, r.max - mine.total - r.inflight)
        if (n <= 0) continue
        log("info", `${r.name} has ${live} node(s), below min ${r.min}: starting ${n}`, { resource: r.name })
        for (let i = 0; i < n; i++) todo.push(bootTask(r, "min"))
      }
    }

    /**
     * A provisioning pass is due. Every policy: at most every
     * `auto_provision_interval`. A `reactive` policy's pass that started no
     * node does not count, so it looks again at the next cluster view (and
     * only then: the same view gives the same decision).
     */
    const provisionDue = (now: number): boolean => intervalPassed(now) && (!reactive || viewSinceProvision)
    const intervalPassed = (now: number): boolean => autoMode && viewFresh && now - lastProvision >= settings.autoProvisionInterval

    /** `cloud.R.price` of the resources that configure one (the configuration does not change while the engine runs). */
    const prices = new Map<string, number>()
    for (const [name, rc] of Object.entries(opts.config.cloud)) if (rc.price !== undefined) prices.set(name, rc.price)

    const provision = (now: number, todo: Array<Effect.Effect<void>>): void => {
      if (!reactive) lastProvision = now
      viewSinceProvision = false
      const inflight = new Map<string, number>()
      for (const r of resources.values()) inflight.set(r.name, r.inflight)
      const decision = policy.decide({
        now,
        jobs: queued,
        resources: allocResources(now),
        nodes: [...physical, ...nodes.values()],
        inflight,
        prices
      })
      lastDecision = decision
      for (const [name, count] of decision.provision) {
        const r = resources.get(name)
        if (r === undefined || count <= 0) continue
        // Never above max, whatever a policy proposes (SPEC §6.1).
        const room = r.max - countsOf(name).total - r.inflight
        const k = Math.min(count, room)
        if (k <= 0) continue
        log("info", `provisioning ${k} node(s) in ${name} for queued jobs`, { resource: name, jobs: decision.jobsFor.get(name)?.slice(0, 20) })
        lastProvision = now
        for (let i = 0; i < k; i++) todo.push(bootTask(r, "queued jobs"))
      }
    }

    /** Runs a step's queued effects in order. */
    const runAll = (todo: ReadonlyArray<Effect.Effect<void>>): Effect.Effect<void> =>
      todo.length === 1 ? todo[0] : Effect.forEach(todo, (e) => e, { discard: true })

    // ------------------------------------------------------------ the step

    let lastStepQuiet = false
    /** A cluster view was applied (or an operator acted) that no provisioning pass has seen yet. */
    let viewSinceProvision = true
    let lastStepAt = -Infinity
    /**
     * One step: apply the task results, poll the cluster when due, recover,
     * then decide (plain functions) and run the decided effects. Only the
     * cluster poll, recovery and the decided effects are Effect operations.
     */
    const stepUnlocked: Effect.Effect<void> = Effect.clockWith((clock) => {
      // (the Clock's time read in the same operation: Clock.currentTimeMillis and a map would be three more per step)
      const now = clock.unsafeCurrentTimeMillis() / 1000
      currentNow = now
      counters.cycles++
      const before = effects
      const results = tasks.drain()
      for (const apply of results) apply(now)
      if (results.length > 0) effects++
      return now - lastClusterPoll >= settings.clusterPollerInterval ? refreshViewThen(() => afterView(now, before)) : afterView(now, before)
    })

    const afterView = (now: number, before: number): Effect.Effect<void> => {
      for (const r of resources.values()) if (!r.recovered) return Effect.zipRight(recover, Effect.suspend(() => decide(now, before)))
      return decide(now, before)
    }

    const endStep = (now: number, before: number) => {
      lastStepQuiet = effects === before
      lastStepAt = now
    }

    const decide = (now: number, before: number): Effect.Effect<void> => {
      const todo: Array<Effect.Effect<void>> = []
      // (a node that is forgotten leaves the map while it is iterated: allowed for a Map)
      for (const n of nodes.values()) {
        if (n.instance.tasked) continue
        const act = actOnNode(n, now)
        if (act !== null) todo.push(act)
      }
      enforceMin(now, todo)
      if (provisionDue(now)) provision(now, todo)
      // Running the decided effects changes no engine state (submitting a task
      // or running a hook does not; their decisions already counted in `effects`).
      endStep(now, before)
      return todo.length === 0 ? Effect.void : runAll(todo)
    }

    /**
     * True when a step at `now` would change nothing, provided the world looks
     * exactly as at the last step: that step was quiet and no time-based rule
     * (launch, idle, down time, instance refresh, backoff end) can fire before `now`.
     * Only a caller that knows the world did not change (the simulator) may use it.
     */
    const canSkip = (now: number): boolean => {
      if (!lastStepQuiet || tasks.stats().results_pending > 0) return false
      // A provisioning pass on the view it already saw decides the same for a
      // policy without memory (classic); a policy with memory must see every
      // pass the full step would run (a reactive one: also after each poll).
      if (stateful ? decidesAt(now) : viewSinceProvision && provisionDue(now)) return false
      for (const r of resources.values()) {
        if (!r.recovered) return false
        if (r.backoffUntil > lastStepAt && r.backoffUntil <= now) return false
      }
      // Before the earliest time any node's refresh, check, launch or down-time
      // rule can come due, only the Idle nodes' rule needs a look (each in the
      // order of the full pass: a policy's idleLimit may keep memory per call).
      const k = skipOf()
      if (now < k.due - 1) {
        for (const n of k.idle) if (idleRuleFires(n, now)) return false
        return true
      }
      for (const n of nodes.values()) {
        if (n.instance.tasked) continue
        if (wantsCloudPoll(n) && now - n.instance.last_update_time >= settings.cloudPollerInterval) return false
        const inState = now - n.state_start_time
        if (n.state === NodeState.Starting && inState > settings.maxLaunchTime) return false
        if (n.state === NodeState.Idle && idleRuleFires(n, now)) return false
        if (n.state === NodeState.Error && autoMode && inState > settings.maxDownTime) return false
      }
      return true
    }

    /**
     * Whether the full pass would retire this Idle node now: the same
     * conditions and the same `idleLimitOf` calls as `actOnNode` (a policy's
     * limit may change with time and keep memory per call).
     */
    const idleRuleFires = (n: NodeRec, now: number): boolean => {
      const r = resources.get(n.instance.cloud_resource)
      if (r === undefined) return false
      if (r.mode === "draining") return true
      if (!autoMode || !viewFresh || usable(r.name) <= r.min) return false
      return now - n.state_start_time > idleLimitOf(n, now)
    }

    /** Whether a full step at `now` would run a provisioning pass (its poll, if due, applying the same view). */
    const decidesAt = (now: number): boolean => provisionDue(now) || (reactive && pollDue(now) && intervalPassed(now))

    /**
     * For canSkip, kept until something changes (`effects` moves with every
     * change of the node set, a state, an instance or a task): the earliest time
     * a node's time-based rule other than the idle limit can fire (the
     * rules compare differences, this a sum: canSkip keeps a second of margin
     * and otherwise runs the full pass), and the untasked Idle nodes in order.
     */
    const skipKey = { effects: -1, auto: false, due: -Infinity, idle: [] as Array<NodeRec> }
    const skipOf = () => {
      const k = skipKey
      if (k.effects !== effects || k.auto !== autoMode) {
        let due = Infinity
        const idle: Array<NodeRec> = []
        for (const n of nodes.values()) {
          if (n.instance.tasked) continue
          if (wantsCloudPoll(n)) due = Math.min(due, n.instance.last_update_time + settings.cloudPollerInterval)
          if (n.state === NodeState.Starting) due = Math.min(due, n.state_start_time + settings.maxLaunchTime)
          else if (n.state === NodeState.Idle && autoMode) idle.push(n)
          else if (n.state === NodeState.Error && autoMode) due = Math.min(due, n.state_start_time + settings.maxDownTime)
        }
        k.effects = effects
        k.auto = autoMode
        k.due = due
        k.idle = idle
      }
      return k
    }

    const pollDue = (now: number): boolean => now - lastClusterPoll >= settings.clusterPollerInterval

    /** The bookkeeping of a step that `canSkip` said would change nothing. */
    const skipStep = (now: number): void => {
      version = ++versionSeq
      currentNow = now
      counters.cycles++
      if (now - lastClusterPoll >= settings.clusterPollerInterval) lastClusterPoll = now
      if (!reactive && provisionDue(now)) lastProvision = now
      lastStepAt = now
    }

    const step = exclusive(stepUnlocked)

    /** Nodes whose instance the per-node pass refreshes or checks when due. */
    const wantsCloudPoll = (n: NodeRec): boolean => {
      switch (n.state) {
        case NodeState.Starting:
        case NodeState.Error:
        case NodeState.Deleting:
          return true
        case NodeState.Idle:
        case NodeState.Busy:
          return n.instance.state === InstanceState.Active
        default:
          return false
      }
    }

    // nextWake() is asked before every event the simulator handles: kept until
    // something it depends on changes (the node set, states and instances all bump `effects`).
    const wakeOf = { effects: -1, poll: 0, provision: 0, auto: false, fresh: false, seen: false, t: 0 }
    const nextWake = () => {
      const k = wakeOf
      if (
        k.effects !== effects ||
        k.poll !== lastClusterPoll ||
        k.provision !== lastProvision ||
        k.auto !== autoMode ||
        k.fresh !== viewFresh ||
        k.seen !== viewSinceProvision
      ) {
        k.t = computeWake()
        k.effects = effects
        k.poll = lastClusterPoll
        k.provision = lastProvision
        k.auto = autoMode
        k.fresh = viewFresh
        k.seen = viewSinceProvision
      }
      return k.t
    }
    const computeWake = () => {
      // Provisioning needs a fresh view; without one the next poll is the next chance.
      // A reactive policy that has seen the current view decides again only after
      // the next poll (its lastProvision stays where its last boot was: waking for
      // it would wake at once, again and again).
      const provisionAt = !autoMode || !viewFresh || (reactive && !viewSinceProvision) ? Infinity : lastProvision + settings.autoProvisionInterval
      let t = Math.min(lastClusterPoll + settings.clusterPollerInterval, provisionAt)
      for (const n of nodes.values()) {
        if (n.instance.tasked || !wantsCloudPoll(n)) continue
        // Instance refreshes and checks come due on the cloud poller interval.
        t = Math.min(t, n.instance.last_update_time + settings.cloudPollerInterval)
      }
      return t
    }

    // ------------------------------------------------------------ views for the API

    const flagOf = (r: ResState): ResourceFlag => {
      if (r.mode === "frozen") return ResourceFlag.Frozen
      if (r.mode === "draining") return countsOf(r.name).total > 0 || r.inflight > 0 ? ResourceFlag.Draining : ResourceFlag.Drained
      return ResourceFlag.Normal
    }

    const nodeView = (n: WorkerNode, now: number): WorkerNode => ({
      ...n,
      time_in_current_state: timeInState(now, n.state_start_time),
      instance: n.instance === null ? null : { ...n.instance }
    })

    // The queue sorted for display, kept until the next view replaces `queued`:
    // sorting 100,000 jobs on every API request was most of its latency (bench/api).
    let sortedOf: ReadonlyArray<Job> | null = null
    let sorted: ReadonlyArray<Job> = []
    const sortedQueue = (): ReadonlyArray<Job> => {
      if (sortedOf !== queued) {
        sorted = [...queued].sort((a, b) => (b.priority ?? -Infinity) - (a.priority ?? -Infinity))
        sortedOf = queued
      }
      return sorted
    }

    const snapshotAt = (now: number): Snapshot => {
      const cloudNodes = [...nodes.values()].map((n) => nodeView(n, now))
      const all = [...physical.map((n) => nodeView(n, now)), ...cloudNodes]
      const jobs = sortedQueue()
      const limit = settings.queuedJobNumberToDisplay
      const res: Array<CloudResourceView> = [...resources.values()].map((r) => {
        const wn = cloudNodes.filter((n) => n.instance!.cloud_resource === r.name)
        return {
          name: r.name,
          type: r.type,
          priority: r.priority,
          flag: flagOf(r),
          min_num: r.min,
          max_num: r.max,
          current_num: wn.length,
          cores_per_node: r.coresPerNode,
          reservation_queue: r.reservation.queue,
          reservation_account: r.reservation.account,
          reservation_property: r.reservation.property,
          proposed_allocation: lastDecision?.provision.get(r.name) ?? null,
          config: redactSecrets(r.config) as Record<string, unknown>,
          worker_nodes: wn
        }
      })
      return {
        time: now,
        nodes: all,
        jobs: limit < 1 ? [...jobs] : jobs.slice(0, limit),
        resources: res,
        status: { auto_mode: autoMode, cluster: { ...clusterStatus } },
        policy: policy.name,
        queues: tasks.stats(),
        backoff: [...resources.values()].map((r) => ({ resource: r.name, until: r.backoffUntil > now ? r.backoffUntil : 0, failures: r.failures })),
        counters: { boots: { ...counters.boots }, boot_failures: { ...counters.boot_failures }, destroys: { ...counters.destroys }, cycles: counters.cycles }
      }
    }

    // ------------------------------------------------------------ operator actions (SPEC §5)

    /**
     * An operator action changes what the next steps decide (limits, auto mode,
     * node states) without changing the world: `canSkip` must not call them quiet.
     */
    const operatorActed = Effect.sync(() => {
      lastStepQuiet = false
      viewSinceProvision = true
    })

    const locked = <A>(eff: Effect.Effect<A, ActionError, EngineEnv>): Effect.Effect<A, ActionError> =>
      exclusive(
        Effect.gen(function* () {
          currentNow = yield* nowSeconds
          return yield* run(eff as Effect.Effect<A, never, EngineEnv>)
        }).pipe(Effect.ensuring(operatorActed))
      ) as Effect.Effect<A, ActionError>

    const bad = (message: string) => Effect.fail(new ActionError({ status: 400, message }))
    const notFound = (message: string) => Effect.fail(new ActionError({ status: 404, message }))
    const failed = (message: string) => Effect.fail(new ActionError({ status: 500, message }))

    const cloudNode = (hostname: string) =>
      Effect.suspend(() => {
        const n = findByHost(hostname)
        if (n !== undefined) return Effect.succeed(n)
        if (physical.some((p) => p.hostname === hostname)) return bad(`${hostname} is a physical node: the scaler never touches it`)
        return notFound(`worker node ${hostname} not found`)
      })
    const resource = (name: string) =>
      Effect.suspend(() => {
        const r = resources.get(name)
        return r === undefined ? notFound(`resource ${name} not found`) : Effect.succeed(r)
      })
    const clusterCall = <A>(what: string, eff: Effect.Effect<A, { message: string }, EngineEnv>) =>
      eff.pipe(Effect.mapError((e) => new ActionError({ status: 500, message: `${what} failed: ${e.message}` })))
    const stateName = (n: WorkerNode) => NodeStateNames[n.state]
    // Until start-up recovery has listed a resource's instances, the engine cannot count its nodes:
    // a launch or a freeze would take "current" as 0 (after a restart: boots above max, a freeze at 0).
    const notRecovered = (r: ResState) =>
      `${r.name}: its instances are not listed yet (start-up recovery waits for the cloud and the batch system); try again`

    const api: EngineApi = {
      snapshot: Effect.map(nowSeconds, (now) => snapshotAt(now)),
      config: Effect.sync(() => redactSecrets(JSON.parse(JSON.stringify(opts.config)))),
      hold: (hostname) =>
        locked(
          Effect.gen(function* () {
            const n = yield* cloudNode(hostname)
            if (n.state !== NodeState.Idle && n.state !== NodeState.Busy) return yield* bad(`${hostname} is ${stateName(n)}: only Idle or Busy nodes can be held`)
            if (n.instance.tasked) return yield* bad(`${hostname} has a task in flight; try again`)
            yield* clusterCall(`hold ${hostname}`, cluster.holdNode(n.hostname))
            setState(n, NodeState.Holding, currentNow)
            log("info", `operator held ${hostname}`, { host: hostname })
          })
        ),
      unhold: (hostname) =>
        locked(
          Effect.gen(function* () {
            const n = yield* cloudNode(hostname)
            if (n.state !== NodeState.Held) return yield* bad(`${hostname} is ${stateName(n)}: only Held nodes can be unheld`)
            yield* clusterCall(`unhold ${hostname}`, cluster.unholdNode(n.hostname))
            setState(n, hasJobs(n) ? NodeState.Busy : NodeState.Idle, currentNow)
            log("info", `operator unheld ${hostname}`, { host: hostname })
          })
        ),
      vacate: (hostname) =>
        locked(
          Effect.gen(function* () {
            const n = yield* cloudNode(hostname)
            // Not in the batch system yet: no job can run there (and the batch system does not know the name).
            if (n.state === NodeState.Starting) return yield* bad(`${hostname} is Starting: it is not in the batch system yet, so no job runs there`)
            yield* clusterCall(`vacate ${hostname}`, cluster.vacateNode(n.hostname, jobList(n.jobs)))
            log("info", `operator vacated ${hostname}`, { host: hostname })
            yield* refreshView
          })
        ),
      deleteNode: (hostname) =>
        locked(
          Effect.gen(function* () {
            const n = yield* cloudNode(hostname)
            if (n.state === NodeState.Busy || hasJobs(n)) return yield* bad(`${hostname} has running jobs: vacate it first`)
            if (n.state !== NodeState.Error && n.state !== NodeState.Starting && n.state !== NodeState.Held)
              return yield* bad(`${hostname} is ${stateName(n)}: only Held (without jobs), Starting or Error nodes can be deleted`)
            const nn = newNodeOf(n)
            const removed = yield* Effect.either(cluster.removeNode(n.hostname, nn.reservation))
            if (removed._tag === "Left" && n.state === NodeState.Held) return yield* failed(`removing ${hostname} from the cluster failed: ${removed.left.message}`)
            yield* hooks.run("post_remove_node_command", [nn.hostname, nn.ip ?? ""])
            toDeleting(n, currentNow, "operator deleted it")
          })
        ),
      launch: (name, num) =>
        locked(
          Effect.gen(function* () {
            const r = yield* resource(name)
            if (!Number.isInteger(num) || num < 0) return yield* bad(`num must be a non-negative integer`)
            if (!r.recovered) return yield* failed(notRecovered(r))
            const current = nodesOf(name).length + r.inflight
            if (current + num > r.max) return yield* bad(`${name} has ${current} node(s); ${num} more would exceed its max of ${r.max}`)
            log("info", `operator launches ${num} node(s) in ${name}`, { resource: name })
            for (let i = 0; i < num; i++) yield* bootTask(r, "operator")
          })
        ),
      freeze: (name) =>
        locked(
          Effect.gen(function* () {
            const r = yield* resource(name)
            if (!r.recovered) return yield* failed(notRecovered(r))
            const current = nodesOf(name).length + r.inflight
            r.min = current
            r.max = current
            r.mode = "frozen"
            log("info", `operator froze ${name} at ${current} node(s)`, { resource: name })
          })
        ),
      restore: (name) =>
        locked(
          Effect.gen(function* () {
            const r = yield* resource(name)
            r.min = r.cfgMin
            r.max = r.cfgMax
            r.mode = "normal"
            log("info", `operator restored ${name} (min ${r.min}, max ${r.max})`, { resource: name })
          })
        ),
      drain: (name) =>
        locked(
          Effect.gen(function* () {
            const r = yield* resource(name)
            r.min = 0
            r.max = 0
            r.mode = "draining"
            log("info", `operator drains ${name}`, { resource: name })
            for (const n of nodesOf(name)) {
              if (n.instance.tasked) continue
              if (n.state === NodeState.Idle || n.state === NodeState.Busy) yield* holdTask(n, currentNow, `resource ${name} is draining`)
              else if (n.state === NodeState.Error) yield* removeTask(n, `resource ${name} is draining`, "error-timeout")
              else if (n.state === NodeState.Starting) toDeleting(n, currentNow, `resource ${name} is draining`)
            }
          })
        ),
      setAuto: (on) =>
        exclusive(
          Effect.sync(() => {
            autoMode = on
            log("info", `auto mode ${on ? "on" : "off"}`)
          }).pipe(Effect.zipRight(operatorActed))
        )
    }

    withStamp(
      api,
      Effect.map(nowSeconds, (now) => ({ version: changing > 0 ? null : version, time: now }))
    )

    return {
      step,
      nextWake,
      canSkip,
      skipStep,
      pollDue,
      api,
      settings,
      policy,
      lastDecision: () => lastDecision
    }
  })
