/**
 * sim-scale: synthetic workloads of 10³ … 10⁶ jobs over one fixed simulated
 * week, on a cluster sized for the largest (physical nodes plus two clouds
 * with realistic boot times, classic policy), to show how wall time and memory
 * grow with the job count. Each run is its own process (its own peak RSS).
 *
 *   npm run bench -- sim-scale [--quick] [--json]
 */
import { Either } from "effect"
import { kitScenario } from "../src/sim/kit.ts"
import { SimDriver } from "../src/sim/run.ts"
import { generateSynthetic } from "../src/sim/synthetic.ts"
import { childInput, childResult, cpuSecondsSince, fmt, machineNote, MemorySampler, runChild, showStats, stats, type Bench, type Reporter } from "./lib.ts"

const WEEK = 7 * 86400

interface Input {
  readonly jobs: number
  readonly span: number
}

export interface ScaleRun {
  readonly jobs: number
  readonly span: number
  readonly genSeconds: number
  readonly wallSeconds: number
  readonly cpuSeconds: number
  readonly steps: number
  readonly skipped: number
  readonly events: number
  readonly finished: number
  readonly maxRssMB: number
  readonly heapMB: number
}

/** Cores the workload keeps busy on average, whatever the job count (the 32 physical nodes have 512). */
const OFFERED_CORES = 400

/**
 * The scenario: `jobs` arrivals (Poisson) over `span` seconds, 1–8 cores
 * (4.5 on average), runtimes exponential with the mean that keeps the offered
 * load at OFFERED_CORES: the same cluster and the same load at every size,
 * only more and shorter jobs (10³ jobs: ~10 h each; 10⁶: ~36 s). A fixed
 * runtime would overload the cluster at 10⁶ jobs and measure a queue that
 * grows without end instead of the simulator.
 */
export const scaleScenario = (jobs: number, span: number) => {
  const w = generateSynthetic(
    {
      jobs,
      arrival: { type: "poisson", rate_per_hour: (jobs / span) * 3600 },
      cores: { type: "uniform", min: 1, max: 8 },
      runtime: { type: "exponential", mean: (OFFERED_CORES * span) / (jobs * 4.5) },
      walltime_factor: 2
    },
    7
  )
  if (Either.isLeft(w)) throw new Error(w.left.message)
  return kitScenario({
    name: `synthetic-${jobs}`,
    seed: 7,
    physical: Array.from({ length: 32 }, (_, i) => ({ hostname: `node${String(i + 1).padStart(2, "0")}`, cores: 16 })),
    resources: [
      {
        name: "os",
        max: 32,
        priority: 1,
        cores: 16,
        bootTime: { type: "lognormal", median: 90, sigma: 0.35 },
        configTime: { type: "lognormal", median: 120, sigma: 0.3 },
        bootFailureRate: 0.01
      },
      {
        name: "aws",
        max: 32,
        priority: 2,
        cores: 16,
        bootTime: { type: "lognormal", median: 50, sigma: 0.3 },
        configTime: { type: "lognormal", median: 120, sigma: 0.3 },
        price: 0.68
      }
    ],
    jobs: w.right.jobs,
    settings: { cluster_poller_interval: 30, cloud_poller_interval: 30, auto_provision_interval: 60, worker_thread_number: 8 },
    schedulerCycle: 30,
    drain: 3600
  })
}

/** One run (in the child process). */
export const scaleRun = (input: Input): ScaleRun => {
  const mem = new MemorySampler()
  const g0 = performance.now()
  const scenario = scaleScenario(input.jobs, input.span)
  const genSeconds = (performance.now() - g0) / 1000
  mem.sample()
  let events = 0
  const c0 = process.cpuUsage()
  const w0 = performance.now()
  const d = new SimDriver(scenario, { collect: false }, () => {
    events++
  })
  let k = 0
  while (d.advance()) if ((++k & 4095) === 0) mem.sample()
  const s = d.summary()
  const wallSeconds = (performance.now() - w0) / 1000
  const cpuSeconds = cpuSecondsSince(c0)
  const p = mem.peak()
  return {
    jobs: input.jobs,
    span: d.world.now,
    genSeconds,
    wallSeconds,
    cpuSeconds,
    steps: d.steps,
    skipped: d.skipped,
    events,
    finished: s.jobs.finished,
    maxRssMB: p.maxRssMB,
    heapMB: p.heapMB
  }
}

export const simScale: Bench = {
  name: "sim-scale",
  description: "synthetic workloads of 10³–10⁶ jobs over one simulated week: how time and memory grow",
  run: async (r: Reporter) => {
    const quick = r.options.quick
    const sizes = quick ? [1_000, 10_000] : [1_000, 10_000, 100_000, 1_000_000]
    const span = quick ? 86400 : WEEK
    r.note(`sim-scale: ${sizes.map(fmt).join(", ")} jobs over ${span / 86400} simulated day(s); ${machineNote()}`)
    const rows: Array<Array<string>> = []
    let base: { jobs: number; cpu: number; rss: number } | null = null
    for (const jobs of sizes) {
      const reps = quick ? 1 : jobs >= 1_000_000 ? 1 : 3
      const runs: Array<ScaleRun> = []
      for (let i = 0; i < reps; i++) runs.push(await runChild<ScaleRun>(new URL(import.meta.url), { jobs, span } satisfies Input))
      const a = runs[0]
      const params = { jobs, span_s: span }
      const wall = runs.map((x) => x.wallSeconds)
      const cpu = runs.map((x) => x.cpuSeconds)
      const rss = runs.map((x) => x.maxRssMB)
      r.figure("wall", wall, "s", params)
      r.figure("cpu", cpu, "s", params)
      r.figure("cpu_per_job", cpu.map((c) => (c / jobs) * 1e6), "µs/job", params)
      r.figure("speed", runs.map((x) => x.span / x.wallSeconds), "sim s/wall s", params)
      r.figure("steps", a.steps, "cycles", params)
      r.figure("skipped", a.skipped, "cycles", params)
      r.figure("events_per_s", runs.map((x) => x.events / x.wallSeconds), "events/s", params)
      r.figure("finished", a.finished, "jobs", params)
      r.figure("peak_rss", rss, "MB", params)
      r.figure("peak_heap", runs.map((x) => x.heapMB), "MB", params)
      r.figure("generate", runs.map((x) => x.genSeconds), "s", params)
      const c = stats(cpu).median
      const m = stats(rss).median
      base ??= { jobs, cpu: c, rss: m }
      rows.push([
        fmt(jobs),
        fmt(a.finished),
        showStats(stats(wall), " s"),
        showStats(stats(cpu), " s"),
        `${fmt((c / jobs) * 1e6)} µs`,
        `${fmt(a.steps)} / ${fmt(a.skipped)}`,
        `${fmt(m)} MB`,
        `${fmt(stats(runs.map((x) => x.heapMB)).median)} MB`,
        `×${fmt(c / base.cpu)} cpu, ×${fmt(m / base.rss)} RSS for ×${fmt(jobs / base.jobs)} jobs`
      ])
    }
    r.table(["jobs", "finished", "wall (min–max)", "cpu", "cpu/job", "cycles run / skipped", "peak RSS", "peak heap", "growth"], rows)
  }
}

const input = childInput(import.meta.url)
if (input !== undefined) childResult(scaleRun(input as Input))
