/**
 * The operator actions of SPEC §5 (engine.api): hold, unhold, vacate, delete
 * a node; launch, freeze, restore, drain a resource; auto mode on/off. Each
 * runs under the engine lock, between steps, and may be refused (ActionError:
 * 400 for a request that cannot apply, 404 for an unknown name, 500 when the
 * batch system or the cloud fails).
 */
import { Clock, Context, Effect } from "effect"
import { redactSecrets } from "../model/config.ts"
import { NodeState, NodeStateNames, hasJobs, jobList, type WorkerNode } from "../model/types.ts"
import type { Actuator } from "./actuation.ts"
import type { OperatorDecision } from "./decisions.ts"
import { ActionError, type EngineApi, withStamp, withStatus } from "./api.ts"
import { serverStatus } from "./snapshot.ts"
import { Cluster, Hooks } from "./services.ts"
import type { EngineState, ResState } from "./state.ts"

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

const bad = (message: string) => Effect.fail(new ActionError({ status: 400, message }))
const notFound = (message: string) => Effect.fail(new ActionError({ status: 404, message }))
const failed = (message: string) => Effect.fail(new ActionError({ status: 500, message }))
const stateName = (n: WorkerNode) => NodeStateNames[n.state]
// Until start-up recovery has listed a resource's instances, the engine cannot count its nodes:
// a launch or a freeze would take "current" as 0 (after a restart: boots above max, a freeze at 0).
const notRecovered = (r: ResState) => `${r.name}: its instances are not listed yet (start-up recovery waits for the cloud and the batch system); try again`

export interface ActionDeps {
  readonly st: EngineState
  readonly ctx: Context.Context<Cluster | Hooks | any>
  readonly exclusive: <A, E, R>(eff: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly version: () => number | null
  readonly actuator: Actuator
  readonly refreshView: Effect.Effect<void>
  readonly snapshotAt: (now: number) => import("./api.ts").Snapshot
  /** Reports an action once carried out, as a decision (engine.ts onDecisions). */
  readonly decided: (d: OperatorDecision) => void
  /** Shadow mode (`run --dry-run`): GET /server/status says dry_run. */
  readonly dryRun?: boolean
}

export const makeApi = ({ st, ctx, exclusive, version, actuator, refreshView, snapshotAt, decided, dryRun = false }: ActionDeps): EngineApi => {
  const cluster = Context.get(ctx, Cluster)
  const hooks = Context.get(ctx, Hooks)

  /**
   * An operator action changes what the next steps decide (limits, auto mode,
   * node states) without changing the world: `canSkip` must not call them quiet.
   */
  const operatorActed = Effect.sync(() => {
    st.lastStepQuiet = false
    st.viewSinceProvision = true
  })

  const locked = <A>(eff: Effect.Effect<A, ActionError, any>): Effect.Effect<A, ActionError> =>
    exclusive(
      Effect.gen(function* () {
        st.currentNow = yield* nowSeconds
        return yield* Effect.provide(eff, ctx)
      }).pipe(Effect.ensuring(operatorActed))
    ) as Effect.Effect<A, ActionError>

  const cloudNode = (hostname: string) =>
    Effect.suspend(() => {
      const n = st.findByHost(hostname)
      if (n !== undefined) return Effect.succeed(n)
      if (st.physical.some((p) => p.hostname === hostname)) return bad(`${hostname} is a physical node: the scaler never touches it`)
      return notFound(`worker node ${hostname} not found`)
    })
  const resource = (name: string) =>
    Effect.suspend(() => {
      const r = st.resources.get(name)
      return r === undefined ? notFound(`resource ${name} not found`) : Effect.succeed(r)
    })
  const byOperator = { reason: "operator", by: "operator" } as const
  const nodeDecision = (kind: "hold" | "unhold" | "vacate" | "delete", n: WorkerNode) =>
    Effect.sync(() => decided({ kind, host: n.hostname, resource: n.instance?.cloud_resource ?? "", ...byOperator }))
  const clusterCall = <A>(what: string, eff: Effect.Effect<A, { message: string }>) =>
    eff.pipe(Effect.mapError((e) => new ActionError({ status: 500, message: `${what} failed: ${e.message}` })))

  const api: EngineApi = {
    snapshot: Effect.map(nowSeconds, (now) => snapshotAt(now)),
    config: Effect.sync(() => redactSecrets(JSON.parse(JSON.stringify(st.config)))),
    hold: (hostname) =>
      locked(
        Effect.gen(function* () {
          const n = yield* cloudNode(hostname)
          if (n.state !== NodeState.Idle && n.state !== NodeState.Busy) return yield* bad(`${hostname} is ${stateName(n)}: only Idle or Busy nodes can be held`)
          if (n.instance.tasked) return yield* bad(`${hostname} has a task in flight; try again`)
          yield* clusterCall(`hold ${hostname}`, cluster.holdNode(n.hostname))
          st.setState(n, NodeState.Holding, st.currentNow)
          st.log("info", `operator held ${hostname}`, { host: hostname })
          yield* nodeDecision("hold", n)
        })
      ),
    unhold: (hostname) =>
      locked(
        Effect.gen(function* () {
          const n = yield* cloudNode(hostname)
          if (n.state !== NodeState.Held) return yield* bad(`${hostname} is ${stateName(n)}: only Held nodes can be unheld`)
          yield* clusterCall(`unhold ${hostname}`, cluster.unholdNode(n.hostname))
          st.setState(n, hasJobs(n) ? NodeState.Busy : NodeState.Idle, st.currentNow)
          st.log("info", `operator unheld ${hostname}`, { host: hostname })
          yield* nodeDecision("unhold", n)
        })
      ),
    vacate: (hostname) =>
      locked(
        Effect.gen(function* () {
          const n = yield* cloudNode(hostname)
          // Not in the batch system yet: no job can run there (and the batch system does not know the name).
          if (n.state === NodeState.Starting) return yield* bad(`${hostname} is Starting: it is not in the batch system yet, so no job runs there`)
          yield* clusterCall(`vacate ${hostname}`, cluster.vacateNode(n.hostname, jobList(n.jobs)))
          st.log("info", `operator vacated ${hostname}`, { host: hostname })
          yield* nodeDecision("vacate", n)
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
          const nn = actuator.newNodeOf(n)
          const removed = yield* Effect.either(cluster.removeNode(n.hostname, nn.reservation))
          if (removed._tag === "Left" && n.state === NodeState.Held) return yield* failed(`removing ${hostname} from the cluster failed: ${removed.left.message}`)
          yield* hooks.run("post_remove_node_command", [nn.hostname, nn.ip ?? ""])
          st.toDeleting(n, st.currentNow, "operator deleted it")
          yield* nodeDecision("delete", n)
        })
      ),
    launch: (name, num) =>
      locked(
        Effect.gen(function* () {
          const r = yield* resource(name)
          if (!Number.isInteger(num) || num < 0) return yield* bad(`num must be a non-negative integer`)
          if (!r.recovered) return yield* failed(notRecovered(r))
          const current = st.nodesOf(name).length + r.inflight
          if (current + num > r.max) return yield* bad(`${name} has ${current} node(s); ${num} more would exceed its max of ${r.max}`)
          st.log("info", `operator launches ${num} node(s) in ${name}`, { resource: name })
          for (let i = 0; i < num; i++) yield* actuator.bootTask(r, "operator")
          decided({ kind: "launch", resource: name, count: num, ...byOperator })
        })
      ),
    freeze: (name) =>
      locked(
        Effect.gen(function* () {
          const r = yield* resource(name)
          if (!r.recovered) return yield* failed(notRecovered(r))
          const current = st.nodesOf(name).length + r.inflight
          r.min = current
          r.max = current
          r.mode = "frozen"
          st.log("info", `operator froze ${name} at ${current} node(s)`, { resource: name })
          decided({ kind: "freeze", resource: name, count: current, ...byOperator })
        })
      ),
    restore: (name) =>
      locked(
        Effect.gen(function* () {
          const r = yield* resource(name)
          r.min = r.cfgMin
          r.max = r.cfgMax
          r.mode = "normal"
          st.log("info", `operator restored ${name} (min ${r.min}, max ${r.max})`, { resource: name })
          decided({ kind: "restore", resource: name, min: r.min, max: r.max, ...byOperator })
        })
      ),
    drain: (name) =>
      locked(
        Effect.gen(function* () {
          const r = yield* resource(name)
          r.min = 0
          r.max = 0
          r.mode = "draining"
          st.log("info", `operator drains ${name}`, { resource: name })
          const why = `resource ${name} is draining`
          const hosts: Array<string> = []
          for (const n of st.nodesOf(name)) {
            if (n.instance.tasked) continue
            const host = n.hostname
            if (n.state === NodeState.Idle || n.state === NodeState.Busy) yield* actuator.holdTask(n, st.currentNow, why)
            else if (n.state === NodeState.Error) yield* actuator.removeTask(n, why, "error-timeout")
            else if (n.state === NodeState.Starting) st.toDeleting(n, st.currentNow, why)
            else continue
            hosts.push(host)
          }
          decided({ kind: "drain", resource: name, hosts, ...byOperator })
        })
      ),
    setAuto: (on) =>
      exclusive(
        Effect.sync(() => {
          st.autoMode = on
          st.log("info", `auto mode ${on ? "on" : "off"}`)
        }).pipe(Effect.zipRight(operatorActed))
      )
  }

  return withStatus(
    withStamp(
      api,
      Effect.map(nowSeconds, (now) => ({ version: version(), time: now }))
    ),
    Effect.sync(() => serverStatus(st, dryRun))
  )
}
