/**
 * `dyncluster shadow-report DECISIONS.jsonl`: what a run (a shadow run,
 * `run --dry-run --decisions FILE`, or a normal one) decided, from its
 * decisions file (src/daemon/shadow.ts): boots and retirements per resource
 * and per day, and how long the queued jobs waited in reality against how
 * long they would have waited for the scaler's nodes. docs/daemon.md
 * "Shadow mode" describes the file and the arithmetic.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, ParseResult, Schema } from "effect"
import { readFileSync } from "node:fs"

const Start = Schema.Struct({
  type: Schema.Literal("start"),
  t: Schema.Number,
  dry_run: Schema.Boolean,
  boot_time: Schema.Record({ key: Schema.String, value: Schema.Number })
})
const Decision = Schema.Struct({
  type: Schema.Literal("decision"),
  t: Schema.Number,
  kind: Schema.String,
  /** null: a refusal naming no resource (a job no resource can run, auto mode off). */
  resource: Schema.NullOr(Schema.String),
  count: Schema.optional(Schema.Number),
  jobs: Schema.Array(Schema.String),
  reason: Schema.String
})
const JobQueued = Schema.Struct({
  type: Schema.Literal("job_queued"),
  t: Schema.Number,
  job: Schema.String,
  submitted: Schema.NullOr(Schema.Number)
})
const JobLeft = Schema.Struct({ type: Schema.Literal("job_left_queue"), t: Schema.Number, job: Schema.String })
const Line = Schema.Union(Start, Decision, JobQueued, JobLeft)
type Line = typeof Line.Type

export interface WaitStats {
  readonly jobs: number
  readonly mean: number
  readonly median: number
  readonly p95: number
  readonly max: number
}

export interface ShadowReport {
  readonly dry_run: boolean
  /** Seconds since the epoch of the first and last line. */
  readonly from: number
  readonly to: number
  readonly boot_time: Record<string, number>
  /** Per resource, then per UTC day (YYYY-MM-DD). */
  readonly resources: Record<string, { readonly boots: number; readonly retirements: number; readonly refusals: number; readonly days: Record<string, { readonly boots: number; readonly retirements: number }> }>
  readonly jobs: {
    readonly observed: number
    /** Still queued when the file ends (their real wait is counted up to its end). */
    readonly still_queued: number
    /** Named by a provision decision: their would-be wait is bounded by that decision's time plus the boot time. */
    readonly provisioned_for: number
    /** Jobs whose would-be wait is shorter than their real one. */
    readonly sooner: number
    readonly real_wait: WaitStats
    readonly would_be_wait: WaitStats
  }
}

/** Kinds of decisions that take a node out of the cluster (docs/architecture.md). */
const RETIRING = new Set(["remove", "retire"])

const stats = (xs: ReadonlyArray<number>): WaitStats => {
  if (xs.length === 0) return { jobs: 0, mean: 0, median: 0, p95: 0, max: 0 }
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  const r = (x: number) => Math.round(x * 10) / 10
  return { jobs: s.length, mean: r(s.reduce((a, b) => a + b, 0) / s.length), median: r(at(0.5)), p95: r(at(0.95)), max: r(s[s.length - 1]) }
}

const day = (t: number) => new Date(t * 1000).toISOString().slice(0, 10)

/** The lines of a decisions file, decoded; an error names the line and the bad value's path. Lines of other types are skipped. */
export const parseDecisionsFile = (text: string, name: string): Either.Either<Array<Line>, string> => {
  const out: Array<Line> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim()
    if (raw === "") continue
    let json: unknown
    try {
      json = JSON.parse(raw)
    } catch (e) {
      return Either.left(`${name}:${i + 1}: not JSON: ${(e as Error).message}`)
    }
    const type = (json as { type?: unknown } | null)?.type
    if (type !== "start" && type !== "decision" && type !== "job_queued" && type !== "job_left_queue") continue
    const r = Schema.decodeUnknownEither(Line)(json)
    if (Either.isLeft(r)) return Either.left(`${name}:${i + 1}: ${ParseResult.TreeFormatter.formatErrorSync(r.left)}`)
    out.push(r.right)
  }
  if (!out.some((l) => l.type === "start")) return Either.left(`${name}: no "start" line: not a file written by dyncluster run --decisions`)
  return Either.right(out)
}

export const shadowReport = (lines: ReadonlyArray<Line>): ShadowReport => {
  const start = lines.find((l): l is typeof Start.Type => l.type === "start")!
  const bootTime = start.boot_time
  const resources: Record<string, { boots: number; retirements: number; refusals: number; days: Record<string, { boots: number; retirements: number }> }> = {}
  for (const r of Object.keys(bootTime)) resources[r] = { boots: 0, retirements: 0, refusals: 0, days: {} }
  const queued = new Map<string, number>() // job → submitted (or first seen)
  const left = new Map<string, number>()
  /** Earliest time a node booted for the job would be ready. */
  const readyFor = new Map<string, number>()
  let from = Infinity
  let to = -Infinity
  for (const l of lines) {
    from = Math.min(from, l.t)
    to = Math.max(to, l.t)
    if (l.type === "job_queued") {
      if (!queued.has(l.job)) queued.set(l.job, l.submitted ?? l.t)
    } else if (l.type === "job_left_queue") {
      if (!left.has(l.job)) left.set(l.job, l.t)
    } else if (l.type === "decision") {
      if (l.resource === null) continue
      const r = (resources[l.resource] ??= { boots: 0, retirements: 0, refusals: 0, days: {} })
      const d = (r.days[day(l.t)] ??= { boots: 0, retirements: 0 })
      if (l.kind === "provision") {
        const n = l.count ?? 1
        r.boots += n
        d.boots += n
        const ready = l.t + (bootTime[l.resource] ?? 0)
        for (const j of l.jobs) readyFor.set(j, Math.min(readyFor.get(j) ?? Infinity, ready))
      } else if (RETIRING.has(l.kind)) {
        r.retirements++
        d.retirements++
      } else if (l.kind === "refuse") r.refusals++
    }
  }
  const real: Array<number> = []
  const would: Array<number> = []
  let still = 0
  let sooner = 0
  let provisionedFor = 0
  for (const [job, submitted] of queued) {
    const end = left.get(job)
    if (end === undefined) still++
    const w = Math.max(0, (end ?? to) - submitted)
    const ready = readyFor.get(job)
    if (ready !== undefined) provisionedFor++
    const wb = ready === undefined ? w : Math.max(0, Math.min(w, ready - submitted))
    if (wb < w) sooner++
    real.push(w)
    would.push(wb)
  }
  return {
    dry_run: start.dry_run,
    from: from === Infinity ? start.t : from,
    to: to === -Infinity ? start.t : to,
    boot_time: bootTime,
    resources,
    jobs: { observed: queued.size, still_queued: still, provisioned_for: provisionedFor, sooner, real_wait: stats(real), would_be_wait: stats(would) }
  }
}

const fmtWait = (s: WaitStats) => `mean ${s.mean}s, median ${s.median}s, p95 ${s.p95}s, max ${s.max}s`

export const renderReport = (r: ShadowReport, name: string): string => {
  const out: Array<string> = []
  const iso = (t: number) => new Date(t * 1000).toISOString().replace(".000Z", "Z")
  out.push(`${r.dry_run ? "shadow run (--dry-run)" : "run"} from ${name}: ${iso(r.from)} to ${iso(r.to)} (${Math.round((r.to - r.from) / 60)} min)`)
  out.push("")
  out.push(`${r.dry_run ? "would have booted / retired" : "booted / retired"} per resource (boot time assumed):`)
  for (const [name, res] of Object.entries(r.resources)) {
    out.push(`  ${name}: ${res.boots} boot(s), ${res.retirements} retirement(s), ${res.refusals} refusal(s) (boot time ${r.boot_time[name] ?? "?"}s)`)
    for (const [d, v] of Object.entries(res.days).sort()) out.push(`    ${d}: ${v.boots} boot(s), ${v.retirements} retirement(s)`)
  }
  out.push("")
  const j = r.jobs
  out.push(`queued jobs observed: ${j.observed} (${j.still_queued} still queued at the end, ${j.provisioned_for} named by a provision decision, ${j.sooner} would have started sooner)`)
  out.push(`  waited in reality:           ${fmtWait(j.real_wait)}`)
  out.push(`  would have waited for nodes: ${fmtWait(j.would_be_wait)}`)
  return out.join("\n")
}

const file = Args.file({ name: "DECISIONS.jsonl", exists: "yes" }).pipe(Args.withDescription("a decisions file written by `dyncluster run --decisions FILE` (with or without --dry-run)"))
const json = Options.boolean("json").pipe(Options.withDescription("print the report as JSON"))

export const shadowReportCommand = Command.make("shadow-report", { file, json }, (a) =>
  Effect.gen(function* () {
    const text = yield* Effect.try({ try: () => readFileSync(a.file, "utf8"), catch: (e) => `cannot read ${a.file}: ${(e as Error).message}` }).pipe(Effect.either)
    const parsed = Either.flatMap(text, (t) => parseDecisionsFile(t, a.file))
    if (Either.isLeft(parsed)) {
      yield* Console.error(`dyncluster shadow-report: ${parsed.left}`)
      return yield* Effect.sync(() => process.exit(1))
    }
    const report = shadowReport(parsed.right)
    yield* Console.log(a.json ? JSON.stringify(report, null, 2) : renderReport(report, a.file))
  })
).pipe(
  Command.withDescription(
    "Summarise a decisions file (run --decisions FILE, typically with --dry-run): boots and retirements per resource and day, and how long queued jobs waited against how long they would have waited for the scaler's nodes"
  )
)
