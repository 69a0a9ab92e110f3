/**
 * Shadow mode (`dyncluster run --dry-run`, docs/daemon.md "Shadow mode"):
 * the engine observes the batch system and the clouds and decides every step
 * exactly as usual, but no mutating operation ever reaches them.
 *
 * Two layers, composed at one point (`dryRunContext`) over the engine's
 * services, whatever built them (live registry, simulated world):
 *
 * - the guard (`guard`) lets each read through and refuses each mutating
 *   method with a `DryRunRefused`, by a table per service
 *   (`clusterAccess`, `cloudAccess`, `checkerAccess`, `hooksAccess`) that the
 *   compiler holds exhaustive: a method added to a service does not compile
 *   until it is classified. A member missing from a table is not copied, so
 *   it cannot be called either.
 * - the shadow (`makeShadow`) sits on the guard and gives the engine the
 *   services it expects: what the engine boots becomes a would-be node, kept
 *   here and never asked of a cloud. A would-be instance is Starting until
 *   the resource's boot time has passed, then Active; the shadow's batch
 *   system lists it Idle once the engine "adds" it (Held once held), so the
 *   engine's own rules take it through the usual lifecycle: it counts as
 *   capacity for the next decision, and it retires by the idle rules (hold,
 *   remove, destroy, forget). Mutations of real nodes and instances are
 *   refused by the guard and reach the engine as the service's own error.
 */
import { Clock, Context, Data, Effect } from "effect"
import { emptyInstance, InstanceState, NodeState, type Instance } from "../model/types.ts"
import {
  Checker,
  Cloud,
  CloudError,
  Cluster,
  ClusterError,
  Hooks,
  type CheckerService,
  type ClusterNode,
  type ClusterService,
  type CloudService,
  type HooksService
} from "./services.ts"

export type Access = "read" | "mutate"

/** A mutating operation that shadow mode did not call. */
export class DryRunRefused extends Data.TaggedError("DryRunRefused")<{
  readonly service: string
  readonly op: string
  readonly message: string
}> {}

export const clusterAccess = {
  query: "read",
  status: "read",
  instanceActive: "mutate",
  addNode: "mutate",
  removeNode: "mutate",
  holdNode: "mutate",
  unholdNode: "mutate",
  vacateNode: "mutate",
  checkReservation: "mutate"
} as const satisfies Record<keyof ClusterService, Access>

export const cloudAccess = {
  list: "read",
  boot: "mutate",
  refresh: "read",
  destroy: "mutate",
  coresPerNode: "read"
} as const satisfies Record<keyof CloudService, Access>

/** The configuration checker only looks (it answers whether a VM is ready). */
export const checkerAccess = { check: "read" } as const satisfies Record<keyof CheckerService, Access>

/** Hook commands are the administrator's own scripts: never run in shadow mode. */
export const hooksAccess = { run: "mutate" } as const satisfies Record<keyof HooksService, Access>

/** A service with its mutating members replaced by refusals. */
export type Guarded<S, T extends Record<keyof S, Access>> = {
  readonly [K in keyof S]: T[K] extends "read"
    ? S[K]
    : S[K] extends (...args: infer A) => Effect.Effect<unknown, unknown, unknown>
      ? (...args: A) => Effect.Effect<never, DryRunRefused>
      : Effect.Effect<never, DryRunRefused>
}

/** `svc` with every member `table` calls "mutate" refused and every "read" member passed through; members not in `table` are dropped. */
export const guard = <S extends object, const T extends Record<keyof S, Access>>(service: string, svc: S, table: T): Guarded<S, T> => {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(table) as Array<keyof S & string>) {
    const member = svc[key] as unknown
    if (table[key] === "read") {
      out[key] = member
      continue
    }
    const refusal = () => new DryRunRefused({ service, op: key, message: `dry run: ${service}.${key} changes the ${service === "cloud" ? "cloud" : service === "hooks" ? "system" : "batch system"} and is not called` })
    out[key] = typeof member === "function" ? (..._args: ReadonlyArray<unknown>) => Effect.fail(refusal()) : Effect.suspend(() => Effect.fail(refusal()))
  }
  return out as Guarded<S, T>
}

// ---------------------------------------------------------------- the shadow

/** A node the engine booted in shadow mode (nothing was asked of a cloud). */
export interface WouldBeNode {
  readonly name: string
  readonly resource: string
  readonly cores: number
  /** Seconds since the epoch (engine Clock). */
  readonly bootedAt: number
  /** When it would be Active: bootedAt + the resource's boot time. */
  readonly activeAt: number
  /** Listed by the shadow's batch system (the engine added it). */
  joined: boolean
  held: boolean
}

export interface ShadowOptions {
  /** Seconds from a boot until the node would be ready to join the cluster (boot + contextualisation). */
  readonly bootTime: (resource: string) => number
  /** Each refused mutating call, e.g. for a debug log line. */
  readonly onRefused?: (e: DryRunRefused) => void
}

export const WOULD_BE_PREFIX = "would-be-"

export interface Shadow {
  /** The would-be nodes now (not yet destroyed). */
  readonly nodes: () => ReadonlyArray<WouldBeNode>
  /** Whether the instance uuid (or host name) is one of the shadow's would-be nodes, destroyed or not. */
  readonly isWouldBe: (nameOrUuid: string | null) => boolean
  /** Refused mutating calls so far, per "service.op". */
  readonly refused: () => Readonly<Record<string, number>>
  readonly bootTime: (resource: string) => number
  /** The engine's services, as shadow mode gives them: reads through, mutations refused, boots would-be. */
  readonly wrap: (services: DryRunServices) => DryRunServices
}

export interface DryRunServices {
  readonly cluster: ClusterService
  readonly cloud: CloudService
  readonly checker: CheckerService
  readonly hooks: HooksService
}

const nowSeconds = Effect.map(Clock.currentTimeMillis, (ms) => ms / 1000)

export const makeShadow = (opts: ShadowOptions): Shadow => {
  const nodes = new Map<string, WouldBeNode>()
  /** Would-be nodes destroyed: a refresh of one says Inexistent (the cloud never knew it). */
  const gone = new Set<string>()
  const refusedCounts: Record<string, number> = {}
  let serial = 0
  const wouldBe = (name: string | null | undefined): WouldBeNode | undefined => (name == null ? undefined : nodes.get(name))
  /** The guard's refusal, counted and reported, as the service's own error. */
  const refused = <E>(e: DryRunRefused, as: (e: DryRunRefused) => E): E => {
    const key = `${e.service}.${e.op}`
    refusedCounts[key] = (refusedCounts[key] ?? 0) + 1
    opts.onRefused?.(e)
    return as(e)
  }
  const instanceOf = (n: WouldBeNode, now: number): Instance => ({
    ...emptyInstance(n.resource, n.bootedAt),
    uuid: n.name,
    instance_name: n.name,
    dns_name: now >= n.activeAt ? n.name : null,
    vcpu_number: n.cores,
    state: now >= n.activeAt ? InstanceState.Active : InstanceState.Starting,
    last_update_time: now
  })
  const clusterNodeOf = (n: WouldBeNode): ClusterNode => ({
    hostname: n.name,
    state: n.held ? NodeState.Held : NodeState.Idle,
    jobs: null,
    num_proc: n.cores,
    extra_attributes: null
  })

  const wrap = (real: DryRunServices): DryRunServices => {
    const cluster = guard("cluster", real.cluster, clusterAccess)
    const cloud = guard("cloud", real.cloud, cloudAccess)
    const checker = guard("checker", real.checker, checkerAccess)
    const hooks = guard("hooks", real.hooks, hooksAccess)
    const clusterError = (e: DryRunRefused) => new ClusterError({ op: e.op, message: e.message })
    const cloudError = (resource: string) => (e: DryRunRefused) => new CloudError({ resource, op: e.op, kind: "invalid", message: e.message })
    /** On a would-be node: `onShadow`; on a real one: the guard's refusal as a ClusterError. */
    const onNode =
      <A extends ReadonlyArray<unknown>>(
        refuse: (host: string, ...rest: A) => Effect.Effect<never, DryRunRefused>,
        onShadow: (n: WouldBeNode) => void = () => {}
      ) =>
      (host: string, ...rest: A): Effect.Effect<void, ClusterError> => {
        const n = wouldBe(host)
        if (n !== undefined) return Effect.sync(() => onShadow(n))
        return Effect.mapError(refuse(host, ...rest), (e) => refused(e, clusterError))
      }

    const shadowCluster: ClusterService = {
      query: Effect.map(cluster.query, (view) => {
        const extra: Array<ClusterNode> = []
        for (const n of nodes.values()) if (n.joined) extra.push(clusterNodeOf(n))
        return extra.length === 0 ? view : { ...view, nodes: [...view.nodes, ...extra] }
      }),
      status: cluster.status,
      instanceActive: (nn) => onNode(() => cluster.instanceActive(nn))(nn.hostname),
      addNode: (nn) =>
        onNode(
          () => cluster.addNode(nn),
          (n) => {
            n.joined = true
            n.held = false
          }
        )(nn.hostname),
      removeNode: onNode(cluster.removeNode, (n) => {
        n.joined = false
      }),
      holdNode: onNode(cluster.holdNode, (n) => {
        n.held = true
      }),
      unholdNode: onNode(cluster.unholdNode, (n) => {
        n.held = false
      }),
      vacateNode: onNode(cluster.vacateNode),
      checkReservation: onNode(cluster.checkReservation)
    }

    const shadowCloud: CloudService = {
      list: (resource) =>
        Effect.flatMap(cloud.list(resource), (real) =>
          Effect.map(nowSeconds, (now) => {
            const extra = [...nodes.values()].filter((n) => n.resource === resource).map((n) => instanceOf(n, now))
            return extra.length === 0 ? real : [...real, ...extra]
          })
        ),
      // Never asked of the cloud: the guard's answer is the proof; the node is the shadow's.
      boot: (resource, options) =>
        Effect.flatMap(Effect.either(cloud.boot(resource, options)), (r) =>
          Effect.gen(function* () {
            if (r._tag === "Right") return r.right // (never: the guard refuses every boot)
            refused(r.left, (e) => e)
            const now = yield* nowSeconds
            const cores = yield* Effect.orElseSucceed(cloud.coresPerNode(resource), () => 0)
            serial++
            const n: WouldBeNode = {
              name: `${WOULD_BE_PREFIX}${resource}-${serial}`,
              resource,
              cores,
              bootedAt: now,
              activeAt: now + Math.max(0, opts.bootTime(resource)),
              joined: false,
              held: false
            }
            nodes.set(n.name, n)
            return instanceOf(n, now)
          })
        ),
      refresh: (instance) => {
        const n = wouldBe(instance.uuid) ?? wouldBe(instance.instance_name)
        if (n === undefined) {
          // A would-be node already destroyed: the cloud never knew it.
          if (instance.uuid !== null && gone.has(instance.uuid)) return Effect.succeed({ ...instance, state: InstanceState.Inexistent })
          return cloud.refresh(instance)
        }
        return Effect.map(nowSeconds, (now) => instanceOf(n, now))
      },
      destroy: (instance) => {
        const n = wouldBe(instance.uuid) ?? wouldBe(instance.instance_name)
        if (n !== undefined)
          return Effect.sync(() => {
            nodes.delete(n.name)
            gone.add(n.name)
          })
        return Effect.mapError(cloud.destroy(instance), (e) => refused(e, cloudError(instance.cloud_resource)))
      },
      coresPerNode: cloud.coresPerNode
    }

    const shadowChecker: CheckerService = {
      // a would-be node is configured by the time it is Active
      check: (instance) => (wouldBe(instance.uuid) !== undefined ? Effect.succeed(true) : checker.check(instance))
    }

    const shadowHooks: HooksService = {
      run: (hook, args) => Effect.catchAll(hooks.run(hook, args), (e) => Effect.sync(() => void refused(e, (x) => x)))
    }

    return { cluster: shadowCluster, cloud: shadowCloud, checker: shadowChecker, hooks: shadowHooks }
  }

  return {
    nodes: () => [...nodes.values()],
    // (a destroyed one too: the engine shows it Deleting until it forgets it)
    isWouldBe: (name) => name !== null && (nodes.has(name) || gone.has(name)),
    refused: () => ({ ...refusedCounts }),
    bootTime: opts.bootTime,
    wrap
  }
}

export type EngineServices = Cluster | Cloud | Checker | Hooks

/**
 * The one composition point of shadow mode: the engine's services in
 * `ctx`, whatever built them, replaced by the shadow's (other services in
 * the context stay).
 */
export const dryRunContext = <R>(ctx: Context.Context<R | EngineServices>, shadow: Shadow): Context.Context<R | EngineServices> => {
  const s = shadow.wrap({
    cluster: Context.get(ctx as Context.Context<EngineServices>, Cluster),
    cloud: Context.get(ctx as Context.Context<EngineServices>, Cloud),
    checker: Context.get(ctx as Context.Context<EngineServices>, Checker),
    hooks: Context.get(ctx as Context.Context<EngineServices>, Hooks)
  })
  return ctx.pipe(Context.add(Cluster, s.cluster), Context.add(Cloud, s.cloud), Context.add(Checker, s.checker), Context.add(Hooks, s.hooks))
}
