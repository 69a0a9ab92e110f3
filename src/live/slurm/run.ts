/**
 * Running the Slurm templates: a ClusterError-typed call with a timeout and
 * a debug line per command, and bounded waiting for Slurm to reach a state
 * (Schedule over the Clock: nothing here blocks, sleeps on its own or reads
 * the wall clock).
 */
import { Clock, Data, Duration, Effect, Either, Schedule } from "effect"
import { ClusterError } from "../../engine/services.ts"
import { buildInvocation, invocationArgv, runCommand, type CommandResult } from "../command.ts"
import { SLURM_DEFAULTS, type SlurmTemplate } from "./config.ts"

export interface SlurmRunner {
  /** Runs template `key` with `values`; any exit code is a result. */
  readonly run: (op: string, key: SlurmTemplate, values: ReadonlyArray<string>) => Effect.Effect<CommandResult, ClusterError>
  /** Like run, but a non-zero exit code is a ClusterError (unless `tolerate` matches stdout/stderr). */
  readonly ok: (op: string, key: SlurmTemplate, values: ReadonlyArray<string>, tolerate?: RegExp) => Effect.Effect<CommandResult, ClusterError>
}

export interface RunnerOptions {
  readonly timeoutMs: number
  /** Extra environment for every command (e.g. SLURM_CONF). */
  readonly env?: Readonly<Record<string, string>>
}

const clip = (s: string, n = 400) => {
  const t = s.trim().replace(/\s+/g, " ")
  return t.length > n ? `${t.slice(0, n)}...` : t
}

export const describeResult = (r: CommandResult): string =>
  `exit code ${r.exitCode}${r.stderr.trim() ? `: ${clip(r.stderr)}` : r.stdout.trim() ? `: ${clip(r.stdout)}` : ""}`

export const makeRunner = (templates: Readonly<Record<SlurmTemplate, string>>, opts: RunnerOptions): SlurmRunner => {
  const run = (op: string, key: SlurmTemplate, values: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const tpl = templates[key] ?? SLURM_DEFAULTS[key]
      const argv = Either.match(buildInvocation(tpl, values), { onLeft: () => [tpl], onRight: invocationArgv })
      const t0 = yield* Clock.currentTimeMillis
      const r = yield* runCommand(tpl, values, { timeoutMs: opts.timeoutMs, ...(opts.env ? { env: opts.env } : {}) }).pipe(
        Effect.mapError((e) => new ClusterError({ op, message: `${key}: ${e.message}`, cause: e }))
      )
      const t1 = yield* Clock.currentTimeMillis
      yield* Effect.logDebug(`slurm ${op}: ${argv.join(" ")} → exit ${r.exitCode} in ${t1 - t0} ms`)
      return r
    })
  const ok = (op: string, key: SlurmTemplate, values: ReadonlyArray<string>, tolerate?: RegExp) =>
    Effect.flatMap(run(op, key, values), (r) =>
      r.exitCode === 0 || (tolerate !== undefined && tolerate.test(`${r.stdout}\n${r.stderr}`))
        ? Effect.succeed(r)
        : Effect.fail(new ClusterError({ op, message: `${key} (${templates[key]}) failed with ${describeResult(r)}` }))
    )
  return { run, ok }
}

/** Slurm is not in the wanted state yet. */
export class NotYet extends Data.TaggedError("NotYet")<{ readonly message: string }> {}

/**
 * Repeats `attempt` every `intervalSec` until it succeeds, for at most
 * `timeoutSec`. NotYet and ClusterErrors on the way are retried; when the
 * time is up the last one becomes the ClusterError.
 */
export const waitUntil = <A>(
  op: string,
  what: string,
  attempt: Effect.Effect<A, NotYet | ClusterError>,
  timeoutSec: number,
  intervalSec: number
): Effect.Effect<A, ClusterError> =>
  attempt.pipe(
    Effect.retry(Schedule.spaced(Duration.seconds(intervalSec)).pipe(Schedule.upTo(Duration.seconds(timeoutSec)))),
    Effect.mapError((e) => new ClusterError({ op, message: `${what} not reached within ${timeoutSec}s (last: ${e.message})` }))
  )

/** A value for a command checked by a validator; a bad one is a ClusterError naming it. */
export const checked = (op: string, v: Either.Either<string, { readonly message: string }>): Effect.Effect<string, ClusterError> =>
  Either.match(v, {
    onLeft: (e) => Effect.fail(new ClusterError({ op, message: e.message })),
    onRight: (s) => Effect.succeed(s)
  })
