/**
 * `runScenario`: the engine, unchanged, in the simulated world, from start to
 * the end of the drain period. Virtual time jumps from one thing that can
 * happen to the next (a world event, a task result, an engine wake-up).
 */
import { Context, Effect, Either, Runtime } from "effect"
import { makeEngine, type Engine, type EngineEnv, type EngineLogEvent, type StepDecisions } from "../engine/engine.ts"
import type { Policy } from "../engine/policy.ts"
import { Cloud, type CloudService } from "../engine/services.ts"
import type { EngineServices } from "../engine/dry-run.ts"
import type { ShadowView } from "../engine/snapshot.ts"
import { resolveExperiment } from "../experiments/policies.ts"
import { engineSettings, type ConfigFile } from "../model/config.ts"
import { simClock, simContext, SimTaskRunner } from "./layers.ts"
import { makeRng } from "./random.ts"
import { resourceSummary, round, totalOf, waitStats, type Summary } from "./summary.ts"
import { SimWorld, type WorldSpec } from "./world.ts"

export interface SimScenario {
  readonly name: string
  readonly seed: number
  /** The scaler configuration, in the real configuration format. */
  readonly config: ConfigFile
  /** The `config` section as written (inline, or the `config_file`'s document): GET /server/config under `run --sim`. */
  readonly configDocument?: unknown
  readonly world: WorldSpec
  /** Seconds since the Unix epoch at which the simulation starts (what the engine's Clock reads at t=0). */
  readonly epoch?: number
  /** Seconds one cloud or cluster call takes (task latency). */
  readonly apiLatency?: number
  /** Jobs the workload loader skipped (reported in the summary). */
  readonly skippedJobs?: number
}

export interface RunOptions {
  readonly seed?: number
  readonly policy?: string
  /** Each event-log line as it is written (JSON, no newline). */
  readonly onEvent?: (line: string) => void
  /** Keep the event log in memory and return it (default true). */
  readonly collect?: boolean
  readonly engineLog?: (e: EngineLogEvent) => void
  /** The decisions of each full engine step (engine.ts `EngineOptions.onDecisions`). */
  readonly onDecisions?: (d: StepDecisions) => void
  /**
   * Skip engine steps that provably change nothing (the world did not change
   * since a quiet step and no timer is due). Same event log either way; on by default.
   */
  readonly fastPath?: boolean
  /** Called after each engine step with the engine (for progress, the API in daemon mode). */
  readonly onStep?: (engine: Engine, world: SimWorld) => void
  /**
   * Wraps the simulated cloud (tests: a cloud that answers some calls with an
   * error of a given kind, which the world cannot produce).
   */
  readonly cloud?: (sim: CloudService) => CloudService
  /** The daemon's wrapping of the world's services (src/daemon/shadow.ts composeServices: shadow mode, the queue observer). */
  readonly services?: <R>(ctx: Context.Context<R | EngineServices>) => Context.Context<R | EngineServices>
  /** Shadow mode (`run --sim --dry-run`): `services` gives the shadow's; the engine's snapshot keeps its would-be nodes apart. */
  readonly shadow?: ShadowView
  /**
   * The engine's pause between the phases of a step (engine.ts
   * `EngineOptions.pause`): the daemon's `--sim` mode lets its event loop in.
   * Steps then run only through advanceEffect (advance() runs them with
   * runSync). Absent in simulations.
   */
  readonly pause?: Effect.Effect<void>
}

export interface RunResult {
  readonly events: ReadonlyArray<string>
  readonly summary: Summary
  readonly world: SimWorld
}

/** Everything needed to drive one simulation step by step (also used by the daemon's `--sim` mode). */
export class SimDriver {
  readonly world: SimWorld
  readonly epoch: number
  readonly policy: string
  private readonly resolvedPolicy: Policy
  engine!: Engine
  private tasks!: SimTaskRunner
  private readonly ctx
  private readonly clock
  private forceStep = true
  endAt: number | null = null
  /** Engine steps run, and steps skipped by the fast path. */
  steps = 0
  skipped = 0
  private versionAtPoll = -1
  private readonly fastPath: boolean
  restarts = 0
  finished = false

  constructor(
    readonly scenario: SimScenario,
    readonly opts: RunOptions,
    private readonly sink: (line: string) => void
  ) {
    const seed = opts.seed ?? scenario.seed
    this.epoch = scenario.epoch ?? 0
    this.world = new SimWorld(scenario.world, makeRng(seed), sink)
    const base = simContext(this.world, this.epoch)
    const ctx = opts.cloud === undefined ? base : Context.add(base, Cloud, opts.cloud(Context.get(base, Cloud)))
    this.ctx = opts.services !== undefined ? opts.services(ctx) : ctx
    this.clock = simClock(this.world, this.epoch)
    this.policy = opts.policy ?? scenario.config["dynamic-cluster"].policy
    // a simulation may run an experiment (src/experiments), not only a supported policy
    this.resolvedPolicy = resolveExperiment(this.policy)
    this.fastPath = opts.fastPath ?? true
    this.startEngine()
  }

  /**
   * The services and the virtual Clock, captured once: providing them around
   * every step and task (Effect.provide + Effect.withClock) cost more than
   * most steps themselves (bench/sim-trace, docs/performance.md).
   */
  private runtime: Runtime.Runtime<any> | null = null

  private runSync<A>(eff: Effect.Effect<A, never, any>): A {
    this.runtime ??= Effect.runSync(Effect.runtime<any>().pipe(Effect.provide(this.ctx), Effect.withClock(this.clock)) as Effect.Effect<Runtime.Runtime<any>>)
    return Runtime.runSync(this.runtime)(eff as Effect.Effect<A, never, any>)
  }

  /** Run an effect (e.g. an operator action of engine.api) at the world's current virtual time. */
  runEither<A, E>(eff: Effect.Effect<A, E>): Either.Either<A, E> {
    return Effect.runSync(Effect.either(eff).pipe(Effect.withClock(this.clock)))
  }

  /** Advance until world time `t` (or the end of the run). */
  advanceTo(t: number): void {
    while (!this.finished && this.nextTime() <= t) this.advance(t)
    if (!this.finished && this.world.now < t) this.world.now = t
  }

  /** A fresh engine with empty memory: start-up recovery rebuilds its view from the world. */
  private startEngine() {
    const settings = engineSettings(this.scenario.config)
    this.tasks = new SimTaskRunner(settings.workers, this.scenario.apiLatency ?? 1, (eff) => this.runSync(eff))
    this.engine = this.runSync(
      makeEngine({
        config: this.scenario.config,
        tasks: this.tasks,
        policy: this.resolvedPolicy,
        ...(this.opts.engineLog ? { log: this.opts.engineLog } : {}),
        ...(this.opts.onDecisions ? { onDecisions: this.opts.onDecisions } : {}),
        ...(this.opts.shadow ? { shadow: this.opts.shadow } : {}),
        ...(this.opts.pause ? { pause: this.opts.pause } : {})
      })
    )
    this.forceStep = true
  }

  /** Time (seconds from start) of the next thing that can happen. */
  nextTime(): number {
    return this.nextTimeWith(this.engineWake())
  }

  private nextTimeWith(engineWake: number): number {
    if (this.forceStep) return this.world.now
    // Never before now: advanceTo() and the daemon move the world's time on while nothing happens.
    return Math.max(this.world.now, Math.min(this.world.nextEventTime(), engineWake, this.tasks.nextCompletion()))
  }

  private lastStepAt = -Infinity
  /** The engine's next wake-up in world time; never at or before its last step (no busy loop). */
  private engineWake(): number {
    const t = this.engine.nextWake() - this.epoch
    return t <= this.lastStepAt ? this.lastStepAt + 1 : t
  }

  /** Advance to the next thing that can happen and handle it. Returns false when the run is over. */
  advance(limit = Infinity): boolean {
    const p = this.prepareAdvance(limit)
    if (typeof p === "boolean") return p
    if (p.step) {
      const engine = this.engine
      const onStep = this.opts.onStep
      // the step, then the tasks it started, in one fiber
      this.runSync(
        Effect.zipRight(
          engine.step,
          Effect.suspend(() => {
            onStep?.(engine, this.world)
            return this.tasks.pumpEffect(p.t)
          })
        )
      )
    } else this.tasks.pump(p.t)
    return true
  }

  /**
   * Up to `max` advance()s (fewer when the run ends), the engine steps and
   * the tasks they start all in one fiber: Runtime.runSync forks a fiber per
   * call (a few µs each, ~1 M steps a LANL year under lean). The world moves
   * exactly as with advance() called `max` times. `stop`, when given, is
   * asked after each advance (as a caller looping over advance() would
   * check after each call): true ends the batch there. Used by
   * bench/sim-trace.ts and `dyncluster simulate` (its stall check). Returns
   * false when the run is over.
   */
  advanceMany(max: number, stop?: () => boolean): boolean {
    let n = 0
    const onStep = this.opts.onStep
    /** The tasks that start at `t`, then the next advance (no Effect operation for the pump when none can start). */
    const pumpThenLoop = (t: number): Effect.Effect<boolean, never, EngineEnv> =>
      this.tasks.startable() ? Effect.zipRight(this.tasks.pumpEffect(t), loop) : loop
    const loop: Effect.Effect<boolean, never, EngineEnv> = Effect.suspend(() => {
      // Advances that neither step the engine nor start a task (world events,
      // skipped steps: most of them) run here in a plain loop, without an
      // Effect operation each; the same order of calls as one advance() each.
      for (;;) {
        if (n >= max || (n > 0 && stop?.() === true)) return Effect.succeed(true)
        const p = this.prepareAdvance(Infinity)
        if (typeof p === "boolean") return Effect.succeed(p)
        n++
        // (after prepareAdvance: a restart replaces the engine and the task runner)
        const engine = this.engine
        if (p.step)
          return Effect.zipRight(
            engine.step,
            Effect.suspend(() => {
              onStep?.(engine, this.world)
              return pumpThenLoop(p.t)
            })
          )
        if (this.tasks.startable()) return pumpThenLoop(p.t)
      }
    })
    return this.runSync(loop)
  }

  /**
   * advance() with the engine step returned as an Effect instead of run with
   * Effect.runSync: for a caller (the daemon's `--sim` mode) whose operator
   * actions run concurrently and may hold the engine's lock when the step
   * comes due. The world moves exactly as in advance().
   */
  advanceEffect(limit = Infinity): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const p = this.prepareAdvance(limit)
      if (typeof p === "boolean") return Effect.succeed(p)
      const engine = this.engine
      const step = p.step
        ? Effect.tap(this.atWorldTime(Effect.provide(engine.step, this.ctx)), () => this.opts.onStep?.(engine, this.world))
        : Effect.void
      return Effect.as(Effect.zipRight(step, Effect.sync(() => this.tasks.pump(p.t))), true)
    })
  }

  /** advance() up to the engine step: moves the world to the next time and says whether the engine steps then. */
  private prepareAdvance(limit: number): boolean | { readonly t: number; readonly step: boolean } {
    if (this.finished) return false
    const w = this.world
    if (this.endAt === null && w.workloadDone()) this.endAt = round(w.lastJobEnd + w.spec.drain)
    const wake = this.engineWake()
    const t = this.nextTimeWith(wake)
    const hardEnd = Math.min(this.endAt ?? Infinity, w.spec.maxTime ?? Infinity)
    if (t > hardEnd || t === Infinity) {
      if (hardEnd !== Infinity) w.now = Math.max(w.now, hardEnd)
      this.finished = true
      return false
    }
    if (t > limit) return true
    const engineDue = this.forceStep || t >= wake
    w.processEventsAt(t)
    if (w.restarts.length > 0) {
      w.restarts.length = 0
      this.restarts++
      this.sink(`{"t":${w.now},"ev":"restart"}`)
      this.startEngine()
    }
    const got = this.tasks.complete(t)
    let step = this.forceStep || got || engineDue
    if (step) {
      this.lastStepAt = t
      // The engine sees the world only through its cluster polls and its tasks'
      // results: with no result in and no change since its last poll (when one is
      // due), a quiet engine would do exactly what it did last time: nothing.
      const pollDue = this.engine.pollDue(this.epoch + t)
      if (!this.forceStep && !got && this.fastPath && (!pollDue || w.version === this.versionAtPoll) && this.engine.canSkip(this.epoch + t)) {
        this.engine.skipStep(this.epoch + t)
        this.skipped++
        step = false
      } else {
        // Only a step that polls sees the world: a forced step between polls (an operator action in the daemon) does not.
        if (pollDue) this.versionAtPoll = w.version
        this.steps++
      }
      this.forceStep = false
    }
    return { t, step }
  }

  /** Runs an effect (an operator action of engine.api) with the Clock reading the world's virtual time. */
  atWorldTime<A, E, R>(eff: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.withClock(eff, this.clock)
  }

  /** Makes the next advance() step the engine at the current world time (after an operator action). */
  requestStep(): void {
    this.forceStep = true
  }

  /** Close the books and build the summary. */
  summary(): Summary {
    const w = this.world
    w.closeBooks()
    const names = this.scenario.world.resources.map((r) => r.name)
    const per: Record<string, ReturnType<typeof resourceSummary>> = {}
    const raw = { nodeSeconds: 0, coreSeconds: 0, usefulCoreSeconds: 0 }
    for (const name of names) {
      const st = w.stats.get(name)!
      const spec = w.resourceSpec(name)!
      per[name] = resourceSummary({ ...st, price: spec.price })
      raw.nodeSeconds += st.nodeSeconds
      raw.coreSeconds += st.coreSeconds
      raw.usefulCoreSeconds += st.usefulCoreSeconds
    }
    const spot = this.scenario.world.faults.some((f) => f.kind === "spot_interruption")
    return {
      scenario: this.scenario.name,
      policy: this.policy,
      seed: this.opts.seed ?? this.scenario.seed,
      span: round(w.now),
      jobs: {
        submitted: w.submitted,
        started: w.started,
        finished: w.finished,
        killed: w.killed,
        ...(spot ? { resubmitted: w.resubmitted } : {}),
        skipped: this.scenario.skippedJobs ?? 0
      },
      wait: waitStats(w.waits),
      resources: per,
      total: totalOf(Object.values(per), raw),
      faults: w.faultsInjected,
      restarts: this.restarts,
      ...(spot ? { spot_interruptions: w.reclaimed } : {})
    }
  }
}

export const runScenario = (scenario: SimScenario, opts: RunOptions = {}): RunResult => {
  const events: Array<string> = []
  const collect = opts.collect ?? true
  const sink = (line: string) => {
    if (collect) events.push(line)
    opts.onEvent?.(line)
  }
  const d = new SimDriver(scenario, opts, sink)
  while (d.advance()) {
    /* run to the end */
  }
  const summary = d.summary()
  sink(`{"t":${d.world.now},"ev":"end","summary":${JSON.stringify(summary)}}`)
  return { events, summary, world: d.world }
}
