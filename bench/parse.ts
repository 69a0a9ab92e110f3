/**
 * parse: the live batch-system parsers on a 100,000-job queue (10,000 with
 * --quick). Each batch system's output is built from the real fixtures in
 * ../shared/fixtures (their job entries replicated with new ids), then parsed
 * twice: inline (the parser on the main thread, as before #19) and the way
 * the live daemon does (parseJobs: in the parse worker above its size
 * threshold). Prints per parser: the output's size, CPU ms of the
 * whole process (all threads) per parse, wall ms, and the longest event-loop
 * block seen on the main thread (perf_hooks.monitorEventLoopDelay, 10 ms
 * resolution) while the parse ran. On Linux also the main thread's own CPU
 * ms per parse and the most of it spent between two turns of its event loop
 * (/proc/self/task/<pid>/schedstat, sampled by a 1 ms timer): unlike wall
 * blocks, these barely depend on the machine's load.
 *
 *   npm run bench -- parse [--quick] [--json]
 */
import { existsSync, readFileSync } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { Effect, Either } from "effect"
import { jobParsers, parseJobs, type JobParser } from "../src/live/parse-worker.ts"
import { fmt, machineNote, sleep, type Bench, type Reporter } from "./lib.ts"

const FIXTURES = fileURLToPath(new URL("../../shared/fixtures/", import.meta.url))

/** `n` copies, cycling through `items`, each given the next id by `withId`. */
const replicate = (items: ReadonlyArray<string>, n: number, withId: (item: string, id: number) => string): Array<string> =>
  Array.from({ length: n }, (_, i) => withId(items[i % items.length], 1_000_000 + i))

/** SGE `qstat -xml -r`: the fixture's job_list elements, as pending jobs with new JB_job_numbers. */
export const sgeQstatXml = (fixture: string, n: number): string => {
  const jobs = fixture.match(/<job_list[\s\S]*?<\/job_list>/g) ?? []
  const body = replicate(jobs, n, (j, id) => j.replace(/<JB_job_number>\d+</, `<JB_job_number>${id}<`)).join("\n")
  return `<?xml version='1.0'?>\n<job_info>\n  <queue_info>\n  </queue_info>\n  <job_info>\n${body}\n  </job_info>\n</job_info>\n`
}

/** Torque `qstat -x -t`: the fixture's Job elements with new Job_Ids. */
export const torqueQstatXml = (fixture: string, n: number): string => {
  const jobs = fixture.match(/<Job>[\s\S]*?<\/Job>/g) ?? []
  return `<Data>${replicate(jobs, n, (j, id) => j.replace(/<Job_Id>[^.<]+/, `<Job_Id>${id}`)).join("")}</Data>`
}

/** Slurm `squeue --json`: the fixture's jobs with new job_ids, printed as squeue does (indented). */
export const squeueJson = (fixture: string, n: number): string => {
  const doc = JSON.parse(fixture) as { jobs: ReadonlyArray<Record<string, unknown>> }
  const jobs = Array.from({ length: n }, (_, i) => ({ ...doc.jobs[i % doc.jobs.length], job_id: 1_000_000 + i }))
  return JSON.stringify({ ...doc, jobs }, null, 2)
}

interface Case {
  readonly name: JobParser
  readonly fixture: string
  readonly build: (fixture: string, n: number) => string
}

const cases: ReadonlyArray<Case> = [
  { name: "sge qstat -xml", fixture: "sge/qstat_xml_f_starcluster_192jobs.xml", build: sgeQstatXml },
  { name: "torque qstat -x", fixture: "torque/qstat_x_fyrd_stanford.xml", build: torqueQstatXml },
  { name: "slurm squeue --json", fixture: "slurm/squeue_json_slurm-21.08.5.json", build: squeueJson }
]

type Result = Either.Either<ReadonlyArray<unknown>, { readonly message: string }>
const modes: ReadonlyArray<readonly [string, (c: Case, text: string) => Promise<Result>]> = [
  ["inline", async (c, t) => (jobParsers[c.name] as (t: string) => Result)(t)],
  ["daemon", (c, t) => Effect.runPromise(Effect.either(parseJobs(c.name, t)))]
]

interface Run {
  readonly cpuMs: number
  readonly wallMs: number
  readonly blockMs: number
  /** The main thread's CPU ms for the parse, and the most between two loop turns (null: no schedstat). */
  readonly mainCpuMs: number | null
  readonly turnCpuMs: number | null
  readonly result: Result
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`
/** The main thread's CPU time in ns (Linux), null elsewhere. */
const mainThreadCpuNs = (): number | null => {
  try {
    return Number(readFileSync(SCHEDSTAT, "utf8").split(" ")[0])
  } catch {
    return null
  }
}

/** One parse, with the process's CPU and the main thread's longest event-loop block while it ran. */
const measure = async (c: Case, text: string, parse: (c: Case, text: string) => Promise<Result>): Promise<Run> => {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  await sleep(20)
  // the main thread's CPU between two turns of its loop, sampled by a 1 ms timer
  let turnNs = 0
  let lastNs = mainThreadCpuNs()
  let sampling = lastNs !== null
  const sample = () => {
    const ns = mainThreadCpuNs() ?? 0
    turnNs = Math.max(turnNs, ns - (lastNs ?? 0))
    lastNs = ns
    if (sampling) timer = setTimeout(sample, 1)
  }
  let timer = sampling ? setTimeout(sample, 1) : undefined
  const main0 = mainThreadCpuNs()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const result = await parse(c, text)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const main1 = mainThreadCpuNs()
  if (sampling) sample()
  sampling = false
  clearTimeout(timer)
  await sleep(20)
  h.disable()
  // the histogram's figures are the delay beyond the resolution, in ns
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs,
    blockMs: h.max / 1e6,
    mainCpuMs: main0 !== null && main1 !== null ? (main1 - main0) / 1e6 : null,
    turnCpuMs: main0 !== null ? turnNs / 1e6 : null,
    result
  }
}

export const parse: Bench = {
  name: "parse",
  description: "live parsers (SGE qstat -xml, Torque qstat -x, Slurm squeue --json) on 100,000 jobs built from ../shared fixtures: CPU ms, longest event-loop block",
  run: async (r: Reporter) => {
    if (!existsSync(FIXTURES)) {
      r.warn(`skipped: ${FIXTURES} is absent (the fixtures live in ../shared)`)
      return
    }
    const n = r.options.quick ? 10_000 : 100_000
    const reps = 2
    r.note(`parse: ${fmt(n)} jobs per output, ${reps} parses each (after one warm-up) inline and as the daemon does; ${machineNote()}`)
    const rows: Array<Array<string>> = []
    for (const c of cases) {
      // flat, as a command's decoded output is: the builders' concatenation
      // leaves a rope that V8 would flatten (a full copy) inside the first parse
      const text = Buffer.from(c.build(readFileSync(FIXTURES + c.fixture, "utf8"), n), "utf8").toString("utf8")
      const mb = text.length / 1024 / 1024
      for (const [mode, run] of modes) {
      const params = { parser: c.name, mode, jobs: n, mb: Number(mb.toFixed(1)) }
      await measure(c, text, run) // warm-up
      const runs: Array<Run> = []
      for (let i = 0; i < reps; i++) runs.push(await measure(c, text, run))
      const last = runs[runs.length - 1].result
      const outcome = Either.isRight(last) ? `${fmt(last.right.length)} jobs` : `refused: ${last.left.message}`
      r.figure("cpu", runs.map((x) => x.cpuMs), "ms", params)
      r.figure("wall", runs.map((x) => x.wallMs), "ms", params)
      r.figure("block", runs.map((x) => x.blockMs), "ms", params)
      const main = runs.flatMap((x) => (x.mainCpuMs === null || x.turnCpuMs === null ? [] : [[x.mainCpuMs, x.turnCpuMs] as const]))
      if (main.length > 0) {
        r.figure("main-cpu", main.map(([m]) => m), "ms", params)
        r.figure("turn-cpu", main.map(([, t]) => t), "ms", params)
      }
      rows.push([
        c.name,
        mode,
        `${mb.toFixed(1)} MB`,
        outcome,
        runs.map((x) => x.cpuMs.toFixed(0)).join(" / "),
        runs.map((x) => x.wallMs.toFixed(0)).join(" / "),
        runs.map((x) => x.blockMs.toFixed(0)).join(" / "),
        runs.map((x) => (x.mainCpuMs === null ? "–" : x.mainCpuMs.toFixed(0))).join(" / "),
        runs.map((x) => (x.turnCpuMs === null ? "–" : x.turnCpuMs.toFixed(0))).join(" / ")
      ])
      }
    }
    r.table(["parser", "mode", "output", "result", "cpu ms", "wall ms", "longest loop block ms", "main-thread cpu ms", "most main cpu in one turn ms"], rows)
  }
}
