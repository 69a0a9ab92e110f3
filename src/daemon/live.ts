/**
 * `dyncluster run --config`: the engine on the live layers the configuration
 * names (registry.ts), driven by the live loop (loop.ts) with the real Clock.
 * Cloud and cluster calls run as tasks on fibers; on shutdown, tasks not yet
 * started are dropped and running ones get a grace period to finish before
 * they are interrupted (every task is written so that an interruption leaves
 * nothing start-up recovery cannot repair).
 */
import { Clock, Context, Duration, Effect, Either, Layer, Option, Schedule, type Scope } from "effect"
import { statusOf, withStatus, type ServerStatus, type Snapshot } from "../engine/api.ts"
import { makeEngine, type StepDecisions } from "../engine/engine.ts"
import { supportedPolicy, unsupportedPolicy } from "../engine/policy.ts"
import { Cloud, layerNoChecker, type Checker, type Cluster, type CloudService, type Hooks } from "../engine/services.ts"
import { CloudResources, layerClouds } from "../live/cloud.ts"
import { makeLiveTaskRunner, type TaskRunner } from "../engine/tasks.ts"
import type { CycleHistogram } from "../http/metrics.ts"
import { engineSettings, loadConfigFile, redactSecrets, type ConfigFile } from "../model/config.ts"
import { observedApi, type EngineRunner, type ShutdownNotes } from "./daemon.ts"
import { checkHookTemplates, hookTemplates, layerCommandHooks } from "./hooks.ts"
import type { LogSink } from "./log.ts"
import { makeWake, runLiveLoop, slicedPause } from "./loop.ts"
import { makeCloudHealth, type CloudHealth } from "./cloud-health.ts"
import { checkerKind, liveRegistry, type LiveRegistry } from "./registry.ts"
import { CloudWatch, type LiveSetup } from "./setup.ts"
import { drainRemoved, type ReloadTarget } from "./reload.ts"
import { DaemonError } from "./settings.ts"
import { checkConfig } from "./validate.ts"
import { engineLogTo } from "./sim.ts"
import { limitRepeats } from "./log-limit.ts"
import { composeServices, type ServiceWrapping } from "./shadow.ts"

/** Every live layer the configuration needs that is not available, in words (empty = all there). */
export const missingLayers = (config: ConfigFile, registry: LiveRegistry = liveRegistry): Array<string> => {
  const out: Array<string> = []
  const type = config.cluster.type
  if (type === "simulated" && config.cluster.scenario === undefined) {
    out.push(
      "cluster type simulated needs cluster.scenario under --config: the scenario file whose batch system (physical nodes, scheduler, workload) stands in for the cluster; a whole simulation runs with `dyncluster run --sim SCENARIO`"
    )
  } else if (registry.cluster[type] === undefined) out.push(`cluster type ${type} not available yet`)
  const byType = new Map<string, Array<string>>()
  for (const [name, r] of Object.entries(config.cloud)) {
    if (r.type === "simulated" && type === "simulated") continue
    if (registry.cloud[r.type] === undefined) byType.set(r.type, [...(byType.get(r.type) ?? []), name])
  }
  for (const [t, names] of byType) out.push(`cloud type ${t} not available yet (resource ${names.join(", ")})`)
  const simulated = Object.entries(config.cloud).filter(([, r]) => r.type === "simulated").map(([name]) => name)
  if (type === "simulated" && simulated.length > 0) {
    out.push(
      `cloud type simulated (resource ${simulated.join(", ")}) with cluster type simulated: when both the batch system and the cloud are simulated, run the whole simulation with \`dyncluster run --sim SCENARIO\``
    )
  }
  const kind = checkerKind(config["dynamic-cluster"]["config-checker"])
  if (kind !== null && registry.checker[kind] === undefined) out.push(`config checker ${kind} not available yet`)
  return out
}

const setupError = (what: string) => (e: { readonly message: string }) => new DaemonError({ message: `${what}: ${e.message}` })

/**
 * The engine's services under `run --config`, composed from the live layers
 * the configuration names (registry.ts). This is the one place they are put
 * together, in this order:
 *
 *   Cluster     registry.cluster[cluster.type]; it may also provide a CloudWatch
 *   Cloud       one layer per resource (registry.cloud[cloud.<res>.type]),
 *               each watched by `health` (auth errors for /server/status),
 *               composed by layerClouds (src/live/cloud.ts), then seen by the
 *               cluster's CloudWatch when it has one
 *   Checker     registry.checker of dynamic-cluster.config-checker, else none
 *   Hooks       the configured commands (hooks.ts)
 *
 * plus CloudResources, through which a reload adds a new resource's cloud.
 * Each is built after the one before; the first that cannot be built stops
 * the start with its reason.
 */
export const liveLayer = (
  setup: LiveSetup,
  registry: LiveRegistry = liveRegistry,
  health?: CloudHealth
): Layer.Layer<Cluster | Cloud | Checker | Hooks | CloudResources, DaemonError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const { config } = setup
      const missing = missingLayers(config, registry)
      if (missing.length > 0) return yield* new DaemonError({ message: missing.join("\n") })
      const hooks = checkHookTemplates(hookTemplates(engineSettings(config)))
      if (Either.isLeft(hooks)) return yield* new DaemonError({ message: hooks.left.message })
      const cluster = registry.cluster[config.cluster.type](setup).pipe(Layer.mapError(setupError(`cluster type ${config.cluster.type}`)))
      const clouds = layerClouds(
        Object.entries(config.cloud).map(
          ([name, r]) => [name, watchedBy(health, name, registry.cloud[r.type](name, r, setup).pipe(Layer.mapError(setupError(`cloud resource ${name}`))))] as const
        )
      )
      const cc = config["dynamic-cluster"]["config-checker"]
      const kind = checkerKind(cc)
      const checker =
        kind === null || cc === null ? layerNoChecker : registry.checker[kind](cc, setup).pipe(Layer.mapError(setupError(`config checker ${kind}`)))
      return Layer.merge(checker, layerCommandHooks(setup.settings, setup.log)).pipe(
        Layer.provideMerge(layerClusterWatch.pipe(Layer.provideMerge(clouds.pipe(Layer.provideMerge(cluster)))))
      )
    })
  )

/** A resource's Cloud layer whose calls `health` observes. */
const watchedBy = <E>(health: CloudHealth | undefined, name: string, layer: Layer.Layer<Cloud, E>): Layer.Layer<Cloud, E> =>
  health === undefined ? layer : Layer.map(layer, (ctx) => Context.add(ctx, Cloud, health.watch(name, Context.get(ctx, Cloud))))

/** The engine's Cloud as the cluster layer's CloudWatch sees it, when the cluster layer provides one. */
const layerClusterWatch: Layer.Layer<Cloud, never, Cloud> = Layer.effect(
  Cloud,
  Effect.gen(function* () {
    const cloud = yield* Cloud
    const watch = yield* Effect.serviceOption(CloudWatch)
    return Option.isSome(watch) ? watch.value(cloud) : cloud
  })
)

/**
 * Wraps the live task runner: after `close()`, tasks that have not started
 * yet are dropped (they would start new work during shutdown).
 */
export const closableTasks = (inner: TaskRunner) => {
  let closed = false
  const runner: TaskRunner = {
    submit: (label, task) =>
      inner.submit(
        label,
        Effect.suspend(() => {
          return closed ? Effect.succeed(() => {}) : task
        })
      ),
    drain: inner.drain,
    stats: inner.stats
  }
  return {
    runner,
    close: () => {
      closed = true
    }
  }
}

export interface LiveDaemonOptions {
  readonly config: ConfigFile
  /** The file's document as written (GET /server/config); absent: that path shows the effective configuration. */
  readonly document?: unknown
  readonly policy?: string | undefined
  readonly log: LogSink
  readonly histogram: CycleHistogram
  /** Seconds running tasks get to finish on shutdown before they are interrupted. */
  readonly graceSeconds: number
  readonly notes: ShutdownNotes
  /** Which layer serves which type name (default: registry.ts). */
  readonly registry?: LiveRegistry
  /** Each full engine step's decisions (engine.ts `EngineOptions.onDecisions`). */
  readonly onDecisions?: (d: StepDecisions) => void
  /** The configuration file (relative paths in it are resolved against its directory). */
  readonly configPath?: string | undefined
  /** Shadow mode and the decisions file's queue observer (shadow.ts composeServices). */
  readonly services?: ServiceWrapping
}

/**
 * Live mode's additions to the snapshot (additive: every field of the seed's
 * API stays): `clouds` in /server/status says per resource whether the cloud
 * accepts the credentials, and each /resource entry shows its boot back-off.
 */
/** /server/status in live mode: the engine's, with each cloud's credentials. */
const liveStatus = (s: ServerStatus, health: CloudHealth): ServerStatus => ({ ...s, clouds: health.view() })

export const withLiveStatus = (s: Snapshot, health: CloudHealth): Snapshot => ({
  ...s,
  status: liveStatus(s.status, health),
  resources: s.resources.map((r) => {
    const b = s.backoff.find((x) => x.resource === r.name)
    return Object.assign({}, r, { backoff: { until: b?.until ?? 0, failures: b?.failures ?? 0, invalid: b?.invalid ?? null } })
  })
})

export const makeLiveRunner = (opts: LiveDaemonOptions): Effect.Effect<EngineRunner, DaemonError, Scope.Scope> =>
  Effect.gen(function* () {
    const settings = engineSettings(opts.config)
    // the daemon runs a supported policy only (experiments are for simulations)
    const policyName = opts.policy ?? settings.policy
    const policy = supportedPolicy(policyName)
    if (policy === undefined) {
      return yield* new DaemonError({ message: unsupportedPolicy(policyName, opts.policy !== undefined ? "--policy" : "dynamic-cluster.policy")! })
    }
    const health = makeCloudHealth(opts.log)
    const registry = opts.registry ?? liveRegistry
    // Shadow mode and the decisions file's queue observer wrap the composed services (shadow.ts composeServices);
    // a cloud added by a reload goes into CloudResources, behind the same wrapped dispatcher.
    const layer = liveLayer({ config: opts.config, settings, log: opts.log, configPath: opts.configPath }, registry, health)
    const wrap = opts.services !== undefined ? composeServices(opts.services) : null
    const ctx: Context.Context<Cluster | Cloud | Checker | Hooks | CloudResources> = yield* Layer.build(
      wrap !== null ? Layer.map(layer, (c) => wrap<CloudResources>(c)) : layer
    )
    const clouds = Context.get(ctx, CloudResources)
    const scope = yield* Effect.scope
    const wake = yield* makeWake
    const inner = yield* makeLiveTaskRunner(settings.workers, wake.signal)
    const tasks = closableTasks(inner)
    // Runs before the task runner's own finalizer (which interrupts whatever is left).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        tasks.close()
        const deadline = (yield* Clock.currentTimeMillis) + opts.graceSeconds * 1000
        const { running: before, waiting: queued } = inner.stats()
        while (inner.stats().running + inner.stats().waiting > 0 && (yield* Clock.currentTimeMillis) < deadline) yield* Effect.sleep(Duration.millis(100))
        const left = inner.stats().running
        yield* inner.shutdown
        opts.notes.push(
          `${before - left} running cloud task(s) finished, ${left} abandoned after ${opts.graceSeconds}s, ${queued} queued task(s) dropped (start-up recovery picks up after them)`
        )
      })
    )
    // the same warning every poll (a cloud that refuses the credentials) is logged once per 5 minutes
    const engine = yield* makeEngine({
      config: opts.config,
      tasks: tasks.runner,
      policy,
      log: limitRepeats(engineLogTo(opts.log, null)),
      ...(opts.onDecisions !== undefined ? { onDecisions: opts.onDecisions } : {}),
      ...(opts.services?.shadow !== undefined ? { shadow: opts.services.shadow } : {}),
      // a step over a big queue lets the API in between its phases and slices
      pause: slicedPause()
    }).pipe(Effect.provide(ctx))
    yield* Effect.forkScoped(Effect.repeat(health.recheck, Schedule.spaced(Duration.seconds(settings.cloudPollerInterval))))
    const resources = Object.keys(opts.config.cloud).length
    const api = observedApi(() => engine.api, wake.signal)
    const file = opts.configPath
    // GET /server/config: the file as written, following reloads
    let written: unknown = opts.document
    const reload: ReloadTarget | undefined =
      file === undefined
        ? undefined
        : {
            file,
            // As strict as a start: the file decodes, every live layer exists, check-config's offline checks pass.
            read: Effect.gen(function* () {
              const r = loadConfigFile(file)
              if (Either.isLeft(r)) return yield* Effect.fail(r.left.problems)
              const missing = missingLayers(r.right.config, registry)
              const { problems } = yield* Effect.scoped(checkConfig(r.right.config, file))
              if (missing.length + problems.length > 0) return yield* Effect.fail([...missing, ...problems])
              return r.right
            }),
            apply: ({ config, document }) =>
              Effect.gen(function* () {
                // Clients for new resources first: if one cannot be built, nothing changes.
                const fresh = new Map<string, CloudService>()
                const problems: Array<string> = []
                for (const [name, rc] of Object.entries(config.cloud)) {
                  if (clouds.has(name)) continue
                  const setup = { config, settings: engineSettings(config), log: opts.log, configPath: file }
                  const built = yield* Effect.either(Layer.buildWithScope(registry.cloud[rc.type](name, rc, setup), scope))
                  if (Either.isLeft(built)) problems.push(`cloud.${name}: ${built.left.message}`)
                  else fresh.set(name, health.watch(name, Context.get(built.right, Cloud)))
                }
                if (problems.length > 0) return yield* Effect.fail(problems)
                for (const [name, service] of fresh) clouds.add(name, service)
                const r = yield* engine.reconfigure(config, (name) => clouds.has(name))
                written = document
                yield* drainRemoved(r, api.drain, opts.log)
                wake.signal()
                return r
              })
          }
    return {
      api: withStatus(
        {
          ...api,
          snapshot: Effect.map(api.snapshot, (s) => withLiveStatus(s, health)),
          ...(written !== undefined ? { configAsWritten: Effect.sync(() => redactSecrets(written)) } : {})
        },
        Effect.map(statusOf(api), (s) => liveStatus(s, health))
      ),
      loop: runLiveLoop({ engine, wake, histogram: opts.histogram }).pipe(Effect.provide(ctx)),
      ...(reload !== undefined ? { reload } : {}),
      description: `${opts.services?.shadow !== undefined ? "a dry run (shadow mode: decisions only, no mutating call) of " : ""}the ${opts.config.cluster.type} cluster with ${resources} cloud resource(s) (policy ${policy.name})`
    }
  })
