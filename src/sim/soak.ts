/**
 * The soak: many random worlds (src/sim/arbitrary.ts) for a time budget on
 * every core, each run checked against every invariant (src/sim/invariants.ts).
 * Run k checks world `sampleWorld(base + floor(k / P))` under policy k mod P,
 * so every policy sees the same worlds and a failing (seed, policy) pair
 * replays alone. A failure is shrunk and written as a scenario file.
 *
 * Workers are child processes running src/cli/soak-worker.ts through tsx;
 * `workers: 0` runs in this process (tests). Wall time (for runs/s and the
 * slowest run) comes from the caller: nothing here reads a clock.
 */
import { fork, type ChildProcess } from "node:child_process"
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as fc from "fast-check"
import { arbWorld, sampleWorld, type RandomWorld, type WorldOptions } from "./arbitrary.ts"
import { checkWorld, counterexampleHeader, scenarioYaml } from "./harness.ts"
import { addCoverage, emptyCoverage, type Coverage } from "./invariants.ts"

// ---------------------------------------------------------------- one run

export interface SoakTask {
  readonly seed: number
  readonly policy: string
}

export interface RunReport extends SoakTask {
  readonly wallMs: number
  /** Simulated seconds. */
  readonly span: number
  readonly lines: number
  readonly jobs: number
  readonly boots: number
  readonly failedBoots: number
  /** Faults started, by kind (restarts included). */
  readonly faults: Record<string, number>
  readonly actions: { readonly accepted: number; readonly refused: number }
  readonly killed: Record<string, number>
  readonly waitMax: number
  readonly waitP95: number
  /** Highest count of instances alive in one resource divided by its max (max 0 resources left out). */
  readonly peakRatio: number
  readonly violations: ReadonlyArray<{ readonly invariant: string; readonly t: number; readonly message: string }>
  readonly coverage: { readonly min: Coverage; readonly provision: Coverage }
  readonly crash: string | null
}

export const soakRun = (task: SoakTask, options: WorldOptions = {}, wallClock?: () => number): RunReport => {
  const w = sampleWorld(task.seed, options)
  const r = checkWorld(w, task.policy, wallClock)
  const faults: Record<string, number> = {}
  const killed: Record<string, number> = {}
  for (const e of r.events) {
    if (e.ev === "fault") faults[e.kind] = (faults[e.kind] ?? 0) + 1
    else if (e.ev === "restart") faults.restart = (faults.restart ?? 0) + 1
    else if (e.ev === "killed") killed[e.cause] = (killed[e.cause] ?? 0) + 1
  }
  let peakRatio = 0
  for (const res of w.kit.resources) {
    const peak = r.summary?.resources[res.name]?.peak_nodes ?? 0
    if (res.max > 0) peakRatio = Math.max(peakRatio, peak / res.max)
  }
  return {
    ...task,
    wallMs: r.wallMs,
    span: r.summary?.span ?? 0,
    lines: r.lines.length,
    jobs: r.summary?.jobs.submitted ?? 0,
    boots: r.summary?.total.boots ?? 0,
    failedBoots: r.summary?.total.failed_boots ?? 0,
    faults,
    actions: r.actions,
    killed,
    waitMax: r.summary?.wait.max ?? 0,
    waitP95: r.summary?.wait.p95 ?? 0,
    peakRatio,
    violations: r.violations.map((v) => ({ invariant: v.invariant, t: v.t, message: v.message })),
    coverage: r.coverage,
    crash: r.crash
  }
}

/**
 * Shrinks a failing world with fast-check (the first value of `fc.check`
 * with the same seed is `sampleWorld(seed)`), for at most `timeLimitMs`.
 */
export const shrinkFailure = (task: SoakTask, options: WorldOptions, timeLimitMs: number): RandomWorld => {
  const prop = fc.property(arbWorld(options), (w) => checkWorld(w, task.policy).violations.length === 0)
  const d = fc.check(prop, { seed: task.seed, numRuns: 1, interruptAfterTimeLimit: timeLimitMs })
  return d.failed && d.counterexample !== null ? d.counterexample[0] : sampleWorld(task.seed, options)
}

/** Writes the shrunk counterexample of a failing run; returns its path. */
export const writeFailure = (dir: string, report: RunReport, options: WorldOptions, shrinkMs: number): string => {
  mkdirSync(dir, { recursive: true })
  const w = shrinkMs > 0 ? shrinkFailure(report, options, shrinkMs) : sampleWorld(report.seed, options)
  const after = checkWorld(w, report.policy)
  const file = join(dir, `${report.policy}-seed${report.seed}.yaml`)
  const header = counterexampleHeader({
    title: `Counterexample found by the soak (world seed ${report.seed}), shrunk for ${Math.round(shrinkMs / 1000)} s at most.`,
    found: `Unshrunk: npx dyncluster soak --seed ${report.seed} --runs 1 --policy ${report.policy}`,
    policy: report.policy,
    violations: after.violations.length > 0 ? after.violations : report.violations.map((v) => ({ ...v, invariant: v.invariant as never, evidence: [] })),
    file
  })
  writeFileSync(file, scenarioYaml(w, report.policy, header))
  return file
}

// ---------------------------------------------------------------- totals

export interface Worst {
  readonly value: number
  readonly seed: number
  readonly policy: string
}

export class SoakTotals {
  runs = 0
  readonly byPolicy: Record<string, number> = {}
  wallMs = 0
  span = 0
  jobs = 0
  boots = 0
  failedBoots = 0
  readonly faults: Record<string, number> = {}
  readonly killed: Record<string, number> = {}
  actionsAccepted = 0
  actionsRefused = 0
  violations = 0
  readonly byInvariant: Record<string, number> = {}
  readonly failing: Array<{ readonly seed: number; readonly policy: string; readonly invariants: ReadonlyArray<string>; readonly file: string | null }> = []
  readonly coverage = { min: emptyCoverage(), provision: emptyCoverage() }
  readonly worst: Record<"waitMax" | "waitP95" | "peakRatio" | "wallMs" | "lines", Worst | null> = {
    waitMax: null,
    waitP95: null,
    peakRatio: null,
    wallMs: null,
    lines: null
  }

  add(r: RunReport): void {
    this.runs++
    this.byPolicy[r.policy] = (this.byPolicy[r.policy] ?? 0) + 1
    this.wallMs += r.wallMs
    this.span += r.span
    this.jobs += r.jobs
    this.boots += r.boots
    this.failedBoots += r.failedBoots
    for (const [k, v] of Object.entries(r.faults)) this.faults[k] = (this.faults[k] ?? 0) + v
    for (const [k, v] of Object.entries(r.killed)) this.killed[k] = (this.killed[k] ?? 0) + v
    this.actionsAccepted += r.actions.accepted
    this.actionsRefused += r.actions.refused
    this.violations += r.violations.length
    for (const v of r.violations) this.byInvariant[v.invariant] = (this.byInvariant[v.invariant] ?? 0) + 1
    addCoverage(this.coverage.min, r.coverage.min)
    addCoverage(this.coverage.provision, r.coverage.provision)
    for (const k of ["waitMax", "waitP95", "peakRatio", "wallMs", "lines"] as const) {
      const w = this.worst[k]
      if (w === null || r[k] > w.value) this.worst[k] = { value: r[k], seed: r.seed, policy: r.policy }
    }
  }

  get faultsInjected(): number {
    return Object.values(this.faults).reduce((a, b) => a + b, 0)
  }
}

const fmt = (x: number, d = 1) => x.toFixed(d)
const kv = (o: Record<string, number>) =>
  Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${Math.round(v)}`)
    .join(", ") || "none"
const worstOf = (w: Worst | null, unit: string, d = 0) => (w === null ? "–" : `${fmt(w.value, d)}${unit} (seed ${w.seed}, ${w.policy})`)

export const formatTotals = (t: SoakTotals, elapsedSeconds: number, workers: number): string => {
  const cov = (c: Coverage, what: string) => `${what}: judged ${fmt(c.judged / 3600)} h; excused ${kv(Object.fromEntries(Object.entries(c.excused).map(([k, v]) => [k, v / 3600])))} (h)`
  return [
    `Random worlds: ${t.runs} in ${fmt(elapsedSeconds)} s on ${workers} worker(s): ${fmt(t.runs / Math.max(elapsedSeconds, 1e-9), 2)} runs/s (${kv(t.byPolicy)})`,
    `Simulated: ${fmt(t.span / 3600)} h of cluster time, ${t.jobs} jobs, ${t.boots} boots (${t.failedBoots} failed or refused)`,
    `Faults injected: ${t.faultsInjected} (${kv(t.faults)}); operator actions: ${t.actionsAccepted + t.actionsRefused} (${t.actionsAccepted} accepted, ${t.actionsRefused} refused); jobs killed: ${kv(t.killed)}`,
    `Invariant violations: ${t.violations}${t.violations > 0 ? ` (${kv(t.byInvariant)})` : ""}`,
    `Liveness checks: ${cov(t.coverage.provision, "queued job gets a node (job-time)")}`,
    `                 ${cov(t.coverage.min, "min reached (resource-time)")}`,
    `Worst seen: job wait ${worstOf(t.worst.waitMax, " s")}; p95 wait ${worstOf(t.worst.waitP95, " s")}; instances/max ${worstOf(t.worst.peakRatio, "", 2)}; slowest run ${worstOf(t.worst.wallMs, " ms")}; longest log ${worstOf(t.worst.lines, " lines")}`,
    `Failing seeds: ${t.failing.length === 0 ? "none" : t.failing.map((f) => `${f.seed}/${f.policy} [${f.invariants.join(",")}]${f.file ? ` → ${f.file}` : ""}`).join("; ")}`
  ].join("\n")
}

// ---------------------------------------------------------------- the loop

export interface SoakOptions {
  readonly policies: ReadonlyArray<string>
  /** First world seed. */
  readonly seed: number
  readonly runs: number | null
  readonly seconds: number | null
  /** Child processes; 0 = in this process. */
  readonly workers: number
  /** Directory for failing seeds (seeds.jsonl) and their scenario files. */
  readonly out: string
  /** Time to shrink each failure (0 = write the unshrunk world). */
  readonly shrinkMs: number
  readonly world?: WorldOptions
  readonly progress?: (t: SoakTotals, elapsedSeconds: number) => void
  /** Milliseconds since some origin (injected so this file reads no clock itself). */
  readonly now: () => number
}

const taskOf = (o: SoakOptions, k: number): SoakTask => ({ seed: o.seed + Math.floor(k / o.policies.length), policy: o.policies[k % o.policies.length] })

const recordFailure = (o: SoakOptions, t: SoakTotals, r: RunReport, file: string | null) => {
  const invariants = [...new Set(r.violations.map((v) => v.invariant))]
  t.failing.push({ seed: r.seed, policy: r.policy, invariants, file })
  mkdirSync(o.out, { recursive: true })
  appendFileSync(
    join(o.out, "seeds.jsonl"),
    JSON.stringify({ seed: r.seed, policy: r.policy, invariants, violations: r.violations.slice(0, 5), file, replay: `npx dyncluster soak --seed ${r.seed} --runs 1 --policy ${r.policy}` }) + "\n"
  )
}

/** Runs the soak; resolves with the totals when the budget is spent and every started run is in. */
export const runSoak = async (o: SoakOptions): Promise<{ totals: SoakTotals; elapsedSeconds: number }> => {
  const t = new SoakTotals()
  const t0 = o.now()
  const elapsed = () => (o.now() - t0) / 1000
  const more = (k: number) => (o.runs === null || k < o.runs) && (o.seconds === null || elapsed() < o.seconds)
  let k = 0
  let lastProgress = 0
  const tick = () => {
    if (o.progress !== undefined && elapsed() - lastProgress >= 10) {
      lastProgress = elapsed()
      o.progress(t, elapsed())
    }
  }

  if (o.workers <= 0) {
    while (more(k)) {
      const r = soakRun(taskOf(o, k++), o.world, o.now)
      t.add(r)
      if (r.violations.length > 0) recordFailure(o, t, r, writeFailure(o.out, r, o.world ?? {}, o.shrinkMs))
      tick()
    }
    return { totals: t, elapsedSeconds: elapsed() }
  }

  // From the sources (a checkout) the worker runs through tsx too; compiled (an installed package, dist/), as plain JavaScript.
  const compiled = import.meta.url.endsWith(".js")
  const script = new URL(compiled ? "../cli/soak-worker.js" : "../cli/soak-worker.ts", import.meta.url).pathname
  const execArgv = compiled ? [] : ["--import", import.meta.resolve("tsx")]
  const children: Array<ChildProcess> = []
  await new Promise<void>((resolve, reject) => {
    let busy = 0
    const next = (child: ChildProcess) => {
      if (!more(k)) {
        child.send({ type: "stop" })
        if (busy === 0) resolve()
        return
      }
      busy++
      child.send({ type: "run", task: taskOf(o, k++), world: o.world ?? {}, out: o.out, shrinkMs: o.shrinkMs })
    }
    for (let i = 0; i < o.workers; i++) {
      const child = fork(script, [], { execArgv, stdio: ["ignore", "ignore", "inherit", "ipc"] })
      children.push(child)
      child.on("message", (m: { type: "done"; report: RunReport; file: string | null }) => {
        busy--
        t.add(m.report)
        if (m.report.violations.length > 0) recordFailure(o, t, m.report, m.file)
        tick()
        next(child)
      })
      child.on("error", reject)
      child.on("exit", (code) => {
        if (code !== 0 && code !== null) reject(new Error(`soak worker exited with code ${code}`))
      })
      next(child)
    }
  }).finally(() => {
    for (const c of children) if (c.connected) c.send({ type: "stop" })
  })
  return { totals: t, elapsedSeconds: elapsed() }
}
