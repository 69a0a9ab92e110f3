/**
 * Runs a world with operator actions at virtual times and checks the
 * invariants over its event log; writes and reads the scenario files that
 * replay a counterexample (scenarios/regressions/, docs/testing.md).
 *
 * Operator actions go through engine.api at their time (SimDriver.advanceTo,
 * then runEither), as the REST API would send them; each one writes an
 * `operator` line with the engine's answer into the event log, which the
 * invariants read (src/sim/invariants.ts).
 */
import { Data, Either } from "effect"
import { readFileSync } from "node:fs"
import { Document, isScalar, visit } from "yaml"
import type { ActionError, Snapshot } from "../engine/api.ts"
import { kitConfig, kitJob, kitResource, kitScenario, type KitScenario } from "./kit.ts"
import type { OperatorAction, RandomWorld } from "./arbitrary.ts"
import { checkAll, emptyCoverage, invariantContext, parseEvents, type Coverage, type Ev, type FinalState, type Violation } from "./invariants.ts"
import { SimDriver, type SimScenario } from "./run.ts"
import { decodeScenarioAt, parseScenarioText, type LoadedScenario } from "./scenario.ts"
import type { Summary } from "./summary.ts"

// ---------------------------------------------------------------- running

export interface WorldRun {
  readonly lines: ReadonlyArray<string>
  readonly summary: Summary | null
  readonly final: FinalState | null
  /** The error if the run threw (the log then ends with a `crash` line). */
  readonly crash: string | null
  readonly actions: { readonly accepted: number; readonly refused: number }
  readonly faults: number
  readonly wallMs: number
}

export interface RunWorldOptions {
  readonly policy?: string
  /** Milliseconds from some origin, to measure the run's wall time (WorldRun.wallMs is 0 without it). */
  readonly wallClock?: () => number
  /** SimDriver's fast path (default on). */
  readonly fastPath?: boolean
}

export const UNKNOWN_HOST = "no-such-node.invalid"

const finalState = (s: Snapshot): FinalState => ({
  nodes: s.nodes.flatMap((n) => (n.instance === null ? [] : [{ hostname: n.hostname, instance: n.instance.uuid, resource: n.instance.cloud_resource }]))
})

/** The target host of a node action, chosen from what the engine lists now (deterministic for a given run). */
export const nodeTarget = (d: SimDriver, a: Extract<OperatorAction, { node: unknown }>): string => {
  if (a.node === "unknown") return UNKNOWN_HOST
  if (a.node === "physical") {
    const ps = d.scenario.world.physical
    return ps.length === 0 ? UNKNOWN_HOST : ps[a.index % ps.length].hostname
  }
  const snap = Either.getOrThrow(d.runEither(d.engine.api.snapshot))
  const cloud = snap.nodes.filter((n) => n.instance !== null).map((n) => n.hostname).sort()
  return cloud.length === 0 ? UNKNOWN_HOST : cloud[a.index % cloud.length]
}

/**
 * Applies one action at the world's current time (whatever its `at`);
 * returns the `operator` line for the event log and whether it was accepted.
 */
export const applyAction = (d: SimDriver, a: OperatorAction): { line: Record<string, unknown>; ok: boolean } => {
  const api = d.engine.api
  const t = d.world.now
  let target: string | null = null
  let extra: Record<string, unknown> = {}
  let result: Either.Either<void, ActionError>
  switch (a.op) {
    case "hold":
    case "unhold":
    case "vacate":
    case "delete": {
      target = nodeTarget(d, a)
      const eff = a.op === "hold" ? api.hold(target) : a.op === "unhold" ? api.unhold(target) : a.op === "vacate" ? api.vacate(target) : api.deleteNode(target)
      result = d.runEither(eff)
      break
    }
    case "launch":
      target = a.resource
      extra = { num: a.num }
      result = d.runEither(api.launch(a.resource, a.num))
      break
    case "freeze":
      target = a.resource
      result = d.runEither(api.freeze(a.resource))
      if (Either.isRight(result)) {
        const r = Either.getOrThrow(d.runEither(api.snapshot)).resources.find((x) => x.name === a.resource)
        extra = { max: r?.max_num ?? null }
      }
      break
    case "drain": {
      target = a.resource
      const before = Either.getOrThrow(d.runEither(api.snapshot))
      extra = { waiting: before.queues.waiting }
      result = d.runEither(api.drain(a.resource))
      break
    }
    case "restore":
      target = a.resource
      result = d.runEither(api.restore(a.resource))
      break
    case "auto":
      extra = { on: a.on }
      result = d.runEither(api.setAuto(a.on))
      break
  }
  const ok = Either.isRight(result)
  const line: Record<string, unknown> = { t, ev: "operator", op: a.op, target, ok, ...extra }
  if (Either.isLeft(result)) {
    line.status = result.left.status
    line.error = result.left.message
  }
  return { line, ok }
}

/**
 * Drives a SimDriver with operator actions applied at their times: `advance()`
 * is one step of the world and engine, or the next action when its time has
 * come (the world then stands at the action's `at`, as the REST API would see
 * it). `runWorld` and `dyncluster simulate` both step through this, so a
 * scenario file's `operator_actions` give the same event log in either.
 */
export class ActionReplay {
  private readonly pending: ReadonlyArray<OperatorAction>
  private next = 0
  accepted = 0
  refused = 0

  constructor(
    readonly driver: SimDriver,
    actions: ReadonlyArray<OperatorAction>,
    private readonly sink: (line: string) => void
  ) {
    this.pending = [...actions].sort((x, y) => x.at - y.at)
  }

  /** Actions not yet applied (none once the run is over). */
  get remaining(): number {
    return this.driver.finished ? 0 : this.pending.length - this.next
  }

  /** One step (see the class). Returns false when the run is over. */
  advance(): boolean {
    const d = this.driver
    const a = this.pending[this.next]
    if (a === undefined || d.finished) return d.advance()
    // everything due up to the action's time first (d.advanceTo, one step at a time)
    if (d.nextTime() <= a.at) {
      d.advance(a.at)
      return true
    }
    d.advanceTo(a.at) // nothing due before it: only moves the clock to `at`
    if (d.finished) return false
    this.next++
    const r = applyAction(d, a)
    this.sink(JSON.stringify(r.line))
    if (r.ok) this.accepted++
    else this.refused++
    d.requestStep()
    return true
  }
}

/**
 * Runs the scenario to its end with the operator actions applied at their
 * times. Never throws: a crash of the engine or the world ends the log with
 * a `crash` line (the no-crash invariant reports it).
 */
export const runWorld = (scenario: SimScenario, actions: ReadonlyArray<OperatorAction>, opts: RunWorldOptions = {}): WorldRun => {
  const clock = opts.wallClock ?? (() => 0)
  const t0 = clock()
  const lines: Array<string> = []
  const sink = (l: string) => {
    lines.push(l)
  }
  let d: SimDriver | undefined
  let summary: Summary | null = null
  let final: FinalState | null = null
  let crash: string | null = null
  let replay: ActionReplay | undefined
  try {
    d = new SimDriver(
      scenario,
      { ...(opts.policy !== undefined ? { policy: opts.policy } : {}), ...(opts.fastPath !== undefined ? { fastPath: opts.fastPath } : {}) },
      sink
    )
    replay = new ActionReplay(d, actions, sink)
    while (replay.advance()) {
      /* to the end */
    }
    final = finalState(Either.getOrThrow(d.runEither(d.engine.api.snapshot)))
    summary = d.summary()
    sink(`{"t":${d.world.now},"ev":"end","summary":${JSON.stringify(summary)}}`)
  } catch (e) {
    crash = e instanceof Error ? (e.stack ?? e.message) : String(e)
    sink(JSON.stringify({ t: d?.world.now ?? 0, ev: "crash", error: crash }))
  }
  return {
    lines,
    summary,
    final,
    crash,
    actions: { accepted: replay?.accepted ?? 0, refused: replay?.refused ?? 0 },
    faults: d?.world.faultsInjected ?? 0,
    wallMs: clock() - t0
  }
}

export interface CheckedRun extends WorldRun {
  readonly violations: ReadonlyArray<Violation>
  readonly events: ReadonlyArray<Ev>
  /** Seconds the liveness checks judged (and excused, by reason). */
  readonly coverage: { readonly min: Coverage; readonly provision: Coverage }
}

/** Runs and checks every invariant. */
export const checkScenario = (scenario: SimScenario, actions: ReadonlyArray<OperatorAction>, opts: RunWorldOptions = {}): CheckedRun => {
  const run = runWorld(scenario, actions, opts)
  const events = parseEvents(run.lines)
  const coverage = { min: emptyCoverage(), provision: emptyCoverage() }
  return { ...run, events, coverage, violations: checkAll(events, invariantContext(scenario), run.final, coverage) }
}

/** A random world (kit + actions) under a policy, checked. */
export const checkWorld = (w: RandomWorld, policy?: string, wallClock?: () => number): CheckedRun =>
  checkScenario(kitScenario(policy !== undefined ? withPolicy(w.kit, policy) : w.kit), w.actions, {
    ...(policy !== undefined ? { policy } : {}),
    ...(wallClock !== undefined ? { wallClock } : {})
  })

const withPolicy = (k: KitScenario, policy: string): KitScenario => ({ ...k, settings: { ...k.settings, policy } })

// ---------------------------------------------------------------- scenario files

/**
 * The scenario document (the YAML format of src/sim/scenario.ts) that
 * decodes to the same SimScenario as the kit: `dyncluster simulate FILE`
 * replays the world, its faults and its operator actions (`operator_actions`,
 * applied by ActionReplay; `dyncluster soak --replay FILE` also checks the
 * invariants).
 */
export const scenarioDocument = (w: RandomWorld, policy?: string, note?: string): Record<string, unknown> => {
  const k = policy !== undefined ? withPolicy(w.kit, policy) : w.kit
  kitConfig(k) // throws on a bad kit here rather than in the file
  const raw = {
    "dynamic-cluster": { ...k.settings },
    cluster: { type: "simulated", config: { queued_job_number_to_display: 0, ...k.clusterConfig } },
    cloud: Object.fromEntries(
      k.resources.map((r) => [
        r.name,
        {
          type: "simulated",
          priority: r.priority ?? 1,
          quantity: { min: r.min ?? 0, max: r.max },
          reservation: { queue: null, account: null, property: null, ...r.reservation },
          config: { instance_name_prefix: r.name }
        }
      ])
    )
  }
  const clouds = Object.fromEntries(
    k.resources.map((r) => {
      const s = kitResource(r)
      return [
        r.name,
        {
          cores: s.cores,
          boot_time: s.bootTime,
          config_time: s.configTime,
          boot_failure_rate: s.bootFailureRate,
          quota: s.quota,
          api_error_rate: s.apiErrorRate,
          destroy_time: s.destroyTime,
          ...(s.price !== null ? { price: s.price } : {}),
          ...(s.spot === true ? { spot: true } : {})
        }
      ]
    })
  )
  const jobs = (k.jobs ?? []).map(kitJob).map((j) => ({
    id: j.id,
    submit: j.submit,
    cores: j.cores,
    cpn: j.cpn,
    runtime: j.runtime,
    walltime: j.walltime,
    queue: j.queue,
    account: j.account,
    property: j.property,
    priority: j.priority
  }))
  return {
    name: k.name ?? "kit",
    ...(note !== undefined ? { description: note } : {}),
    seed: k.seed ?? 1,
    config: raw,
    cluster: {
      physical: (k.physical ?? []).map((p) => ({ hostname: p.hostname, cores: p.cores, ...(p.properties !== undefined ? { properties: p.properties } : {}) })),
      scheduler_cycle: k.schedulerCycle ?? 10
    },
    clouds,
    workload: { type: "jobs", jobs },
    faults: (k.faults ?? []).map((f) => ({ ...f })),
    drain: k.drain ?? 3600,
    max_time: k.maxTime ?? null,
    api_latency: k.apiLatency ?? 1,
    ...(w.actions.length > 0 ? { operator_actions: w.actions.map((a) => ({ ...a })) } : {})
  }
}

export const scenarioYaml = (w: RandomWorld, policy?: string, header?: string): string => {
  const doc = new Document(scenarioDocument(w, policy))
  // One line per job, fault, action, distribution: mappings of plain values go in flow style.
  visit(doc, {
    Map(_, node) {
      if (node.items.every((i) => isScalar(i.value))) node.flow = true
    }
  })
  const body = doc.toString({ lineWidth: 0 })
  return (header ? header.split("\n").map((l) => `# ${l}`.trimEnd()).join("\n") + "\n" : "") + body
}

/** The comment block of a counterexample file: what broke, how it was found, how to replay it. */
export const counterexampleHeader = (o: {
  readonly title: string
  readonly policy: string
  readonly violations: ReadonlyArray<Violation>
  readonly found?: string
  readonly file?: string
}): string =>
  [
    o.title,
    ...(o.found !== undefined ? [o.found] : []),
    `Policy: ${o.policy}. Violations when it was found:`,
    ...o.violations.slice(0, 5).map((v) => `  [${v.invariant}] t=${v.t}s ${v.message}`),
    "Replay with the operator actions and check every invariant:",
    `  npx dyncluster soak --replay ${o.file ?? "FILE"}`,
    "The same run with its summary and event log (operator actions included):",
    `  npx dyncluster simulate ${o.file ?? "FILE"} --events events.jsonl`
  ].join("\n")

/** A regression scenario: the scenario file and the operator actions it carries. */
export interface Regression {
  readonly scenario: LoadedScenario
  readonly actions: ReadonlyArray<OperatorAction>
  readonly policy: string
}

/** A regression (scenario) file that cannot be read or decoded; the message names the file and the problems. */
export class RegressionFileError extends Data.TaggedError("RegressionFileError")<{ readonly message: string }> {}

/** Reads a scenario file written by `scenarioYaml` (or any scenario file, with no actions). */
export const loadRegression = (path: string): Regression => {
  const text = readFileSync(path, "utf8")
  const doc = parseScenarioText(text, path)
  if (Either.isLeft(doc)) throw new RegressionFileError({ message: doc.left.message })
  const sc = decodeScenarioAt(path, doc.right)
  if (Either.isLeft(sc)) throw new RegressionFileError({ message: sc.left.message })
  return { scenario: sc.right, actions: sc.right.operatorActions, policy: sc.right.config["dynamic-cluster"].policy }
}
