/**
 * `dyncluster simulate SCENARIO`: replays a scenario file in the simulated
 * world and prints the summary of DESIGN.md. `--policy a,b` and repeated
 * `--set key=value` make variants that run on the same seed and are printed
 * side by side.
 *
 * stdout is a pure function of the scenario, the options and the seed (wall
 * time goes to stderr), so two runs can be compared byte for byte.
 */
import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option } from "effect"
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs"
import { availableParallelism } from "node:os"
import { basename, dirname, extname, join } from "node:path"
import { allowUnknownKeysOption, fail, integerOption, policyHelp, policyList, withUnknownKeysHint } from "./options.ts"
import { cannotWrite, outputProblem, writeFailure } from "./output-file.ts"
import type { EngineLogEvent } from "../engine/engine.ts"
import { barText } from "./progress-bar.ts"
import { ActionReplay } from "../sim/harness.ts"
import { buildReport, DEFAULT_CURRENCY } from "../sim/report.ts"
import { SimDriver } from "../sim/run.ts"
import {
  applySet,
  decodeScenarioAt,
  parseSetValue,
  readScenarioDocument,
  type LoadedScenario
} from "../sim/scenario.ts"
import { formatSeedTable, parseSeeds, seedSection, seedsProblem, seedStats, seedStatsJson } from "../sim/seeds.ts"
import type { ResourceSummary, Summary } from "../sim/summary.ts"
import type { SeedTask } from "./seeds-pool.ts"

// ---------------------------------------------------------------- variants

export interface Variant {
  /** Column header / file suffix: the policy, then each varied key=value. */
  readonly label: string
  readonly policy: string | undefined
  /** Every --set applied to this variant, in order. */
  readonly sets: ReadonlyArray<readonly [string, string]>
}

/** Most variants one command may run. */
export const MAX_VARIANTS = 32

/** Splits `key=value`; the value may itself contain `=`. */
export const parseSetArg = (arg: string): Either.Either<readonly [string, string], string> => {
  const i = arg.indexOf("=")
  if (i <= 0) return Either.left(`--set ${arg}: expected key=value, e.g. config.dynamic-cluster.max_idle_time=300`)
  return Either.right([arg.slice(0, i).trim(), arg.slice(i + 1)] as const)
}

const GENERIC = new Set(["value", "min", "max", "mean", "median", "sigma", "sd", "count", "at", "duration", "type", "factor", "rate_per_hour"])

/** The shortest tail of a dotted key that tells it apart from the other varied keys (for column headers). */
const shortKey = (key: string, all: ReadonlyArray<string>): string => {
  const parts = key.split(".")
  for (let n = 1; n < parts.length; n++) {
    if (n === 1 && GENERIC.has(parts[parts.length - 1])) continue
    const tail = parts.slice(-n).join(".")
    if (all.every((o) => o === key || !(o === tail || o.endsWith("." + tail)))) return tail
  }
  return key
}

/**
 * The variants of a command line: every policy of `--policy a,b` times every
 * value of a key given several times with `--set`; a key given once applies to
 * all variants.
 */
export const variantsOf = (policies: ReadonlyArray<string> | null, sets: ReadonlyArray<readonly [string, string]>): Array<Variant> => {
  const byKey = new Map<string, Array<string>>()
  for (const [k, v] of sets) byKey.set(k, [...(byKey.get(k) ?? []), v])
  let combos: Array<{ policy: string | undefined; sets: Array<readonly [string, string]>; label: Array<string> }> = (policies ?? [undefined]).map(
    (p) => ({ policy: p, sets: [], label: p !== undefined && policies !== null && policies.length > 0 ? [p] : [] })
  )
  const varied = [...byKey].filter(([, vs]) => vs.length > 1).map(([k]) => k)
  for (const [k, values] of byKey) {
    const short = shortKey(k, varied)
    const next: typeof combos = []
    for (const c of combos) {
      for (const v of values) next.push({ policy: c.policy, sets: [...c.sets, [k, v] as const], label: values.length > 1 ? [...c.label, `${short}=${v}`] : c.label })
    }
    combos = next
  }
  return combos.map((c) => ({ label: c.label.join(" "), policy: c.policy, sets: c.sets }))
}

/** `run.jsonl` → `run.2-classic_max_idle_time=300.jsonl` for the second of several variants. */
export const eventsPathFor = (file: string, index: number, label: string, count: number): string => {
  if (count <= 1) return file
  const ext = extname(file)
  const stem = basename(file, ext)
  const slug = label.replace(/[^A-Za-z0-9_.=-]+/g, "_").slice(0, 60) || "variant"
  return join(dirname(file), `${stem}.${index + 1}-${slug}${ext}`)
}

// ---------------------------------------------------------------- formatting

const fixed = (v: number, digits: number) => v.toFixed(digits)

/** Seconds as a short human duration: `42.0 s`, `12m 05s`, `3h 07m`, `2d 04h`. */
export const humanDuration = (s: number): string => {
  if (!Number.isFinite(s)) return "–"
  if (s < 100) return `${fixed(s, 1)} s`
  const x = Math.round(s)
  const d = Math.floor(x / 86400)
  const h = Math.floor((x % 86400) / 3600)
  const m = Math.floor((x % 3600) / 60)
  const sec = x % 60
  const p2 = (n: number) => String(n).padStart(2, "0")
  if (x < 3600) return `${m}m ${p2(sec)}s`
  if (x < 86400) return `${h}h ${p2(m)}m`
  return `${d}d ${p2(h)}h`
}

type Row = readonly [string, ...Array<string>] | string

/** The summary of one or more runs as a table, one column per run; the cost in `currency` (the scenario's report.currency). */
export const formatTable = (
  runs: ReadonlyArray<{ readonly label: string; readonly summary: Summary }>,
  heading: string,
  currency: string = DEFAULT_CURRENCY
): string => {
  const rows: Array<Row> = []
  const col = (f: (s: Summary) => string) => runs.map((r) => f(r.summary))
  const section = (title: string) => rows.push(title)
  const row = (name: string, f: (s: Summary) => string) => rows.push([`  ${name}`, ...col(f)])
  section("Jobs")
  row("submitted", (s) => String(s.jobs.submitted))
  row("started", (s) => String(s.jobs.started))
  row("finished", (s) => String(s.jobs.finished))
  row("killed", (s) => String(s.jobs.killed))
  const spot = runs.some((r) => r.summary.spot_interruptions !== undefined)
  if (spot) row("resubmitted (killed)", (s) => String(s.jobs.resubmitted ?? 0))
  row("skipped (trace)", (s) => String(s.jobs.skipped))
  section("Wait time (submit → start)")
  row("mean", (s) => humanDuration(s.wait.mean))
  row("p50", (s) => humanDuration(s.wait.p50))
  row("p95", (s) => humanDuration(s.wait.p95))
  row("max", (s) => humanDuration(s.wait.max))
  const names: Array<string> = []
  for (const r of runs) for (const n of Object.keys(r.summary.resources)) if (!names.includes(n)) names.push(n)
  const priced = runs.some((r) => r.summary.total.cost !== null)
  const resourceRows = (get: (s: Summary) => ResourceSummary | undefined) => {
    const f = (g: (r: ResourceSummary) => string) => (s: Summary) => {
      const r = get(s)
      return r === undefined ? "–" : g(r)
    }
    row("node-hours paid", f((r) => fixed(r.node_hours, 2)))
    row("core-hours paid", f((r) => fixed(r.core_hours, 2)))
    row("useful core-hours", f((r) => fixed(r.useful_core_hours, 2)))
    row("utilisation", f((r) => (r.utilisation === null ? "–" : `${fixed(r.utilisation * 100, 1)} %`)))
    row("boots", f((r) => String(r.boots)))
    row("failed boots", f((r) => String(r.failed_boots)))
    row("peak nodes", f((r) => String(r.peak_nodes)))
    if (priced) row(`cost (${currency})`, f((r) => (r.cost === null ? "–" : fixed(r.cost, 2))))
  }
  for (const n of names) {
    section(`Cloud resource ${n}`)
    resourceRows((s) => s.resources[n])
  }
  if (names.length > 1 || names.length === 0) {
    section("All cloud resources")
    resourceRows((s) => s.total)
  }
  section("Run")
  row("faults injected", (s) => String(s.faults))
  if (spot) row("spot interruptions", (s) => String(s.spot_interruptions ?? 0))
  row("scaler restarts", (s) => String(s.restarts))
  row("simulated span", (s) => humanDuration(s.span))
  row("span (seconds)", (s) => String(s.span))

  const headers = ["", ...runs.map((r) => r.label)]
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...rows.filter((r): r is readonly [string, ...Array<string>] => typeof r !== "string").map((r) => r[i].length))
  )
  widths[0] = Math.max(widths[0], 28)
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i]))).join("  ").trimEnd()
  const out = [heading, "", line(headers)]
  for (const r of rows) out.push(typeof r === "string" ? r : line(r))
  return out.join("\n") + "\n"
}

// ---------------------------------------------------------------- progress

/** A one-line progress bar on stderr, shown only once a run has taken a second. */
export class Progress {
  private shownAt = 0
  private visible = false
  constructor(
    private readonly enabled: boolean,
    private readonly startedAt: number
  ) {}

  update(label: string, now: number, end: number) {
    if (!this.enabled) return
    const wall = performance.now()
    if (wall - this.startedAt < 1000 || wall - this.shownAt < 100) return
    this.shownAt = wall
    const text = `${barText(end > 0 ? now / end : 0)}  ${humanDuration(now)} of ~${humanDuration(end)} simulated${label ? `  (${label})` : ""}`
    process.stderr.write(`\r\x1b[K${text}`)
    this.visible = true
  }

  clear() {
    if (this.visible) process.stderr.write("\r\x1b[K")
    this.visible = false
  }
}

// ---------------------------------------------------------------- running

/** Event-log lines go to a file in large writes. */
class LineWriter {
  private buf: Array<string> = []
  private size = 0
  constructor(private readonly fd: number) {}
  write(line: string) {
    this.buf.push(line)
    this.size += line.length + 1
    if (this.size > 1 << 20) this.flush()
  }
  flush() {
    if (this.buf.length === 0) return
    writeSync(this.fd, this.buf.join("\n") + "\n")
    this.buf = []
    this.size = 0
  }
  close() {
    this.flush()
    closeSync(this.fd)
  }
}

export interface RunOutput {
  readonly summary: Summary
  readonly events: ReadonlyArray<string>
  readonly wallSeconds: number
  /** Set when the run was stopped because nothing could happen any more. */
  readonly stalled: string | null
}

/**
 * Simulated seconds without any event while the world has nothing scheduled
 * and jobs still wait: the policy will never start nodes for them (e.g. a job
 * larger than any single resource under classic), and the run would go on forever.
 */
export const STALL_SECONDS = 86400

const stallMessage = (d: SimDriver): string => {
  const queued = d.world.queuedJobs().filter((j) => j.state === "queued")
  const j = queued[0]?.spec
  const first =
    j === undefined ? "" : `, the first: job ${j.id} (${j.cores} core(s)${j.cpn > 0 ? `, ${j.cpn} per node` : ""}${j.queue !== null ? `, queue ${j.queue}` : ""})`
  return (
    `the run stalled at ${humanDuration(d.world.now)} (${d.world.now} s): ${queued.length} job(s) still queued${first}, ` +
    `and nothing happened for ${humanDuration(STALL_SECONDS)} of simulated time: the policy does not start nodes for them ` +
    "(classic starts all nodes of a job in one resource: is quantity.max × cores of some resource large enough?)"
  )
}

/** Wall milliseconds between yields to the event loop (so Ctrl-C can interrupt a long run). */
const SLICE_MS = 50

/**
 * A real turn of the event loop: signals are delivered there (Effect.yieldNow
 * only yields to other fibers, through microtasks, and a signal would wait).
 */
const toEventLoop = Effect.async<void>((resume) => {
  const h = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(h))
})

/**
 * One run as `simulate` does it: the scenario's operator_actions at their
 * times, the stall check, the final `end` line. The golden test
 * (src/sim/golden.test.ts) runs the very same function.
 */
export const runOne = (
  scenario: LoadedScenario,
  policy: string | undefined,
  opts: {
    readonly writer: { readonly write: (line: string) => void } | null
    readonly keep: boolean
    readonly progress: Progress
    readonly label: string
    /** The engine's log (simulate itself writes none). */
    readonly engineLog?: (e: EngineLogEvent) => void
  }
): Effect.Effect<RunOutput> =>
  Effect.gen(function* () {
    const t0 = performance.now()
    const events: Array<string> = []
    let lastEventAt = 0
    let d: SimDriver | undefined
    const sink = (line: string) => {
      if (opts.keep) events.push(line)
      opts.writer?.write(line)
      if (d !== undefined) lastEventAt = d.world.now
    }
    d = new SimDriver(scenario, { ...(policy !== undefined ? { policy } : {}), ...(opts.engineLog ? { engineLog: opts.engineLog } : {}) }, sink)
    const driver = d
    // the scenario's operator_actions at their times, as `soak --replay` applies them
    const replay = new ActionReplay(driver, scenario.operatorActions, sink)
    let stalled: string | null = null
    let more = true
    while (more && stalled === null) {
      const sliceEnd = performance.now() + SLICE_MS
      const w = driver.world
      // checked after every step, so where a stalled run stops does not depend on the machine's speed
      const stalledNow = () => w.now - lastEventAt > STALL_SECONDS && w.nextEventTime() === Infinity && !w.workloadDone() && replay.remaining === 0
      for (let n = 1; ; n++) {
        // with no operator action left, 256 steps in one fiber (advanceMany: the same steps, one fiber instead of one each)
        more = replay.remaining === 0 ? driver.advanceMany(256, stalledNow) : replay.advance()
        if (!more) break
        if (stalledNow()) {
          stalled = stallMessage(driver)
          break
        }
        if ((replay.remaining === 0 || (n & 255) === 0) && performance.now() > sliceEnd) break
      }
      opts.progress.update(opts.label, driver.world.now, scenario.expectedEnd)
      yield* toEventLoop
    }
    const summary = driver.summary()
    sink(`{"t":${driver.world.now},"ev":"end",${stalled !== null ? `"stalled":true,` : ""}"summary":${JSON.stringify(summary)}}`)
    return { summary, events, wallSeconds: (performance.now() - t0) / 1000, stalled }
  })

// ---------------------------------------------------------------- the command

const scenarioArg = Args.file({ name: "SCENARIO", exists: "either" }).pipe(Args.withDescription("the scenario file (YAML), see docs/testbed.md"))
const seed = integerOption("seed").pipe(Options.optional, Options.withDescription("seed (overrides the scenario's)"))
const policy = Options.text("policy").pipe(
  Options.optional,
  Options.withDescription(`provisioning policy, or several separated by commas to compare them on the same seed: ${policyHelp()}`)
)
const set = Options.text("set").pipe(
  Options.repeated,
  Options.withDescription(
    "override a value of the scenario: a dotted key path = a YAML value (e.g. config.dynamic-cluster.max_idle_time=300); repeat a key to compare its values"
  )
)
// Plain text, not Options.file: the path is checked here (outputProblem), so every problem is one line naming the option and the path.
const events = Options.text("events").pipe(
  Options.withPseudoName("file"),
  Options.optional,
  Options.withDescription("write the JSON Lines event log here (one file per variant)")
)
const report = Options.text("report").pipe(Options.withPseudoName("file"), Options.optional, Options.withDescription("write a self-contained HTML report here"))
const seeds = Options.text("seeds").pipe(
  Options.optional,
  Options.withDescription("run every variant on these seeds (e.g. 1-10, 6-10, 1,3,5) on every core and print per variant the mean and a 95 % t-interval over seeds, and the change against the first variant paired by seed")
)
const sweep = Options.text("sweep").pipe(
  Options.optional,
  Options.withDescription("key=v1,v2,...: one variant per value (as --set key=v1 --set key=v2 ...), e.g. dynamic-cluster.wait_value=0,0.05,0.2,1,5; with --seeds the report plots the frontier")
)
const workers = integerOption("workers").pipe(Options.optional, Options.withDescription("with --seeds: worker processes (default: one per core; 0 or 1 = in this process)"))
const json = Options.boolean("json").pipe(Options.withDescription("print the summary as JSON (an array for several variants)"))
const quiet = Options.boolean("quiet").pipe(
  Options.withDescription("no progress bar and no notes on stderr (wall time, trace jobs replayed/skipped, files written); warnings and errors still")
)

/** What became of a trace's lines: replayed, outside the window, skipped and why (null for other workloads). */
export const traceNote = (s: LoadedScenario): string | null => {
  if (s.trace === null) return null
  const { lines, outsideWindow, skippedBy } = s.trace
  const why = [
    skippedBy.runtime > 0 ? `${skippedBy.runtime} with a negative runtime` : null,
    skippedBy.processors > 0 ? `${skippedBy.processors} without a processor count` : null,
    skippedBy.tooLarge > 0 ? `${skippedBy.tooLarge} above max_cores` : null
  ].filter((x) => x !== null)
  const skipped = skippedBy.runtime + skippedBy.processors + skippedBy.tooLarge
  return (
    `trace: ${s.world.jobs.length} of ${lines} job(s) replayed` +
    (outsideWindow > 0 ? `, ${outsideWindow} outside the window` : "") +
    (skipped > 0 ? `, ${skipped} skipped (${why.join(", ")})` : "")
  )
}


/** `simulate --seeds`: every variant on every seed, on every core; the table of means with intervals, and the report's scatter. */
const manySeeds = (o: {
  readonly path: string
  readonly docs: ReadonlyArray<unknown>
  readonly scenarios: ReadonlyArray<LoadedScenario>
  readonly variants: ReadonlyArray<Variant>
  readonly seeds: ReadonlyArray<number>
  readonly seedsText: string
  readonly workers: number
  readonly report: string | null
  readonly json: boolean
  readonly quiet: boolean
  readonly allowUnknownKeys: boolean
  readonly sweep: boolean
}) =>
  Effect.gen(function* () {
    if (o.report !== null) {
      const problem = outputProblem(o.report)
      if (problem !== null) return yield* fail(cannotWrite("--report", o.report, problem))
    }
    const label = (i: number) => o.variants[i].label || (o.variants[i].policy ?? o.scenarios[i].config["dynamic-cluster"].policy)
    const tasks: Array<SeedTask> = []
    o.variants.forEach((v, i) =>
      o.seeds.forEach((seed, k) =>
        tasks.push({ id: tasks.length, path: o.path, doc: o.docs[i], seed, policy: v.policy, allowUnknownKeys: o.allowUnknownKeys, keep: o.report !== null && k === 0 })
      )
    )
    const t0 = performance.now()
    const progress = new Progress(process.stderr.isTTY === true && !o.quiet, t0)
    // loaded here: seeds-pool.ts runs runOne of this module (a static import both ways would be a cycle)
    const { runSeedTasks } = yield* Effect.promise(() => import("./seeds-pool.ts"))
    const results = yield* Effect.promise(() =>
      runSeedTasks(tasks, o.workers, (done) => progress.update(`${done}/${tasks.length} runs`, done, tasks.length))
    )
    progress.clear()
    const errors = results.flatMap((r) => (r.error !== undefined ? [r.error] : []))
    if (errors.length > 0) return yield* fail([...new Set(errors)].join("\n"))
    const per = o.variants.map((_, i) => ({ label: label(i), runs: o.seeds.map((_, k) => results[i * o.seeds.length + k].summary!) }))
    const stats = seedStats(per)
    const sc = o.scenarios[0]
    const currency = sc.currency ?? DEFAULT_CURRENCY
    if (o.report !== null) {
      const first = o.variants.map((_, i) => results[i * o.seeds.length])
      const html = buildReport(
        first.map((r, i) => ({ label: `${per[i].label} (seed ${o.seeds[0]})`, events: r.events ?? [], summary: r.summary! })),
        {
          title: `Simulation report: ${sc.name}, seeds ${o.seedsText}`,
          currency,
          extraHtml: seedSection(stats, per, { seeds: o.seedsText, currency, sweep: o.sweep })
        }
      )
      try {
        writeFileSync(o.report, html)
      } catch (e) {
        return yield* fail(cannotWrite("--report", o.report, writeFailure(o.report, e)))
      }
    }
    if (o.json) {
      yield* Console.log(
        JSON.stringify(
          { scenario: sc.name, seeds: o.seeds, variants: seedStatsJson(stats), runs: per.map((v, i) => ({ variant: v.label, set: Object.fromEntries(o.variants[i].sets), summaries: v.runs })) },
          null,
          2
        )
      )
    } else {
      const heading = `Scenario ${sc.name} · seeds ${o.seedsText} (${o.seeds.length} run(s) per variant) · mean ± half-width of a 95 % t-interval over seeds; Δ: per-seed change against ${per[0].label}, mean [95 % interval]`
      yield* Console.log(formatSeedTable(stats, heading, currency).trimEnd())
    }
    const stalls = results.flatMap((r, j) => (r.stalled ? [`${label(Math.floor(j / o.seeds.length))} seed ${o.seeds[j % o.seeds.length]}: ${r.stalled}`] : []))
    if (!o.quiet) {
      if (o.report !== null) yield* Console.error(`report: ${o.report}`)
      yield* Console.error(`wall time: ${((performance.now() - t0) / 1000).toFixed(2)} s for ${tasks.length} run(s) on ${Math.max(1, Math.min(o.workers, tasks.length))} worker(s)`)
    }
    if (stalls.length > 0) {
      for (const m of stalls) yield* Console.error(`error: ${m}`)
      return yield* Effect.sync(() => process.exit(2))
    }
  })

export const simulateCommand = Command.make(
  "simulate",
  { scenario: scenarioArg, seed, seeds, policy, set, sweep, workers, events, report, json, quiet, allowUnknownKeys: allowUnknownKeysOption },
  (a) =>
    Effect.gen(function* () {
      // ---------------------------------------- options
      const parsed = policyList(a.policy)
      if (Either.isLeft(parsed)) return yield* fail(parsed.left)
      const policies = parsed.right
      const sets: Array<readonly [string, string]> = []
      for (const s of a.set) {
        const kv = parseSetArg(s)
        if (Either.isLeft(kv)) return yield* fail(kv.left)
        sets.push(kv.right)
      }
      if (Option.isSome(a.sweep)) {
        const kv = parseSetArg(a.sweep.value)
        if (Either.isLeft(kv)) return yield* fail(kv.left.replace("--set", "--sweep").replace("=300", "=300,600"))
        const [given, list] = kv.right
        // the configuration's own key paths (dynamic-cluster.wait_value, cloud.aws.price) are under config. in a scenario
        const key = /^(dynamic-cluster|cloud)\./.test(given) ? `config.${given}` : given
        const vals = list.split(",").map((v) => v.trim())
        if (vals.some((v) => v === "")) return yield* fail(`--sweep ${a.sweep.value}: expected key=v1,v2,... with no empty value`)
        for (const v of vals) sets.push([key, v] as const)
      }
      const seedList = Option.isNone(a.seeds) ? null : parseSeeds(a.seeds.value)
      if (Option.isSome(a.seeds) && seedList === null) return yield* fail(`--seeds ${a.seeds.value}: ${seedsProblem(a.seeds.value)}`)
      if (seedList !== null && Option.isSome(a.seed)) return yield* fail("give either --seed or --seeds, not both")
      if (seedList !== null && Option.isSome(a.events)) return yield* fail("--events writes one run's log: it goes with one seed, not --seeds")
      const variants = variantsOf(policies, sets)
      if (variants.length > MAX_VARIANTS) return yield* fail(`${variants.length} variants: at most ${MAX_VARIANTS} in one command`)

      // ---------------------------------------- scenarios
      const doc = readScenarioDocument(a.scenario)
      if (Either.isLeft(doc)) return yield* fail(doc.left.message)
      const seedOpt = { ...(Option.isSome(a.seed) ? { seed: a.seed.value } : {}), allowUnknownKeys: a.allowUnknownKeys }
      const baseDir = dirname(a.scenario)
      const scenarios: Array<LoadedScenario> = []
      const docs: Array<unknown> = []
      const warnings = new Set<string>()
      const errors: Array<string> = []
      for (const v of variants) {
        let d: unknown = doc.right
        let bad: string | null = null
        for (const [k, val] of v.sets) {
          const r = applySet(d, k, parseSetValue(val), baseDir)
          if (Either.isLeft(r)) {
            bad = r.left
            break
          }
          d = r.right
        }
        if (bad !== null) {
          errors.push(bad)
          continue
        }
        const sc = decodeScenarioAt(a.scenario, d, seedOpt)
        if (Either.isLeft(sc)) {
          errors.push(variants.length > 1 && v.label !== "" ? `variant ${v.label}: ${sc.left.message}` : sc.left.message)
          for (const w of sc.left.warnings) warnings.add(w)
          continue
        }
        for (const w of sc.right.warnings) warnings.add(w)
        scenarios.push(sc.right)
        docs.push(d)
      }
      for (const w of warnings) yield* Console.error(`warning: ${w}`)
      if (errors.length > 0) return yield* fail(withUnknownKeysHint([...new Set(errors)].join("\n")))
      if (!a.quiet) for (const note of new Set(scenarios.map(traceNote))) if (note !== null) yield* Console.error(note)

      if (seedList !== null) {
        return yield* manySeeds({
          path: a.scenario,
          docs,
          scenarios,
          variants,
          seeds: seedList,
          seedsText: a.seeds.pipe(Option.getOrElse(() => "")),
          workers: Option.getOrElse(a.workers, () => availableParallelism()),
          report: Option.getOrNull(a.report),
          json: a.json,
          quiet: a.quiet,
          allowUnknownKeys: a.allowUnknownKeys,
          sweep: Option.isSome(a.sweep)
        })
      }

      // ---------------------------------------- outputs
      // Every output path is checked before anything is written or run (a typo must not cost the whole run).
      const eventsFile = a.events
      const eventPaths = Option.isNone(eventsFile)
        ? []
        : variants.map((v, i) => eventsPathFor(eventsFile.value, i, v.label || scenarios[i].config["dynamic-cluster"].policy, variants.length))
      const outputs = [...eventPaths.map((p) => ["--events", p] as const), ...(Option.isSome(a.report) ? [["--report", a.report.value] as const] : [])]
      for (const [option, path] of outputs) {
        const problem = outputProblem(path)
        if (problem !== null) return yield* fail(cannotWrite(option, path, problem))
      }
      const writers: Array<LineWriter | null> = []
      const eventFiles: Array<string> = []
      for (let i = 0; i < variants.length; i++) {
        if (Option.isNone(a.events)) {
          writers.push(null)
          continue
        }
        const path = eventPaths[i]
        try {
          writers.push(new LineWriter(openSync(path, "w")))
          eventFiles.push(path)
        } catch (e) {
          return yield* fail(cannotWrite("--events", path, writeFailure(path, e)))
        }
      }

      // ---------------------------------------- runs
      const labelled0 = (i: number) => variants[i].label || (variants[i].policy ?? scenarios[i].config["dynamic-cluster"].policy)
      const progress = new Progress(process.stderr.isTTY === true && !a.quiet, performance.now())
      const results: Array<RunOutput> = []
      for (let i = 0; i < variants.length; i++) {
        const label = variants.length > 1 ? `${i + 1}/${variants.length} ${variants[i].label}` : ""
        const writer = writers[i]
        const out = yield* runOne(scenarios[i], variants[i].policy, { writer, keep: Option.isSome(a.report), progress, label }).pipe(
          Effect.ensuring(Effect.sync(() => writer?.close())),
          // Ctrl-C: the event log keeps what happened so far; exit like an interrupted command
          Effect.onInterrupt(() =>
            Effect.sync(() => {
              progress.clear()
              process.stderr.write(`interrupted${eventFiles[i] !== undefined ? `: ${eventFiles[i]} holds the events until then` : ""}\n`)
              process.exit(130)
            })
          )
        )
        results.push(out)
      }
      progress.clear()
      const stalls = results.flatMap((r, i) => (r.stalled === null ? [] : [`${variants.length > 1 ? `${labelled0(i)}: ` : ""}${r.stalled}`]))

      const labelled = results.map((r, i) => ({ label: labelled0(i), summary: r.summary }))
      if (Option.isSome(a.report)) {
        const html = buildReport(
          results.map((r, i) => ({ label: labelled[i].label, events: r.events, summary: r.summary })),
          { title: `Simulation report: ${scenarios[0].name}`, ...(scenarios[0].currency !== null ? { currency: scenarios[0].currency } : {}) }
        )
        try {
          writeFileSync(a.report.value, html)
        } catch (e) {
          return yield* fail(cannotWrite("--report", a.report.value, writeFailure(a.report.value, e)))
        }
      }

      // ---------------------------------------- print
      if (a.json) {
        const out =
          variants.length === 1
            ? results[0].summary
            : results.map((r, i) => ({ variant: labelled[i].label, set: Object.fromEntries(variants[i].sets), ...r.summary }))
        yield* Console.log(JSON.stringify(out, null, 2))
      } else {
        const sc = scenarios[0]
        const heading = `Scenario ${sc.name} · seed ${sc.seed} · ${sc.world.jobs.length} job(s) from ${sc.workloadSource}`
        yield* Console.log(formatTable(labelled, heading, sc.currency ?? DEFAULT_CURRENCY).trimEnd())
      }
      if (!a.quiet) {
        for (const f of eventFiles) yield* Console.error(`event log: ${f}`)
        if (Option.isSome(a.report)) yield* Console.error(`report: ${a.report.value}`)
        yield* Console.error(
          `wall time: ${results.map((r, i) => `${variants.length > 1 ? `${labelled[i].label} ` : ""}${r.wallSeconds.toFixed(2)} s`).join(", ")}`
        )
      }
      if (stalls.length > 0) {
        for (const m of stalls) yield* Console.error(`error: ${m}`)
        return yield* Effect.sync(() => process.exit(2))
      }
    })
).pipe(
  Command.withDescription(
    "Replay a scenario file in the simulated world and print the summary (jobs, waits, paid and useful core-hours, boots, cost); compare policies or settings side by side. " +
      "The scenario's faults and operator_actions happen at their times. Exit code 0 when the run completed, 1 for a scenario that cannot be used (the problems are named on stderr), " +
      "2 when the run stalled (jobs wait that no node will ever be started for), 130 when interrupted"
  )
)
