/**
 * What the batch-system layers (Torque, SGE, Slurm) share: decoding
 * `cluster.config` (command templates with the defaults of SPEC §2, timeouts)
 * with errors that name the key, running a template as a ClusterError-typed
 * effect with a timeout and a debug log line, and bounded waiting through
 * Schedule over the Clock (nothing here blocks, sleeps on its own or reads
 * the wall clock).
 */
import { Clock, Data, Duration, Effect, Either, ParseResult, Schedule, Schema } from "effect"
import { ClusterError } from "../engine/services.ts"
import { formatParseError, type ConfigFile } from "../model/config.ts"
import { buildInvocation, invocationArgv, runCommand, splitTemplate, type CommandResult } from "./command.ts"

// ---------------------------------------------------------------- configuration

/** cluster.config could not be used: the problems name the key (`cluster.config.qstat_command: ...`). */
export class ClusterConfigError extends Data.TaggedError("ClusterConfigError")<{
  readonly problems: ReadonlyArray<string>
  readonly message: string
}> {}

const template = Schema.String.annotations({ message: () => "expected a command template (a string)" })
const seconds = Schema.Number.pipe(Schema.positive()).annotations({ message: () => "expected a positive number (seconds)" })
const count = Schema.Number.pipe(Schema.int(), Schema.positive()).annotations({ message: () => "expected a positive integer" })

/** A template key with its default. */
export const templateKey = (dflt: string) => Schema.optionalWith(template, { default: () => dflt })
export const secondsKey = (dflt: number) => Schema.optionalWith(seconds, { default: () => dflt })
export const countKey = (dflt: number) => Schema.optionalWith(count, { default: () => dflt })

/** The schema fields of a layer's command templates, each with its default. */
export const templateFields = <K extends string>(defaults: Readonly<Record<K, string>>) =>
  Object.fromEntries(Object.entries<string>(defaults).map(([k, d]) => [k, templateKey(d)])) as {
    [P in K]: ReturnType<typeof templateKey>
  }

/** Settings every live batch-system layer understands, beside its templates. */
export const commonKeys = {
  /** Kill a batch command after this long. */
  command_timeout: secondsKey(60),
  /** Pause between two tries while waiting for the batch system. */
  retry_interval: secondsKey(2)
}

/** The message of a ClusterConfigError: `what` (e.g. "Slurm cluster configuration") and one problem a line. */
export const invalidConfigMessage = (problems: ReadonlyArray<string>, what = "cluster configuration") =>
  `invalid ${what}:\n  - ${problems.join("\n  - ")}`

/**
 * Decodes cluster.config with `schema` (other keys are left alone: the
 * common ones are read by the config loader) and checks that every template
 * key splits (SPEC §2). Left: the schema's problems (nothing decoded);
 * Right: the settings and the templates that do not split, to which a layer
 * may add its own checks before reporting them all at once.
 */
export const readClusterConfig = <A extends Record<string, unknown>, I>(
  schema: Schema.Schema<A, I>,
  raw: unknown,
  templateKeys: ReadonlyArray<keyof A & string>
): Either.Either<{ readonly config: A; readonly problems: ReadonlyArray<string> }, ReadonlyArray<string>> => {
  const input = raw === null || raw === undefined ? {} : raw
  const decoded = Schema.decodeUnknownEither(schema, { errors: "all", onExcessProperty: "ignore" })(input)
  if (Either.isLeft(decoded)) return Either.left(formatParseError(decoded.left as ParseResult.ParseError).map((p) => `cluster.config.${p}`))
  const problems: Array<string> = []
  for (const k of templateKeys) {
    const v = decoded.right[k]
    if (typeof v !== "string") continue
    const split = splitTemplate(v)
    if (Either.isLeft(split)) problems.push(`cluster.config.${k}: ${split.left.message} in ${JSON.stringify(v)}`)
  }
  return Either.right({ config: decoded.right, problems })
}

/**
 * cluster.config decoded with `schema`, every template key checked, so a
 * broken template stops start-up instead of failing at the first node.
 */
export const decodeClusterConfig = <A extends Record<string, unknown>, I>(
  schema: Schema.Schema<A, I>,
  raw: unknown,
  templateKeys: ReadonlyArray<keyof A & string>
): Either.Either<A, ClusterConfigError> => {
  const invalid = (problems: ReadonlyArray<string>) => new ClusterConfigError({ problems, message: invalidConfigMessage(problems) })
  return Either.flatMap(Either.mapLeft(readClusterConfig(schema, raw, templateKeys), invalid), ({ config, problems }) =>
    problems.length > 0 ? Either.left(invalid(problems)) : Either.right(config)
  )
}

/** A layer's settings of a whole configuration file: its cluster.config keys and the monitored queues. */
export const clusterSettings = <A extends Record<string, unknown>, I>(
  schema: Schema.Schema<A, I>,
  config: ConfigFile,
  templateKeys: ReadonlyArray<keyof A & string>
): Either.Either<A & { readonly queue_to_monitor: ReadonlyArray<string> }, ClusterConfigError> =>
  Either.map(decodeClusterConfig(schema, config.cluster.config, templateKeys), (c) => ({
    ...c,
    queue_to_monitor: config.cluster.config.queue_to_monitor ?? []
  }))

// ---------------------------------------------------------------- running

export interface RunnerOptions {
  readonly timeoutMs: number
  /** Extra environment for the commands (SLURM_CONF; tests point them at recorded outputs). */
  readonly env?: Readonly<Record<string, string>>
}

/** One line of at most `n` characters (a multi-line stderr or a JSON dump stays readable in a log line). */
const clip = (s: string, n = 400) => {
  const t = s.trim().replace(/\s+/g, " ")
  return t.length > n ? `${t.slice(0, n)}...` : t
}

export const describeResult = (r: CommandResult): string =>
  `exit code ${r.exitCode}${r.stderr.trim() ? `: ${clip(r.stderr)}` : r.stdout.trim() ? `: ${clip(r.stdout)}` : ""}`

export interface Runner<K extends string> {
  /** Runs the template `key` with `values`; any exit code is a result. */
  readonly run: (op: string, key: K, values: ReadonlyArray<string>) => Effect.Effect<CommandResult, ClusterError>
  /** Like run, but a non-zero exit code is a ClusterError, unless `tolerate` matches the output. */
  readonly ok: (op: string, key: K, values: ReadonlyArray<string>, tolerate?: RegExp) => Effect.Effect<CommandResult, ClusterError>
}

export const makeRunner = <K extends string>(templates: Readonly<Record<K, string>>, opts: RunnerOptions): Runner<K> => {
  const run = (op: string, key: K, values: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const t0 = yield* Clock.currentTimeMillis
      const argv = Either.match(buildInvocation(templates[key], values), { onLeft: () => [templates[key]], onRight: invocationArgv })
      const r = yield* runCommand(templates[key], values, { timeoutMs: opts.timeoutMs, ...(opts.env ? { env: opts.env } : {}) }).pipe(
        Effect.tapError((e) => Effect.logDebug(`${op}: ${key} failed: ${e.message}`).pipe(Effect.annotateLogs({ argv }))),
        Effect.mapError((e) => new ClusterError({ op, message: `${key}: ${e.message}`, cause: e }))
      )
      const t1 = yield* Clock.currentTimeMillis
      yield* Effect.logDebug(`${op}: ${key} exit ${r.exitCode} in ${t1 - t0} ms`).pipe(Effect.annotateLogs({ argv }))
      return r
    })
  const ok = (op: string, key: K, values: ReadonlyArray<string>, tolerate?: RegExp) =>
    Effect.flatMap(run(op, key, values), (r) =>
      r.exitCode === 0 || (tolerate !== undefined && tolerate.test(`${r.stdout}\n${r.stderr}`))
        ? Effect.succeed(r)
        : Effect.fail(new ClusterError({ op, message: `${key} (${templates[key]}) failed with ${describeResult(r)}` }))
    )
  return { run, ok }
}

// ---------------------------------------------------------------- waiting

/** The batch system has not reached the wanted state yet. */
export class NotYet extends Data.TaggedError("NotYet")<{ readonly message: string }> {}

/**
 * Repeats `attempt` every `intervalSec` until it succeeds, for at most
 * `timeoutSec` (Schedule over the Clock; nothing blocks the engine, which
 * runs this inside a task). A NotYet or a ClusterError on the way is
 * retried; after the time is up the last one becomes the ClusterError.
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

/** Retries a command a few times (transient failures), `intervalSec` apart. */
export const retryFew = <A>(eff: Effect.Effect<A, ClusterError>, times: number, intervalSec: number) =>
  eff.pipe(Effect.retry(Schedule.spaced(Duration.seconds(intervalSec)).pipe(Schedule.intersect(Schedule.recurs(times)))))

/** Fails the whole operation with a ClusterError once `timeoutSec` has passed. */
export const deadline =
  (op: string, timeoutSec: number) =>
  <A>(eff: Effect.Effect<A, ClusterError>): Effect.Effect<A, ClusterError> =>
    eff.pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(timeoutSec),
        onTimeout: () => new ClusterError({ op, message: `gave up after ${timeoutSec}s` })
      })
    )

/** What a parser made of a command's output; unreadable output is a ClusterError naming the command (`what`). */
export const parsedOutput = <A>(op: string, what: string, e: Either.Either<A, { readonly message: string }>): Effect.Effect<A, ClusterError> =>
  Either.match(e, {
    onLeft: (err) => Effect.fail(new ClusterError({ op, message: `cannot read the output of ${what}: ${err.message}` })),
    onRight: (a) => Effect.succeed(a)
  })

/** Validates a value for a command; a bad one is a ClusterError naming it. */
export const checked = (op: string, v: Either.Either<string, { readonly message: string }>): Effect.Effect<string, ClusterError> =>
  Either.match(v, {
    onLeft: (e) => Effect.fail(new ClusterError({ op, message: e.message })),
    onRight: (s) => Effect.succeed(s)
  })
