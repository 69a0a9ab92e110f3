/**
 * The simulated layers: Cluster, Cloud and Checker over one SimWorld, a
 * Clock that reads the world's virtual time, and a task runner whose tasks
 * take virtual time.
 */
import { Clock, Duration, Effect, Layer } from "effect"
import {
  Checker,
  Cloud,
  CloudError,
  Cluster,
  ClusterError,
  layerNoHooks,
  type ClusterNode,
  type ClusterView,
  type CloudService,
  type ClusterService
} from "../engine/services.ts"
import type { Apply, TaskRunner } from "../engine/tasks.ts"
import { engineContext } from "../engine/engine.ts"
import { emptyInstance, InstanceState, NodeState, makeJob, type Instance, type Job } from "../model/types.ts"
import type { BJob, BNode, CInst, SimWorld } from "./world.ts"

// ---------------------------------------------------------------- clock

/** A Clock whose time is the world's virtual time (seconds since start) plus an epoch. */
export const simClock = (world: SimWorld, epoch: number): Clock.Clock => {
  const millis = () => Math.round((epoch + world.now) * 1000)
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: millis,
    currentTimeMillis: Effect.sync(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(millis()) * 1_000_000n),
    // The engine never sleeps in the simulation: the driver advances time.
    sleep: (d: Duration.DurationInput) => Effect.dieMessage(`sleep(${Duration.format(d)}) in the simulated world`)
  } as Clock.Clock
}

// ---------------------------------------------------------------- cluster

const nodeState = (n: BNode): NodeState =>
  n.down ? NodeState.Error : !n.online ? (n.jobs.size > 0 ? NodeState.Holding : NodeState.Held) : n.jobs.size > 0 ? NodeState.Busy : NodeState.Idle

export interface SimClusterOptions {
  /** Nodes come from a live cloud the world does not own (issue 6): they join as the engine describes them. */
  readonly externalNodes?: boolean
}

export const simClusterService = (world: SimWorld, epoch: number, options: SimClusterOptions = {}): ClusterService => {
  const jobCache = new WeakMap<BJob, Job>()
  const jobOf = (j: BJob): Job => {
    let r = jobCache.get(j)
    if (r === undefined) {
      const s = j.spec
      r = makeJob({
        jobid: s.id,
        name: s.id,
        owner: s.account,
        queue: s.queue,
        account: s.account,
        property: s.property,
        priority: s.priority,
        requested_cores: s.cores,
        cores_per_node: s.cpn,
        requested_walltime: s.walltime === null ? null : hms(s.walltime),
        creation_time: String(Math.round(epoch + s.submit))
      })
      jobCache.set(j, r)
    }
    return r
  }
  /** What a node command that prints nothing and exits 0 gives: no node, no job. */
  const EMPTY_VIEW: ClusterView = { nodes: [], jobs: [] }
  const fail = (op: string, message: string | null) =>
    message === null ? Effect.void : Effect.fail(new ClusterError({ op, message }))
  const refused = (op: string) => {
    if (world.batchMode === "fail") return new ClusterError({ op, message: "batch command failed with exit code 1" })
    if (world.batchMode === "garbage") return new ClusterError({ op, message: "could not parse the batch command's output" })
    return null
  }
  // The last view, reused while the world shows the same (no change the
  // engine could observe, same queue order): the engine then skips applying it.
  let last: { readonly view: ClusterView; readonly version: number; readonly queueGen: number } | null = null
  let lastJobs: { readonly queueGen: number; readonly jobs: ReadonlyArray<Job> } | null = null
  const entries = new WeakMap<BNode, { readonly jobsGen: number; readonly entry: ClusterNode }>()
  return {
    query: Effect.suspend(() => {
      const e = refused("query")
      if (e !== null) return Effect.fail(e)
      if (world.batchMode === "empty") return Effect.succeed(EMPTY_VIEW)
      if (last !== null && last.version === world.version && last.queueGen === world.queueGen) return Effect.succeed(last.view)
      const nodes: Array<ClusterNode> = []
      for (const n of world.nodes.values()) {
        // a node whose state and jobs did not change keeps its entry (views never mutate one)
        const state = nodeState(n)
        const had = entries.get(n)
        if (had !== undefined && had.jobsGen === n.jobsGen && had.entry.state === state) {
          nodes.push(had.entry)
          continue
        }
        const entry: ClusterNode = {
          hostname: n.hostname,
          state,
          jobs: n.jobs.size > 0 ? [...n.jobs.keys()].join(",") : null,
          num_proc: n.cores,
          extra_attributes: null
        }
        entries.set(n, { jobsGen: n.jobsGen, entry })
        nodes.push(entry)
      }
      // the queue changes only with a new queueGen
      if (lastJobs === null || lastJobs.queueGen !== world.queueGen)
        lastJobs = { queueGen: world.queueGen, jobs: world.queuedJobs().filter((j) => j.state === "queued").map(jobOf) }
      const view: ClusterView = { nodes, jobs: lastJobs.jobs }
      last = { view, version: world.version, queueGen: world.queueGen }
      return Effect.succeed(view)
    }),
    status: Effect.sync(() => ({ sim: world.batchMode === "ok" || world.batchMode === "empty" })),
    instanceActive: () => Effect.void,
    addNode: (nn) =>
      Effect.suspend(() => {
        const e = refused("add node")
        if (e !== null) return Effect.fail(e)
        const join = options.externalNodes === true ? world.joinExternalNode.bind(world) : world.joinNode.bind(world)
        return fail("add node", join(nn.hostname, nn.cores, nn.resource, nn.reservation, nn.instanceName))
      }),
    removeNode: (hostname) =>
      Effect.suspend(() => {
        const e = refused("remove node")
        return e !== null ? Effect.fail(e) : fail("remove node", world.removeNode(hostname))
      }),
    holdNode: (hostname) => Effect.suspend(() => fail("hold node", world.holdNode(hostname))),
    unholdNode: (hostname) => Effect.suspend(() => fail("unhold node", world.unholdNode(hostname))),
    vacateNode: (hostname) => Effect.suspend(() => fail("vacate node", world.vacateNode(hostname))),
    checkReservation: () => Effect.void
  }
}

const hms = (s: number) => {
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = Math.floor(s % 60)
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`
}

// ---------------------------------------------------------------- cloud

export const simCloudService = (world: SimWorld, epoch: number): CloudService => {
  const toInstance = (i: CInst): Instance => {
    const active = i.state === InstanceState.Active || i.state === InstanceState.Ready
    const n = parseInt(i.id.slice(2), 16)
    const base = plainInstance(i, active, n)
    // A spot instance carries its request and status code as EC2 reports them (src/engine/spot.ts).
    return world.resourceSpec(i.resource)?.spot === true ? { ...base, spot_id: `sir-${i.id.slice(2)}`, spot_state: i.spotStatus ?? "fulfilled" } : base
  }
  // (one object per instance listed or refreshed, its keys in emptyInstance's
  // order: a reconciliation lists every instance, every few cloud polls)
  const plainInstance = (i: CInst, active: boolean, n: number): Instance => ({
    uuid: i.id,
    instance_name: i.name,
    cloud_resource: i.resource,
    state: i.state,
    dns_name: active ? i.name : null,
    // TEST-NET-style addresses for display only: nothing ever connects to them.
    ip: active ? `198.18.${(n >> 8) & 255}.${n & 255}` : null,
    vcpu_number: i.cores,
    creation_time: epoch + i.created,
    last_update_time: epoch + world.now,
    last_task_result: 0,
    tasked: false,
    availability_zone: "sim",
    subnet_id: null,
    security_groups: null,
    image_uuid: null,
    flavor: null,
    key_name: null,
    spot_id: null,
    spot_state: null,
    spot_price: 0
  })
  const err = (resource: string, op: string, e: { kind: CloudError["kind"]; message: string }) =>
    new CloudError({ resource, op, kind: e.kind, message: e.message })
  return {
    list: (resource) =>
      Effect.suspend(() => {
        const r = world.list(resource)
        return "kind" in r ? Effect.fail(err(resource, "list", r)) : Effect.succeed(r.map(toInstance))
      }),
    boot: (resource) =>
      Effect.suspend(() => {
        const r = world.boot(resource)
        return "kind" in r ? Effect.fail(err(resource, "boot", r)) : Effect.succeed(toInstance(r))
      }),
    refresh: (inst) =>
      Effect.suspend(() => {
        const r = world.describe(inst.uuid ?? "", inst.cloud_resource)
        if (r === "gone") return Effect.succeed({ ...inst, state: InstanceState.Inexistent })
        return "kind" in r ? Effect.fail(err(inst.cloud_resource, "refresh", r)) : Effect.succeed(toInstance(r))
      }),
    destroy: (inst) =>
      Effect.suspend(() => {
        const r = world.destroy(inst.uuid ?? "", inst.cloud_resource)
        return r === null ? Effect.void : Effect.fail(err(inst.cloud_resource, "destroy", r))
      }),
    coresPerNode: (resource) =>
      Effect.suspend(() => {
        const r = world.resourceSpec(resource)
        return r === undefined
          ? Effect.fail(new CloudError({ resource, op: "flavour", kind: "notfound", message: `no such resource ${resource}` }))
          : Effect.succeed(r.cores)
      })
  }
}

/** The simulated batch system of `world` as the Cluster layer. */
export const layerSimCluster = (world: SimWorld, epoch: number, options: SimClusterOptions = {}): Layer.Layer<Cluster> =>
  Layer.succeed(Cluster, simClusterService(world, epoch, options))
/** The simulated clouds of `world` as the Cloud layer. */
export const layerSimCloud = (world: SimWorld, epoch: number): Layer.Layer<Cloud> => Layer.succeed(Cloud, simCloudService(world, epoch))
/** Ready is what the world says (its configuration time has passed). */
export const layerSimChecker = (world: SimWorld): Layer.Layer<Checker> =>
  Layer.succeed(Checker, { check: (inst: Instance) => Effect.sync(() => world.isReady(inst.uuid ?? "")) })

/** Every service the engine needs, over one world (no hooks). */
export const layerSim = (world: SimWorld, epoch: number) =>
  Layer.mergeAll(layerSimCluster(world, epoch), layerSimCloud(world, epoch), layerSimChecker(world), layerNoHooks)

/** layerSim built once, as a Context (the engine resolves its services when it starts). */
export const simContext = (world: SimWorld, epoch: number) => engineContext(layerSim(world, epoch))

// ---------------------------------------------------------------- tasks

interface Waiting {
  readonly label: string
  readonly task: Effect.Effect<Apply>
}
interface Running {
  readonly done: number
  readonly apply: Apply
}

/**
 * Tasks in the simulation: at most `workers` run at once; each acts on the
 * world when it starts and its result reaches the engine `latency` seconds
 * later (the time a real API call takes).
 */
export class SimTaskRunner implements TaskRunner {
  private waiting: Array<Waiting> = []
  private running: Array<Running> = []
  private results: Array<Apply> = []

  constructor(
    private readonly workers: number,
    private readonly latency: number,
    /** Runs tasks (synchronously, with the simulated services and Clock). */
    private readonly runSync: <A>(eff: Effect.Effect<A>) => A
  ) {}

  /** Whether a waiting task can start now (a worker is free): pumpEffect has something to run. */
  startable(): boolean {
    return this.running.length < this.workers && this.waiting.length > 0
  }

  /**
   * pump() as an Effect, to run in the same fiber as the engine step before
   * it (one Runtime.runSync per advance instead of two): the tasks that start
   * now, run in order, each acting on the world as it starts.
   */
  pumpEffect(now: number): Effect.Effect<void> {
    const free = Math.min(this.workers - this.running.length, this.waiting.length)
    if (free <= 0) return Effect.void
    const done = Math.round((now + this.latency) * 1000) / 1000
    const start = this.waiting.splice(0, free)
    return Effect.forEach(
      start,
      (w) =>
        Effect.map(w.task, (apply) => {
          this.running.push({ done, apply })
        }),
      { discard: true }
    )
  }

  readonly submit = (label: string, task: Effect.Effect<Apply>) =>
    Effect.sync(() => {
      this.waiting.push({ label, task })
    })

  readonly drain = () => this.results.splice(0, this.results.length)

  readonly stats = () => ({ waiting: this.waiting.length, running: this.running.length, results_pending: this.results.length })

  /** Start waiting tasks while workers are free. */
  pump(now: number): void {
    if (this.startable()) this.runSync(this.pumpEffect(now))
  }

  /** Move tasks finished by `now` to the results; true when any did. */
  complete(now: number): boolean {
    let any = false
    while (this.running.length > 0 && this.running[0].done <= now) {
      this.results.push(this.running.shift()!.apply)
      any = true
    }
    return any
  }

  nextCompletion(): number {
    return this.running.length > 0 ? this.running[0].done : Infinity
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0 || this.results.length > 0
  }
}
