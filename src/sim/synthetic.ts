/**
 * Synthetic workloads: an arrival process plus size and runtime
 * distributions, all drawn from a seeded generator.
 *
 * Every attribute has its own forked stream (arrivals, bursts, cores, runtime,
 * queue, account, property, priority), so changing, say, the queue mix of a
 * scenario leaves its arrival times and runtimes exactly as they were.
 *
 * Conventions: the first arrival comes one inter-arrival time after 0; submit
 * times are rounded to the millisecond; cores are rounded to integers >= 1;
 * runtimes to whole seconds >= 1; walltime = ceil(runtime × walltime_factor)
 * or null. Burst jobs come in addition to `jobs` and are spread uniformly over
 * [at, at + spread). Ids are `<id_prefix><n>`, n = 1.. in submit order.
 */
import { Data, Either, Schema } from "effect"
import { Distribution, Rng, sample } from "./random.ts"
import type { Workload, WorkloadJob } from "./workload.ts"

export class SyntheticError extends Data.TaggedError("SyntheticError")<{ readonly message: string }> {}

const positive = Schema.Finite.pipe(Schema.positive()).annotations({ message: () => "expected a positive number" })
const nonNegative = Schema.Finite.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative number"
})
const nonNegInt = Schema.Int.pipe(Schema.nonNegative()).annotations({
  message: () => "expected a non-negative integer"
})

export const PoissonArrival = Schema.Struct({ type: Schema.Literal("poisson"), rate_per_hour: positive })

/** A Poisson process, or any distribution of inter-arrival seconds. */
export const Arrival = Schema.Union(PoissonArrival, Distribution)
export type Arrival = typeof Arrival.Type

export const Burst = Schema.Struct({
  /** Seconds from the scenario start. */
  at: nonNegative,
  count: nonNegInt,
  /** Jobs are submitted uniformly over [at, at + spread). Default 0. */
  spread: Schema.optional(nonNegative)
})
export type Burst = typeof Burst.Type

const ChoiceOfNames = Schema.Struct({
  values: Schema.NonEmptyArray(Schema.NullOr(Schema.String)),
  weights: Schema.optional(Schema.Array(nonNegative))
}).pipe(
  Schema.filter((c) => {
    if (c.weights === undefined) return true
    if (c.weights.length !== c.values.length) return "weights must have as many entries as values"
    return c.weights.some((w) => w > 0) || "at least one weight must be positive"
  })
)
/** A fixed name (or null), or `{values: [...], weights?: [...]}`. */
export const NameChoice = Schema.Union(Schema.NullOr(Schema.String), ChoiceOfNames)
export type NameChoice = typeof NameChoice.Type

/** `type: synthetic` in a scenario file. */
export const SyntheticWorkloadSpec = Schema.Struct({
  type: Schema.Literal("synthetic"),
  /** Overrides the scenario seed for this workload only. */
  seed: Schema.optional(Schema.Int),
  /** Number of jobs from the arrival process. */
  jobs: Schema.optional(nonNegInt),
  /** Stop the arrival process at this many seconds. */
  duration: Schema.optional(positive),
  arrival: Schema.optional(Arrival),
  bursts: Schema.optional(Schema.Array(Burst)),
  cores: Distribution,
  /** Cores per node; 0 = spread anywhere (default). */
  cpn: Schema.optional(nonNegInt),
  runtime: Distribution,
  walltime_factor: Schema.optional(positive),
  queues: Schema.optional(NameChoice),
  accounts: Schema.optional(NameChoice),
  properties: Schema.optional(NameChoice),
  priority: Schema.optional(Distribution),
  id_prefix: Schema.optional(Schema.String)
}).pipe(
  Schema.filter((s) => {
    if (s.arrival !== undefined && s.jobs === undefined && s.duration === undefined)
      return "an arrival process needs jobs (a count) or duration"
    if (s.arrival === undefined && (s.bursts === undefined || s.bursts.length === 0) && (s.jobs ?? 0) > 0)
      return "jobs needs an arrival process"
    return true
  })
)
export type SyntheticWorkloadSpec = typeof SyntheticWorkloadSpec.Type
/** What `generateSynthetic` reads: the decoded spec, `type` optional. */
export type SyntheticSpec = Omit<SyntheticWorkloadSpec, "type"> & { readonly type?: "synthetic" }

/** A runaway guard for `duration`-only specs whose inter-arrival time can be 0. */
export const MAX_SYNTHETIC_JOBS = 10_000_000

const MAX_STALLED = 100_000

const roundMs = (t: number) => Math.round(t * 1000) / 1000

const chooser = (c: NameChoice | undefined, rng: Rng): (() => string | null) => {
  if (c === undefined || c === null) return () => null
  if (typeof c === "string") return () => c
  const { values, weights } = c
  if (values.length === 1) return () => values[0]
  return weights === undefined
    ? () => values[rng.int(0, values.length - 1)]
    : () => values[rng.weighted(weights)]
}

/** The jobs of `spec` for `seed` (the spec's own `seed` wins). Same inputs → identical output. */
export const generateSynthetic = (spec: SyntheticSpec, seed: number): Either.Either<Workload, SyntheticError> => {
  const effectiveSeed = spec.seed ?? seed
  const root = Rng.make(effectiveSeed).fork("synthetic")
  const times: Array<number> = []

  if (spec.arrival !== undefined) {
    const arrival = spec.arrival
    const rng = root.fork("arrival")
    const gap =
      arrival.type === "poisson"
        ? (() => {
            const mean = 3600 / arrival.rate_per_hour
            return () => rng.exponential(mean)
          })()
        : () => Math.max(0, sample(arrival, rng))
    const limit = spec.jobs ?? Infinity
    const end = spec.duration ?? Infinity
    if (limit === Infinity && end === Infinity) {
      return Either.left(new SyntheticError({ message: "an arrival process needs jobs (a count) or duration" }))
    }
    let t = 0
    let stalled = 0
    while (times.length < limit) {
      const g = gap()
      t += g
      if (t >= end) break
      stalled = g > 0 ? 0 : stalled + 1
      if (stalled > MAX_STALLED && limit === Infinity) {
        return Either.left(
          new SyntheticError({ message: `${MAX_STALLED} inter-arrival times of 0 in a row: time does not advance` })
        )
      }
      if (times.length >= MAX_SYNTHETIC_JOBS) {
        return Either.left(
          new SyntheticError({ message: `more than ${MAX_SYNTHETIC_JOBS} jobs: is the inter-arrival time 0?` })
        )
      }
      times.push(roundMs(t))
    }
  }
  const bursts = spec.bursts ?? []
  if (bursts.length > 0) {
    const rng = root.fork("bursts")
    for (const b of bursts) {
      const spread = b.spread ?? 0
      for (let k = 0; k < b.count; k++) times.push(roundMs(spread > 0 ? b.at + rng.uniform(0, spread) : b.at))
    }
  }
  if (times.length > MAX_SYNTHETIC_JOBS) {
    return Either.left(new SyntheticError({ message: `more than ${MAX_SYNTHETIC_JOBS} jobs` }))
  }
  times.sort((a, b) => a - b)

  const coresRng = root.fork("cores")
  const runtimeRng = root.fork("runtime")
  const priorityRng = root.fork("priority")
  const queueOf = chooser(spec.queues, root.fork("queue"))
  const accountOf = chooser(spec.accounts, root.fork("account"))
  const propertyOf = chooser(spec.properties, root.fork("property"))
  const cpn = spec.cpn ?? 0
  const factor = spec.walltime_factor
  const prefix = spec.id_prefix ?? ""

  const jobs: Array<WorkloadJob> = new Array(times.length)
  for (let i = 0; i < times.length; i++) {
    const cores = Math.max(1, Math.round(sample(spec.cores, coresRng)))
    const runtime = Math.max(1, Math.round(sample(spec.runtime, runtimeRng)))
    jobs[i] = {
      id: `${prefix}${i + 1}`,
      submit: times[i],
      cores,
      cpn: cpn === 0 ? 0 : Math.min(cpn, cores),
      runtime,
      walltime: factor === undefined ? null : Math.ceil(runtime * factor),
      queue: queueOf(),
      account: accountOf(),
      property: propertyOf(),
      priority: spec.priority === undefined ? 0 : sample(spec.priority, priorityRng)
    }
  }
  return Either.right({ jobs, skipped: 0, source: `synthetic:seed=${effectiveSeed}` })
}
