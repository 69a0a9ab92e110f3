/**
 * The jobs a simulation submits, whatever their source: an SWF trace
 * (swf.ts), a synthetic generator (synthetic.ts) or an explicit list (here).
 * A scenario file names one of them under `workload:` with a `type`
 * discriminator; `loadWorkload` turns the decoded spec into jobs.
 */
import { Data, Either, ParseResult, Schema } from "effect"
import { isAbsolute, resolve } from "node:path"
import { compareIds, compareJobs, readSwf, swfOptionsOfSpec, SwfWorkloadSpec, type SwfError } from "./swf.ts"
import { generateSynthetic, SyntheticWorkloadSpec, type SyntheticError } from "./synthetic.ts"
import { resolveTraceFile } from "./traces.ts"

export interface WorkloadJob {
  readonly id: string
  /** Seconds from scenario start. */
  readonly submit: number
  /** Requested cores, >= 1. */
  readonly cores: number
  /** Cores per node, 0 = spread anywhere. */
  readonly cpn: number
  /** Seconds actually run. */
  readonly runtime: number
  /** Requested seconds. */
  readonly walltime: number | null
  readonly queue: string | null
  readonly account: string | null
  readonly property: string | null
  readonly priority: number
}

export interface Workload {
  /** Sorted by submit, then id (natural order, see `compareIds`). */
  readonly jobs: ReadonlyArray<WorkloadJob>
  /** Jobs of the source left out because they could not be run (see each source). */
  readonly skipped: number
  /** What the jobs came from, for logs and reports. */
  readonly source: string
}

export { compareIds, compareJobs }

/** A workload spec that does not decode, or an explicit list that is inconsistent. */
export class WorkloadSpecError extends Data.TaggedError("WorkloadSpecError")<{ readonly message: string }> {}

export type WorkloadError = SwfError | SyntheticError | WorkloadSpecError

// ---------------------------------------------------------------- explicit list

const nonNegative = Schema.Finite.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number (seconds)"
})
const positive = Schema.Finite.pipe(Schema.positive()).annotations({ message: () => "expected a positive number" })

export const ExplicitJob = Schema.Struct({
  /** Default: the 1-based position in the list. Numbers are accepted and turned into strings. */
  id: Schema.optional(
    Schema.Union(
      Schema.String,
      Schema.transform(Schema.Number, Schema.String, { strict: true, decode: String, encode: Number })
    )
  ),
  submit: nonNegative,
  cores: Schema.Int.pipe(Schema.greaterThanOrEqualTo(1)).annotations({ message: () => "expected an integer >= 1" }),
  /** Cores per node, 0 = spread anywhere (default); more than `cores` is cut to `cores`. */
  cpn: Schema.optional(Schema.Int.pipe(Schema.nonNegative()).annotations({
    message: () => "expected a non-negative integer"
  })),
  runtime: nonNegative,
  walltime: Schema.optional(Schema.NullOr(positive)),
  queue: Schema.optional(Schema.NullOr(Schema.String)),
  account: Schema.optional(Schema.NullOr(Schema.String)),
  property: Schema.optional(Schema.NullOr(Schema.String)),
  priority: Schema.optional(Schema.Finite)
})
export type ExplicitJob = typeof ExplicitJob.Type
export type ExplicitJobInput = typeof ExplicitJob.Encoded

/** `type: jobs` in a scenario file: the jobs themselves. */
export const ExplicitWorkloadSpec = Schema.Struct({
  type: Schema.Literal("jobs"),
  jobs: Schema.Array(ExplicitJob)
})
export type ExplicitWorkloadSpec = typeof ExplicitWorkloadSpec.Type

const formatParseError = (e: ParseResult.ParseError): string =>
  ParseResult.ArrayFormatter.formatErrorSync(e)
    .map((i) => `${i.path.length === 0 ? "" : i.path.join(".") + ": "}${i.message}`)
    .join("; ")

/**
 * A workload from a list of jobs: validated (the same rules as the scenario
 * schema), defaults filled in, duplicate ids refused, sorted.
 */
export const explicitJobs = (list: ReadonlyArray<ExplicitJobInput>): Either.Either<Workload, WorkloadSpecError> => {
  const decoded = Schema.decodeUnknownEither(Schema.Array(ExplicitJob))(list)
  if (Either.isLeft(decoded)) return Either.left(new WorkloadSpecError({ message: formatParseError(decoded.left) }))
  const seen = new Set<string>()
  const jobs: Array<WorkloadJob> = []
  for (let i = 0; i < decoded.right.length; i++) {
    const e = decoded.right[i]
    const id = e.id ?? String(i + 1)
    if (seen.has(id)) {
      return Either.left(new WorkloadSpecError({ message: `${i}.id: duplicate job id ${JSON.stringify(id)}` }))
    }
    seen.add(id)
    const cpn = e.cpn ?? 0
    jobs.push({
      id,
      submit: e.submit,
      cores: e.cores,
      cpn: Math.min(cpn, e.cores),
      runtime: e.runtime,
      walltime: e.walltime ?? null,
      queue: e.queue ?? null,
      account: e.account ?? null,
      property: e.property ?? null,
      priority: e.priority ?? 0
    })
  }
  jobs.sort(compareJobs)
  return Either.right({ jobs, skipped: 0, source: `jobs:${jobs.length}` })
}

// ---------------------------------------------------------------- any source

export { SwfWorkloadSpec, SyntheticWorkloadSpec }

/** `workload:` of a scenario file, by `type`: "swf", "synthetic" or "jobs". */
export const WorkloadSpec = Schema.Union(SwfWorkloadSpec, SyntheticWorkloadSpec, ExplicitWorkloadSpec)
export type WorkloadSpec = typeof WorkloadSpec.Type

/** Decode untrusted input (a parsed scenario file's `workload`), naming the path of a bad value. */
export const decodeWorkloadSpec = (u: unknown): Either.Either<WorkloadSpec, WorkloadSpecError> =>
  Either.mapLeft(
    Schema.decodeUnknownEither(WorkloadSpec)(u, { errors: "all", onExcessProperty: "error" }),
    (e) => new WorkloadSpecError({ message: formatParseError(e) })
  )

export interface LoadOptions {
  /** The scenario seed (synthetic workloads; a spec's own `seed` wins). */
  readonly seed: number
  /** Directory relative paths (an SWF `file`) are resolved against: the scenario file's. */
  readonly baseDir: string
}

export const loadWorkload = (spec: WorkloadSpec, options: LoadOptions): Either.Either<Workload, WorkloadError> => {
  switch (spec.type) {
    case "swf": {
      // a catalogue name (traces.ts) or a path; a missing catalogue trace says how to fetch it
      const found = resolveTraceFile(spec.file, options.baseDir)
      if ("problem" in found && found.missing !== null) return Either.left(new WorkloadSpecError({ message: found.problem }))
      const path = "path" in found ? found.path : isAbsolute(spec.file) ? spec.file : resolve(options.baseDir, spec.file)
      return readSwf({ path }, swfOptionsOfSpec(spec))
    }
    case "synthetic":
      return generateSynthetic(spec, options.seed)
    case "jobs":
      return explicitJobs(spec.jobs)
  }
}
