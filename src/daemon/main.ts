/**
 * `dyncluster run` from options to a running daemon: load the scenario or
 * the configuration, resolve the settings, open the log, build the engine
 * runner (sim or live) and serve until a signal.
 */
import { closeSync, openSync, writeSync } from "node:fs"
import { Clock, Effect, Either, Layer, Logger } from "effect"
import { makeCycleHistogram } from "../http/metrics.ts"
import { loadConfigFile, type ConfigFile } from "../model/config.ts"
import { loadScenarioFile } from "../sim/scenario.ts"
import type { SimScenario } from "../sim/run.ts"
import { DEFAULT_DECISIONS_KEPT, makeDecisionLog } from "../http/decisions.ts"
import { makeShadow } from "../engine/dry-run.ts"
import { DEFAULT_SHADOW_BOOT_TIME, openDecisionsFile, parseBootTimes, scenarioBootTimes, type ServiceWrapping } from "./shadow.ts"
import { serve, withLifecycle, type EngineRunner, type ShutdownNotes } from "./daemon.ts"
import { makeLiveRunner } from "./live.ts"
import { effectLogger, LogFileError, makeLogSink, MIN_MASKED_SECRET, secretValues, type LogSink } from "./log.ts"
import { makeSimRunner } from "./sim.ts"
import { DaemonError, resolveSettings, type DaemonFlags } from "./settings.ts"

export interface RunDaemonOptions extends DaemonFlags {
  readonly sim?: string | undefined
  readonly config?: string | undefined
  /** Sim only: virtual seconds per real second (default 1). */
  readonly speed?: number | undefined
  readonly seed?: number | undefined
  readonly policy?: string | undefined
  /** Sim only: write the world's event log (JSON Lines) here. */
  readonly events?: string | undefined
  /** Seconds running cloud tasks get to finish on shutdown (default 10). */
  readonly grace?: number | undefined
  /** Unknown keys in the configuration or scenario are warnings instead of errors. */
  readonly allowUnknownKeys?: boolean | undefined
  /** Shadow mode: decide every step, call no mutating operation (docs/daemon.md). */
  readonly dryRun?: boolean | undefined
  /** Write the decisions (and the queue's job observations) as JSON Lines to this file. */
  readonly decisions?: string | undefined
  /** --config --dry-run: seconds a would-be node takes to be ready (SECONDS or RES=SECONDS,...). */
  readonly bootTime?: string | undefined
  /** Where the first line goes when logs go to a file (default: stdout). */
  readonly announce?: (line: string) => void
}

export const DEFAULT_GRACE_SECONDS = 10

type Loaded =
  | { readonly mode: "sim"; readonly scenario: SimScenario; readonly config: ConfigFile; readonly warnings: ReadonlyArray<string> }
  | { readonly mode: "live"; readonly config: ConfigFile; readonly document: unknown; readonly warnings: ReadonlyArray<string> }

const load = (o: RunDaemonOptions): Either.Either<Loaded, DaemonError> => {
  const err = (message: string) => Either.left(new DaemonError({ message }))
  if ((o.sim === undefined) === (o.config === undefined)) return err("give either --sim SCENARIO (the simulated world) or --config FILE (the live cluster)")
  if (o.config !== undefined) {
    const simOnly = [o.speed !== undefined && "--speed", o.seed !== undefined && "--seed", o.events !== undefined && "--events"].filter(Boolean)
    if (o.bootTime !== undefined && o.dryRun !== true) return err("--boot-time only applies to --dry-run")
    if (simOnly.length > 0) return err(`${simOnly.join(", ")} only appl${simOnly.length > 1 ? "y" : "ies"} to --sim`)
    const c = loadConfigFile(o.config, { allowUnknownKeys: o.allowUnknownKeys === true })
    if (Either.isLeft(c)) return err(c.left.message)
    return Either.right({ mode: "live", config: c.right.config, document: c.right.document, warnings: c.right.warnings })
  }
  if (o.bootTime !== undefined) return err("--boot-time only applies to --config --dry-run (under --sim, the scenario's boot and configuration times are used)")
  const s = loadScenarioFile(o.sim!, { ...(o.seed !== undefined ? { seed: o.seed } : {}), allowUnknownKeys: o.allowUnknownKeys === true })
  if (Either.isLeft(s)) return err(s.left.message)
  return Either.right({ mode: "sim", scenario: s.right, config: s.right.config, warnings: s.right.warnings })
}

const openEvents = (path: string): Either.Either<{ readonly write: (line: string) => void; readonly close: () => void }, DaemonError> => {
  try {
    const fd = openSync(path, "w")
    return Either.right({ write: (line) => void writeSync(fd, line + "\n"), close: () => closeSync(fd) })
  } catch (e) {
    return Either.left(new DaemonError({ message: `--events: cannot write ${path}: ${(e as Error).message}` }))
  }
}

/** Runs the daemon until interrupted; fails only at start-up, with a message for the administrator. */
export const runDaemon = (o: RunDaemonOptions): Effect.Effect<void, DaemonError> =>
  Effect.gen(function* () {
    const loaded = yield* load(o)
    const settings = yield* resolveSettings(loaded.config, o, process.env, process.stdout.isTTY === true)
    const secrets = [...secretValues(loaded.config), ...(settings.token !== null ? [settings.token] : [])]
    const log: LogSink = yield* Effect.try({
      try: () => makeLogSink({ ...settings.log, secrets }),
      catch: (e) => new DaemonError({ message: e instanceof LogFileError ? e.message : `cannot open the log: ${String(e)}` })
    })
    const grace = o.grace ?? DEFAULT_GRACE_SECONDS
    const notes: ShutdownNotes = []
    const histogram = makeCycleHistogram()
    const events = o.events !== undefined ? yield* openEvents(o.events) : null
    // Shadow mode: would-be nodes take their resource's boot time (the scenario's, or --boot-time).
    const dryRun = o.dryRun === true
    const bootTimes: Record<string, number> = !dryRun
      ? {}
      : loaded.mode === "sim"
        ? scenarioBootTimes(loaded.scenario)
        : yield* Either.mapLeft(
            (() => {
              const names = Object.keys(loaded.config.cloud)
              const r = parseBootTimes(o.bootTime ?? String(DEFAULT_SHADOW_BOOT_TIME), names)
              return typeof r === "string" ? Either.left(r) : Either.right(r)
            })(),
            (message) => new DaemonError({ message })
          )
    const shadow = dryRun
      ? makeShadow({
          bootTime: (r) => bootTimes[r] ?? DEFAULT_SHADOW_BOOT_TIME,
          onRefused: (e) => log.log("debug", e.message, { service: e.service, op: e.op })
        })
      : undefined
    const file = o.decisions !== undefined ? yield* openDecisionsFile(o.decisions) : null
    // Every step's decisions, for GET /server/decisions and dyncluster_decisions_total (and the --decisions file).
    const decisions = makeDecisionLog(DEFAULT_DECISIONS_KEPT, dryRun, file?.decision)
    const services: ServiceWrapping = { shadow, record: file?.write }

    const main = Effect.gen(function* () {
      let runner: EngineRunner
      const epoch = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      file?.write({ type: "start", t: epoch, mode: loaded.mode, dry_run: dryRun, boot_time: bootTimes })
      if (loaded.mode === "sim") {
        runner = yield* makeSimRunner({
          scenario: loaded.scenario,
          speed: o.speed ?? 1,
          seed: o.seed,
          policy: o.policy,
          epoch,
          log,
          histogram,
          file: o.sim,
          onDecisions: decisions.record,
          services,
          ...(events !== null ? { onEvent: events.write } : {})
        })
      } else {
        runner = yield* makeLiveRunner({ config: loaded.config, document: loaded.document, configPath: o.config, policy: o.policy, log, histogram, graceSeconds: grace, notes, onDecisions: decisions.record, services })
      }
      return yield* serve({
        settings,
        log,
        histogram,
        runner,
        decisions,
        onListening: (url) => {
          if (settings.log.file !== null) (o.announce ?? ((l) => void process.stdout.write(l + "\n")))(`dyncluster: dashboard at ${url}/dashboard (logging to ${settings.log.file})`)
          for (const w of loaded.warnings) log.log("warn", `${o.sim ?? o.config}: ${w}`)
          if (settings.token !== null && settings.token.length < MIN_MASKED_SECRET) log.log("warn", "the API token is very short: use a long random token")
        }
      })
    })

    return yield* withLifecycle(log, notes, grace + 10, main).pipe(
      // Effect's own log calls go to the sink only: NodeRuntime.runMain added its pretty logger, which would
      // print a second, non-JSON line on stdout (and into the journal) for each of them.
      Effect.provide(Layer.merge(Logger.replace(Logger.defaultLogger, effectLogger(log)), Logger.remove(Logger.prettyLoggerDefault))),
      Effect.ensuring(
        Effect.sync(() => {
          events?.close()
          file?.close()
          log.close()
        })
      )
    )
  })
