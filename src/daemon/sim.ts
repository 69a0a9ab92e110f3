/**
 * `dyncluster run --sim`: the engine on the simulated world, with the virtual
 * clock running `speed` times faster than real time, so the API and the
 * dashboard show a live, changing cluster.
 *
 * The loop sleeps (real time) until the next world or engine event is due at
 * the current speed, then lets the SimDriver handle everything due up to the
 * virtual "now". Operator actions run concurrently on the same engine: the
 * engine's lock orders them with the steps, which is why steps run as Effects
 * here (SimDriver.advanceEffect), never with Effect.runSync.
 *
 * When the scenario's workload is done the daemon keeps running: no more jobs
 * arrive, the engine keeps polling (idle nodes retire down to min) and the API
 * keeps answering (operators can still launch, hold, drain...). The
 * scenario's `drain` and `max_time` are ignored for that reason.
 */
import { Clock, Duration, Effect, Either } from "effect"
import { statusOf, withStamp, withStatus } from "../engine/api.ts"
import type { EngineLogEvent, StepDecisions } from "../engine/engine.ts"
import { unknownPolicy } from "../engine/policy.ts"
import { experimentPolicy } from "../experiments/policies.ts"
import type { CycleHistogram } from "../http/metrics.ts"
import { redactSecrets } from "../model/config.ts"
import { SimDriver, type SimScenario } from "../sim/run.ts"
import { loadScenarioFile } from "../sim/scenario.ts"
import { drainRemoved, type ReloadTarget } from "./reload.ts"
import type { EngineRunner } from "./daemon.ts"
import { observedApi } from "./daemon.ts"
import type { LogSink } from "./log.ts"
import { makeWake, slicedPause } from "./loop.ts"
import { DaemonError } from "./settings.ts"
import { composeServices, type ServiceWrapping } from "./shadow.ts"

export interface SimDaemonOptions {
  readonly scenario: SimScenario
  /** Virtual seconds per real second. */
  readonly speed: number
  readonly seed?: number | undefined
  readonly policy?: string | undefined
  /** Seconds since the epoch that the world's t=0 stands for (the daemon's start), so the API shows real dates. */
  readonly epoch: number
  readonly log: LogSink
  readonly histogram: CycleHistogram
  /** Each event-log line of the world (JSON, no newline). */
  readonly onEvent?: (line: string) => void
  /** Real milliseconds of work before the loop lets the HTTP server in when it is behind (default 50). */
  readonly sliceMs?: number
  /** Each full engine step's decisions (engine.ts `EngineOptions.onDecisions`). */
  readonly onDecisions?: (d: StepDecisions) => void
  /** The scenario file: a reload reads its `config` again (without it, no reload). */
  readonly file?: string
  /** Shadow mode and the decisions file's queue observer (shadow.ts composeServices). */
  readonly services?: ServiceWrapping
}

export const MAX_SPEED = 1_000_000

const round3 = (x: number) => Math.round(x * 1000) / 1000

/** Engine log events into the sink; in sim mode (an epoch given) with the world time as `sim_time` (seconds since the start). */
export const engineLogTo =
  (log: LogSink, epoch: number | null) =>
  ({ t, level, msg, ...fields }: EngineLogEvent): void => {
    if (!log.enabled(level)) return
    log.log(level, msg, epoch === null ? fields : { ...fields, sim_time: round3(t - epoch) })
  }

/** The engine on the world of `scenario`, paced against the real Clock. */
export const makeSimRunner = (opts: SimDaemonOptions): Effect.Effect<EngineRunner & { readonly driver: SimDriver }, DaemonError> =>
  Effect.gen(function* () {
    if (!(opts.speed > 0 && opts.speed <= MAX_SPEED)) {
      return yield* new DaemonError({ message: `--speed: expected a number above 0 and at most ${MAX_SPEED}, got ${opts.speed}` })
    }
    const policy = opts.policy ?? opts.scenario.config["dynamic-cluster"].policy
    // a simulation: experiments (src/experiments) run here too
    if (experimentPolicy(policy) === undefined) {
      return yield* new DaemonError({ message: `--policy: ${unknownPolicy(policy)}` })
    }
    const scenario: SimScenario = {
      ...opts.scenario,
      epoch: opts.epoch,
      world: { ...opts.scenario.world, drain: Infinity, maxTime: null }
    }
    let stepped = false
    const driver = new SimDriver(
      scenario,
      {
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        policy,
        collect: false,
        engineLog: engineLogTo(opts.log, opts.epoch),
        ...(opts.onDecisions !== undefined ? { onDecisions: opts.onDecisions } : {}),
        ...(opts.services !== undefined ? { services: composeServices(opts.services) } : {}),
        ...(opts.services?.shadow !== undefined ? { shadow: opts.services.shadow } : {}),
        // a step over a big queue lets the API in between its phases and slices
        pause: slicedPause(),
        onStep: () => {
          stepped = true
        }
      },
      opts.onEvent ?? (() => {})
    )
    const wake = yield* makeWake
    const speed = opts.speed
    const sliceMs = opts.sliceMs ?? 50
    // Virtual time = w0 + (real − r0) × speed, fixed when the loop starts.
    let anchor: { readonly real: number; readonly world: number } | null = null
    const virtualNow = (realMs: number) => (anchor === null ? driver.world.now : round3(anchor.world + ((realMs - anchor.real) / 1000) * speed))

    // A step in progress (it pauses between its phases to let the API in):
    // the world's time stays where the step started until it is done.
    let stepping = false
    /** Lets idle virtual time pass up to the real clock's "now", when nothing is due before it (and no step is in progress). */
    const catchUp = Effect.map(Clock.currentTimeMillis, (ms) => {
      const target = virtualNow(ms)
      if (!stepping && driver.nextTime() > target && driver.world.now < target) driver.world.now = target
      return target
    })

    const workloadNote = () => {
      const w = driver.world
      opts.log.log(
        "info",
        `the scenario's workload is done (${w.finished} job(s) finished, ${w.killed} killed); the world idles, the engine and the API keep running`,
        { sim_time: round3(w.now) }
      )
    }

    const loop = Effect.gen(function* () {
      anchor = { real: yield* Clock.currentTimeMillis, world: driver.world.now }
      let announced = driver.world.spec.jobs.length === 0
      for (;;) {
        const target = virtualNow(yield* Clock.currentTimeMillis)
        const sliceEnd = performance.now() + sliceMs
        while (driver.nextTime() <= target && performance.now() < sliceEnd) {
          stepped = false
          const t0 = performance.now()
          stepping = true
          yield* Effect.ensuring(
            driver.advanceEffect(target),
            Effect.sync(() => {
              stepping = false
            })
          )
          if (stepped) opts.histogram.observe((performance.now() - t0) / 1000)
        }
        if (!announced && driver.world.workloadDone()) {
          announced = true
          workloadNote()
        }
        if (driver.nextTime() <= target) {
          // Behind the clock (a very high speed): let the HTTP server answer, then go on.
          yield* Effect.sleep(Duration.millis(1))
          continue
        }
        if (driver.world.now < target) driver.world.now = target
        const next = driver.nextTime()
        yield* wake.sleep(Math.min(60, next === Infinity ? 60 : (next - target) / speed))
      }
    })

    const api = observedApi(
      () => driver.engine.api,
      () => {
        driver.requestStep()
        wake.signal()
      },
      (eff) => Effect.zipRight(catchUp, driver.atWorldTime(eff))
    )
    const s = opts.scenario
    const file = opts.file
    // GET /server/config: the scenario's config section as written, following reloads
    let written: unknown = s.configDocument
    // A reload takes the scenario's config section again; the simulated world (its clouds, workload) stays as it started.
    const reload: ReloadTarget | undefined =
      file === undefined
        ? undefined
        : {
            file,
            read: Effect.suspend(() => {
              const r = loadScenarioFile(file, opts.seed !== undefined ? { seed: opts.seed } : {})
              return Either.isLeft(r) ? Effect.fail(r.left.problems) : Effect.succeed({ config: r.right.config, document: r.right.configDocument })
            }),
            apply: ({ config, document }) =>
              Effect.gen(function* () {
                const r = yield* driver.engine.reconfigure(config, () => false)
                written = document
                yield* drainRemoved(r, api.drain, opts.log)
                driver.requestStep()
                wake.signal()
                return r
              })
          }
    return {
      // the same snapshot, so its stamp (the HTTP body cache) is kept
      api: written !== undefined ? withStatus(withStamp({ ...api, configAsWritten: Effect.sync(() => redactSecrets(written)) }, api.stamp!), statusOf(api)) : api,
      driver,
      ...(reload !== undefined ? { reload } : {}),
      loop: loop as Effect.Effect<never>,
      description: `${opts.services?.shadow !== undefined ? "a dry run (shadow mode: decisions only) of " : ""}the simulated world of scenario ${JSON.stringify(s.name)} (seed ${opts.seed ?? s.seed}, policy ${policy}) at ${speed}× real time: ${s.world.resources.length} cloud resource(s), ${s.world.physical.length} physical node(s), ${s.world.jobs.length} job(s)`
    }
  })

