/**
 * `dyncluster plan`: "what would the scaler do right now?". A snapshot of the
 * REST API (GET /workernode, /job, /resource) is turned into layers that only
 * record; the real engine adopts the snapshot's nodes through start-up
 * recovery and runs ONE step (poll, recover, act on nodes, enforce min,
 * provision) at the snapshot's time. Its tasks are recorded, never run, so
 * nothing is booted, held or destroyed.
 */
import { Clock, Data, Duration, Effect, Either, Layer, ParseResult, Schema } from "effect"
import { decodeConfig, engineSettings, formatParseError, type ConfigFile } from "../model/config.ts"
import {
  CloudResourceView,
  InstanceState,
  isPhysical,
  Job,
  NO_PRIORITY,
  NodeState,
  NodeStateNames,
  ResourceFlag,
  WorkerNode,
  type Instance
} from "../model/types.ts"
import { engineContext, makeEngine, type EngineLogEvent } from "./engine.ts"
import { unknownPolicy } from "./policy.ts"
import { experimentPolicy } from "../experiments/policies.ts"
import { layerConstantChecker, layerRecordingCloud, layerRecordingCluster, layerRecordingHooks, type ClusterNode } from "./services.ts"
import type { TaskRunner } from "./tasks.ts"

// ---------------------------------------------------------------- the snapshot

/** What GET /workernode, GET /job and GET /resource return, side by side. */
export const PlanSnapshot = Schema.Struct({
  workernodes: Schema.Array(WorkerNode),
  jobs: Schema.Array(Job),
  resources: Schema.Array(CloudResourceView)
})
export type PlanSnapshot = typeof PlanSnapshot.Type

export class PlanError extends Data.TaggedError("PlanError")<{ readonly message: string }> {}

/** Decodes a parsed snapshot; every problem is named by its path (`workernodes.0.state: ...`). */
export const decodeSnapshot = (input: unknown, source = "snapshot"): Either.Either<PlanSnapshot, PlanError> => {
  const r = Schema.decodeUnknownEither(PlanSnapshot, { errors: "all", onExcessProperty: "ignore" })(input)
  // GET /job (ours and the first version's) shows a job without a priority as -1: not yet eligible
  if (Either.isRight(r))
    return Either.right({ ...r.right, jobs: r.right.jobs.map((j) => (j.priority === NO_PRIORITY ? { ...j, priority: null } : j)) })
  // The house formatter says "expected a number" for a state code out of range;
  // Effect's own message for that path names the range.
  const precise = new Map(
    ParseResult.ArrayFormatter.formatErrorSync(r.left).map((e) => [e.path.map(String).join("."), e.message] as const)
  )
  const problems = formatParseError(r.left, input).map((line) => {
    const m = /^(.*): expected a number, got -?[0-9.eE+]+$/.exec(line)
    const better = m === null ? undefined : precise.get(m[1])
    return better !== undefined && /^Expected (a|an) /.test(better)
      ? `${m![1]}: ${better.replace(/^Expected/, "expected").replace(/, actual /, ", got ")}`
      : line
  })
  return Either.left(new PlanError({ message: `${source}: not a valid snapshot\n${problems.map((p) => `  - ${p}`).join("\n")}` }))
}

/** Parses JSON text and decodes it; a JSON syntax error is named too. */
export const parseSnapshotText = (text: string, source = "snapshot"): Either.Either<PlanSnapshot, PlanError> => {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (e) {
    return Either.left(new PlanError({ message: `${source}: not valid JSON (${(e as Error).message})` }))
  }
  return decodeSnapshot(v, source)
}

/** Every node of the snapshot once (GET /workernode first, then those only listed under a resource). */
const allNodes = (s: PlanSnapshot): ReadonlyArray<WorkerNode> => {
  const seen = new Set(s.workernodes.map((n) => n.hostname))
  const out = [...s.workernodes]
  for (const r of s.resources)
    for (const n of r.worker_nodes)
      if (!seen.has(n.hostname)) {
        seen.add(n.hostname)
        out.push(n)
      }
  return out
}

/** When the snapshot was taken: the latest state_start_time + time_in_current_state of its nodes. */
export const snapshotTime = (s: PlanSnapshot): number | undefined => {
  let t: number | undefined
  for (const n of allNodes(s)) {
    const x = n.state_start_time + n.time_in_current_state
    if (Number.isFinite(x) && (t === undefined || x > t)) t = x
  }
  return t
}

/**
 * The configuration the snapshot's resources carry (name, type, priority,
 * effective min/max, reservation, config), with default engine settings.
 */
export const configFromSnapshot = (s: PlanSnapshot): Either.Either<ConfigFile, PlanError> => {
  const raw = {
    "dynamic-cluster": {},
    // The plan's Cluster stands in for whatever batch system the daemon runs.
    cluster: { type: "simulated", config: { queued_job_number_to_display: 0 } },
    cloud: Object.fromEntries(
      s.resources.map((r) => [
        r.name,
        {
          type: r.type,
          priority: r.priority,
          quantity: { min: r.min_num, max: r.max_num },
          reservation: { queue: r.reservation_queue, account: r.reservation_account, property: r.reservation_property },
          config: r.config
        }
      ])
    )
  }
  const d = decodeConfig(raw, "configuration from the snapshot's resources")
  if (Either.isLeft(d))
    return Either.left(new PlanError({ message: `${d.left.message}\n(the snapshot's resources do not make a valid configuration; pass --config FILE)` }))
  return Either.right(d.right.config)
}

// ---------------------------------------------------------------- recording layers

export interface PlanOptions {
  /** The scaler configuration; default: configFromSnapshot. */
  readonly config?: ConfigFile
  /** Overrides dynamic-cluster.policy. */
  readonly policy?: string
  /** Seconds since the epoch to plan at when the snapshot has no node to tell its time. */
  readonly now?: number
}

export interface PlanResult {
  /** Seconds since the epoch the plan was made at. */
  readonly time: number
  readonly policy: string
  /** Nodes the engine starts now, per resource (boots it submitted: for queued jobs and for min). */
  readonly provision: Readonly<Record<string, number>>
  /** The jobs the policy's new nodes are for, per resource. */
  readonly jobsFor: Readonly<Record<string, ReadonlyArray<string>>>
  /** The policy's proposal before the engine capped it at max (null when it did not run). */
  readonly proposed: Readonly<Record<string, number>> | null
  readonly hold: ReadonlyArray<{ readonly host: string; readonly why: string }>
  readonly remove: ReadonlyArray<{ readonly host: string; readonly why: string }>
  readonly destroy: ReadonlyArray<{ readonly host: string; readonly why: string }>
  /** The engine's own words for what it decided, then the policy's reasons. */
  readonly reasons: ReadonlyArray<string>
  /** Every task the engine submitted (label), in order. */
  readonly tasks: ReadonlyArray<string>
  /** Calls the engine made on the batch system, cloud and hooks directly (not as tasks). */
  readonly calls: ReadonlyArray<string>
  readonly log: ReadonlyArray<EngineLogEvent>
  readonly warnings: ReadonlyArray<string>
}

/** A Clock stopped at `seconds` since the epoch. */
const fixedClock = (seconds: number): Clock.Clock => {
  const millis = Math.round(seconds * 1000)
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => millis,
    currentTimeMillis: Effect.succeed(millis),
    unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n,
    currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
    sleep: (d: Duration.DurationInput) => Effect.dieMessage(`sleep(${Duration.format(d)}) while planning`)
  } as Clock.Clock
}

/** What the batch system would report: physical nodes and the cloud nodes that are in the cluster. */
const clusterNodeOf = (n: WorkerNode): ClusterNode => ({
  hostname: n.hostname,
  state: n.state,
  jobs: n.jobs,
  num_proc: n.num_proc,
  extra_attributes: n.extra_attributes,
  // keeps the node's time in its state (idle time) through start-up recovery
  since: n.state_start_time
})

const inCluster = (n: WorkerNode): boolean =>
  isPhysical(n) || (n.state !== NodeState.Starting && n.state !== NodeState.Deleting && n.state !== NodeState.Inexistent)

/**
 * The instance as the plan's cloud lists it. A node the engine was deleting
 * stays on its way out: its instance is reported Deleting when the engine
 * already saw it so, else Error (start-up recovery then destroys it, as the
 * engine would), never Active (recovery would take a young one for a node
 * still joining).
 */
const listedInstance = (n: WorkerNode & { instance: Instance }): Instance => {
  const inst = n.instance
  if (n.state === NodeState.Deleting)
    return { ...inst, state: inst.state === InstanceState.Deleting ? InstanceState.Deleting : InstanceState.Error }
  // Recovery finds a node in the cluster by the instance's DNS name.
  return inCluster(n) ? { ...inst, dns_name: n.hostname } : inst
}

// ---------------------------------------------------------------- the plan

const seconds = (x: number) => `${Math.round(x)}s`

/** Runs one engine step against the snapshot and says what it would do. */
export const planSnapshot = (snap: PlanSnapshot, opts: PlanOptions = {}): Effect.Effect<PlanResult, PlanError> =>
  Effect.gen(function* () {
    const warnings: Array<string> = []
    const time = snapshotTime(snap) ?? opts.now ?? (yield* Clock.currentTimeMillis) / 1000
    let config: ConfigFile
    if (opts.config !== undefined) config = opts.config
    else {
      const c = configFromSnapshot(snap)
      if (Either.isLeft(c)) return yield* Effect.fail(c.left)
      config = c.right
    }
    const policyName = opts.policy ?? config["dynamic-cluster"].policy
    // what the daemon would do, or what an experiment would (src/experiments)
    const policy = experimentPolicy(policyName)
    if (policy === undefined) return yield* Effect.fail(new PlanError({ message: unknownPolicy(policyName) }))

    // The daemon's runtime state of each resource: frozen limits stay, draining goes on.
    const byName = new Map(snap.resources.map((r) => [r.name, r]))
    const draining: Array<string> = []
    const cloud: Record<string, ConfigFile["cloud"][string]> = {}
    for (const [name, rc] of Object.entries(config.cloud)) {
      const r = byName.get(name)
      if (r?.flag === ResourceFlag.Frozen) cloud[name] = { ...rc, quantity: { min: r.min_num, max: r.max_num } }
      else cloud[name] = rc
      if (r?.flag === ResourceFlag.Draining || r?.flag === ResourceFlag.Drained) draining.push(name)
    }
    config = { ...config, cloud }
    for (const r of snap.resources)
      if (config.cloud[r.name] === undefined) warnings.push(`resource ${r.name} of the snapshot is not in the configuration: its nodes count as physical`)

    const nodes = allNodes(snap)
    const cloudNodes = nodes.filter((n): n is WorkerNode & { instance: Instance } => !isPhysical(n) && n.instance !== null)
    for (const n of cloudNodes)
      if (n.instance.uuid === null && n.instance.instance_name === null) warnings.push(`${n.hostname}: its instance has neither uuid nor name; the engine cannot adopt it`)

    // ------------------------------------------------ recording services
    const calls: Array<string> = []
    const record = (what: string) => void calls.push(what)
    const ctx = engineContext(
      Layer.mergeAll(
        layerRecordingCluster({ nodes: nodes.filter(inCluster).map(clusterNodeOf), jobs: snap.jobs }, record, { snapshot: true }),
        layerRecordingCloud(
          {
            instances: (res) => cloudNodes.filter((n) => n.instance.cloud_resource === res && n.instance.state !== InstanceState.Inexistent).map(listedInstance),
            cores: (res) => {
              const c = byName.get(res)?.cores_per_node
              return c !== undefined && c > 0 ? c : undefined
            },
            coresUnknown: (res) => `the snapshot gives no cores_per_node for ${res}`
          },
          record
        ),
        layerConstantChecker(false),
        layerRecordingHooks(record)
      )
    )
    const tasks: Array<string> = []
    const runner: TaskRunner = {
      submit: (label) => Effect.sync(() => void tasks.push(label)),
      drain: () => [],
      stats: () => ({ waiting: tasks.length, running: 0, results_pending: 0 })
    }
    const log: Array<EngineLogEvent> = []
    const clock = fixedClock(time)

    // ------------------------------------------------ one step
    const engine = yield* makeEngine({ config, tasks: runner, policy, log: (e) => log.push(e) }).pipe(
      Effect.provide(ctx),
      Effect.withClock(clock)
    )
    for (const name of draining) yield* Effect.either(engine.api.drain(name).pipe(Effect.withClock(clock)))
    log.length = 0
    yield* engine.step.pipe(Effect.provide(ctx), Effect.withClock(clock))

    // ------------------------------------------------ what it decided
    const settings = engineSettings(config)
    const decision = engine.lastDecision()
    const snapNode = new Map(nodes.map((n) => [n.hostname, n]))
    const whyFromLog = (host: string): string | undefined => {
      for (let i = log.length - 1; i >= 0; i--) if (log[i].host === host) return log[i].msg
      for (let i = log.length - 1; i >= 0; i--) if (log[i].msg.includes(host)) return log[i].msg
      return undefined
    }
    const whyDestroy = (host: string): string =>
      snapNode.get(host)?.state === NodeState.Deleting
        ? "Deleting in the snapshot and its instance not yet being destroyed: destroy it"
        : (whyFromLog(host) ?? "destroy its instance")
    const whyRemove = (host: string): string => {
      const n = snapNode.get(host)
      if (n === undefined) return "removed from the cluster"
      if (n.state === NodeState.Error)
        return `in Error for ${seconds(n.time_in_current_state)} (max_down_time ${seconds(settings.maxDownTime)}): remove from the cluster`
      const res = n.instance?.cloud_resource
      if (res !== undefined && draining.includes(res)) return `resource ${res} is draining: remove from the cluster, then destroy`
      return `${NodeStateNames[n.state]} with no jobs: remove from the cluster, then destroy`
    }
    const provision: Record<string, number> = {}
    const hold: Array<{ host: string; why: string }> = []
    const remove: Array<{ host: string; why: string }> = []
    const destroy: Array<{ host: string; why: string }> = []
    for (const label of tasks) {
      const sp = label.indexOf(" ")
      const kind = label.slice(0, sp)
      const arg = label.slice(sp + 1)
      if (kind === "boot") provision[arg] = (provision[arg] ?? 0) + 1
      else if (kind === "hold") hold.push({ host: arg, why: whyFromLog(arg) ?? "hold" })
      else if (kind === "remove") remove.push({ host: arg, why: whyRemove(arg) })
      else if (kind === "destroy") destroy.push({ host: arg, why: whyDestroy(arg) })
    }
    const jobsFor: Record<string, ReadonlyArray<string>> = {}
    if (decision !== null) for (const [res, jobs] of decision.jobsFor) if ((provision[res] ?? 0) > 0) jobsFor[res] = jobs
    if (!settings.autoMode) warnings.push("auto_mode is off in the configuration: the engine neither provisions nor holds idle nodes")
    const reasons = [
      ...draining.map((r) => `resource ${r} is draining (its flag in the snapshot)`),
      // adoption is how the plan loads the snapshot, not a decision
      ...log.filter((e) => !e.msg.startsWith("adopted ")).map((e) => (e.level === "info" ? e.msg : `${e.level}: ${e.msg}`)),
      ...(decision?.reasons.map((r) => `policy ${policyName}: ${r}`) ?? [])
    ]
    return {
      time,
      policy: policyName,
      provision,
      jobsFor,
      proposed: decision === null ? null : Object.fromEntries(decision.provision),
      hold,
      remove,
      destroy,
      reasons,
      tasks,
      calls,
      log,
      warnings
    } satisfies PlanResult
  })

// ---------------------------------------------------------------- output

/** The `--json` shape: {"provision": {...}, "hold": [...], "remove": [...], "destroy": [...], "reasons": [...]} and a little more. */
export const planJson = (p: PlanResult) => ({
  provision: p.provision,
  hold: p.hold.map((x) => x.host),
  remove: p.remove.map((x) => x.host),
  destroy: p.destroy.map((x) => x.host),
  reasons: p.reasons,
  jobs_for: p.jobsFor,
  proposed: p.proposed,
  details: { hold: p.hold, remove: p.remove, destroy: p.destroy },
  time: p.time,
  policy: p.policy,
  warnings: p.warnings
})

const iso = (t: number) => {
  const d = new Date(t * 1000)
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace(".000Z", "Z")
}

/** The plan in words, for people. */
export const planText = (p: PlanResult, snap: PlanSnapshot): string => {
  const out: Array<string> = []
  const nodes = allNodes(snap)
  const queued = snap.jobs.filter((j) => j.state === 0).length
  out.push(`Plan at ${iso(p.time)} (t=${p.time}), policy ${p.policy}: ${nodes.length} node(s), ${queued} queued job(s) in the snapshot`)
  out.push("")
  const section = (title: string, lines: ReadonlyArray<string>) => {
    out.push(`${title}:`)
    if (lines.length === 0) out.push("  (none)")
    for (const l of lines) out.push(`  ${l}`)
  }
  const jobsList = (js: ReadonlyArray<string>) => (js.length === 0 ? "" : ` for job(s) ${js.slice(0, 20).join(", ")}${js.length > 20 ? `, ... (${js.length} in all)` : ""}`)
  section(
    "Start",
    Object.entries(p.provision).map(([r, n]) => `${r}: ${n} node(s)${jobsList(p.jobsFor[r] ?? [])}`)
  )
  section("Hold", p.hold.map((x) => `${x.host} — ${x.why}`))
  section("Remove", p.remove.map((x) => `${x.host} — ${x.why}`))
  section("Destroy", p.destroy.map((x) => `${x.host} — ${x.why}`))
  section("Why", p.reasons)
  if (p.warnings.length > 0) section("Warnings", p.warnings)
  return out.join("\n")
}
