/**
 * sim-trace: replay each real trace of ../shared/traces through the
 * simulator (engine unchanged, clouds with realistic boot times), as
 * configured by scenarios/trace-*.yaml (the whole log or its first year),
 * under the scenario's own policy (classic: the first round's figures) and
 * under the default policy (lean). Each replay runs in its own process so
 * its peak RSS is its own.
 *
 *   npm run bench -- sim-trace [--quick] [--json]
 *   BENCH_POLICIES=lean npm run bench -- sim-trace          # only these policies ("scenario": the scenario's own)
 *   BENCH_SIM_TRACES=lanl npm run bench -- sim-trace        # only the traces whose scenario file name contains one of these
 *   BENCH_SIM_FASTPATH_CHECK=1 npm run bench -- sim-trace   # each replay once more without the fast path: same event log (SHA-256)?
 */
import { Either } from "effect"
import { createHash } from "node:crypto"
import { readdirSync } from "node:fs"
import { basename } from "node:path"
import { fileURLToPath } from "node:url"
import { SimDriver } from "../src/sim/run.ts"
import { decodeScenarioAt, readScenarioDocument } from "../src/sim/scenario.ts"
import { resolveTraceFile, searchDirs } from "../src/sim/traces.ts"
import {
  childInput,
  childResult,
  cpuSecondsSince,
  fmt,
  machineNote,
  MemorySampler,
  runChild,
  showStats,
  stats,
  type Bench,
  type Reporter
} from "./lib.ts"

const TRACES = new URL("../../shared/traces/", import.meta.url)
const SCENARIOS = new URL("../scenarios/", import.meta.url)

interface Input {
  readonly scenario: string
  readonly trace: string
  /** Stop after this many simulated seconds (the quick mode's window). */
  readonly maxTime: number | null
  readonly fastPath: boolean
  /** The policy to run (null: the scenario's own). */
  readonly policy: string | null
  /** Hash the event log (SHA-256), to compare runs with and without the fast path. */
  readonly hash: boolean
}

export interface TraceRun {
  readonly name: string
  readonly jobs: number
  readonly span: number
  readonly loadSeconds: number
  readonly wallSeconds: number
  readonly cpuSeconds: number
  readonly steps: number
  readonly skipped: number
  readonly events: number
  readonly maxRssMB: number
  readonly heapMB: number
  readonly policy: string
  /** SHA-256 of the event log (lines joined with newlines), when asked. */
  readonly sha256: string | null
}

/** One replay (in the child process). */
export const replay = (input: Input): TraceRun => {
  const mem = new MemorySampler()
  const t0 = performance.now()
  const doc = readScenarioDocument(input.scenario)
  if (Either.isLeft(doc)) throw doc.left
  const d0 = doc.right as { workload: Record<string, unknown> }
  // The trace from ../shared/traces (relative to this file), whatever path the scenario names.
  const patched = { ...d0, workload: { ...d0.workload, file: input.trace } }
  const sc = decodeScenarioAt(input.scenario, patched)
  if (Either.isLeft(sc)) throw sc.left
  const s = sc.right
  const scenario = input.maxTime === null ? s : { ...s, world: { ...s.world, maxTime: input.maxTime } }
  const loadSeconds = (performance.now() - t0) / 1000
  let events = 0
  const hash = input.hash ? createHash("sha256") : null
  const c0 = process.cpuUsage()
  const w0 = performance.now()
  const d = new SimDriver(scenario, { collect: false, fastPath: input.fastPath, ...(input.policy !== null ? { policy: input.policy } : {}) }, (line) => {
    events++
    hash?.update(line + "\n")
  })
  // (4,096 advances per fiber: SimDriver.advanceMany; the same world and event log as advance() one by one)
  while (d.advanceMany(4096)) mem.sample()
  d.summary()
  const wallSeconds = (performance.now() - w0) / 1000
  const cpuSeconds = cpuSecondsSince(c0)
  const p = mem.peak()
  return {
    name: s.name,
    jobs: s.world.jobs.length,
    span: d.world.now,
    loadSeconds,
    wallSeconds,
    cpuSeconds,
    steps: d.steps,
    skipped: d.skipped,
    events,
    maxRssMB: p.maxRssMB,
    heapMB: p.heapMB,
    policy: d.policy,
    sha256: hash === null ? null : hash.digest("hex")
  }
}

/** The trace scenarios whose trace file is present (found as `simulate` finds it: traces.ts), and the ones skipped (with why). */
export const traceScenarios = (): { readonly found: Array<{ scenario: string; trace: string }>; readonly missing: Array<string> } => {
  const found: Array<{ scenario: string; trace: string }> = []
  const missing: Array<string> = []
  const dir = fileURLToPath(SCENARIOS)
  for (const f of readdirSync(dir).filter((f) => /^trace-.*\.ya?ml$/.test(f)).sort()) {
    const path = dir + f
    const doc = readScenarioDocument(path)
    const file = Either.isRight(doc) ? (doc.right as { workload?: { file?: unknown } }).workload?.file : undefined
    if (typeof file !== "string") continue
    // ../shared/traces (beside this checkout) first, as the scenario's catalogue name resolves
    const where = resolveTraceFile(file, dir, { dirs: [fileURLToPath(TRACES), ...searchDirs()] })
    if ("path" in where) found.push({ scenario: path, trace: where.path })
    else missing.push(`${f}: ${where.problem}`)
  }
  return { found, missing }
}

export const simTrace: Bench = {
  name: "sim-trace",
  description: "replay each trace of ../shared/traces (the scenario's policy and lean, realistic boots): speed in simulated seconds per wall second",
  run: async (r: Reporter) => {
    const { found: all, missing } = traceScenarios()
    const only = process.env.BENCH_SIM_TRACES?.split(",").map((x) => x.trim()).filter((x) => x.length > 0)
    const found = only === undefined || only.length === 0 ? all : all.filter((t) => only.some((o) => basename(t.scenario).includes(o)))
    const asked = process.env.BENCH_POLICIES?.split(",").map((x) => x.trim()).filter((x) => x.length > 0)
    const policies: ReadonlyArray<string | null> = (asked !== undefined && asked.length > 0 ? asked : ["scenario", "lean"]).map((p) => (p === "scenario" ? null : p))
    const check = (process.env.BENCH_SIM_FASTPATH_CHECK ?? "").trim() === "1"
    for (const m of missing) r.warn(`skipped: ${m}`)
    if (found.length === 0) {
      r.warn(`no trace found in ${fileURLToPath(TRACES)}: nothing to replay (the traces live beside the project, in ../shared/traces)`)
      return
    }
    const quick = r.options.quick
    const reps = quick ? 1 : 2
    const maxTime = quick ? 7 * 86400 : null
    r.note(`sim-trace: ${found.length} trace(s) × ${policies.map((p) => p ?? "the scenario's policy").join(", ")}, ${reps} run(s) each${quick ? ", first 7 days only (--quick)" : ""}${check ? ", each also without the fast path" : ""}; ${machineNote()}`)
    const rows: Array<Array<string>> = []
    const checks: Array<Array<string>> = []
    for (const t of found) for (const policy of policies) {
      const runs: Array<TraceRun> = []
      for (let i = 0; i < reps; i++) runs.push(await runChild<TraceRun>(new URL(import.meta.url), { ...t, maxTime, fastPath: true, policy, hash: check } satisfies Input))
      const a = runs[0]
      const params = { trace: a.name, jobs: a.jobs, span_s: Math.round(a.span), window: quick ? "7d" : "scenario", policy: a.policy }
      if (check) {
        const slow = await runChild<TraceRun>(new URL(import.meta.url), { ...t, maxTime, fastPath: false, policy, hash: true } satisfies Input)
        const same = runs.every((x) => x.sha256 === slow.sha256)
        r.figure("fastpath_same_log", same ? 1 : 0, "bool", params)
        r.figure("wall_without_fastpath", slow.wallSeconds, "s", params)
        if (!same) r.warn(`${a.name} (${a.policy}): the event log differs with and without the fast path (${runs.map((x) => x.sha256).join(", ")} vs ${slow.sha256})`)
        checks.push([a.name, a.policy, `${fmt(a.events)} lines`, same ? "same" : "DIFFERENT", `${slow.sha256!.slice(0, 16)}…`, `${fmt(stats(runs.map((x) => x.wallSeconds)).median)} s / ${fmt(slow.wallSeconds)} s`])
      }
      const speed = runs.map((x) => x.span / x.wallSeconds)
      const cpuSpeed = runs.map((x) => x.span / x.cpuSeconds)
      const wall = runs.map((x) => x.wallSeconds)
      const evps = runs.map((x) => x.events / x.wallSeconds)
      const rss = runs.map((x) => x.maxRssMB)
      r.figure("jobs", a.jobs, "jobs", params)
      r.figure("span", a.span, "s", params)
      r.figure("wall", wall, "s", params)
      r.figure("cpu", runs.map((x) => x.cpuSeconds), "s", params)
      r.figure("speed", speed, "sim s/wall s", params)
      r.figure("speed_cpu", cpuSpeed, "sim s/cpu s", params)
      r.figure("steps", a.steps, "cycles", params)
      r.figure("skipped", a.skipped, "cycles", params)
      r.figure("events_per_s", evps, "events/s", params)
      r.figure("load", runs.map((x) => x.loadSeconds), "s", params)
      r.figure("peak_rss", rss, "MB", params)
      r.figure("peak_heap", runs.map((x) => x.heapMB), "MB", params)
      rows.push([
        a.name,
        a.policy,
        fmt(a.jobs),
        `${fmt(a.span / 86400)} d`,
        showStats(stats(wall), " s"),
        showStats(stats(speed)),
        fmt(stats(cpuSpeed).median),
        `${fmt(a.steps)} / ${fmt(a.skipped)}`,
        fmt(stats(evps).median),
        `${fmt(stats(rss).median)} MB`,
        `${fmt(stats(runs.map((x) => x.heapMB)).median)} MB`
      ])
    }
    if (checks.length > 0) {
      r.note("sim-trace: the event log with and without the fast path:")
      r.table(["trace", "policy", "event log", "fast vs slow", "SHA-256", "wall fast / slow"], checks)
    }
    r.table(["trace", "policy", "jobs", "span", "wall (min–max)", "sim s / wall s", "sim s / cpu s", "cycles run / skipped", "events/s", "peak RSS", "peak heap"], rows)
  }
}

const input = childInput(import.meta.url)
if (input !== undefined) childResult(replay(input as Input))
