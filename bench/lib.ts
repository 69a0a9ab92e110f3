/**
 * The small harness every benchmark shares: repetitions after a warm-up,
 * median and spread, peak memory, a table for people and, with `--json`, one
 * JSON object per figure (`{name, value, unit, params}`) for comparing commits.
 *
 * Benchmarks are not tests: they print figures, they do not pass or fail.
 * Figures measured here are noisy on a shared machine, so every repeated
 * figure carries its spread (`spread: {n, min, max}`) and the load average.
 */
import { createServer } from "node:net"
import { execFile, type ChildProcess } from "node:child_process"
import { rmSync } from "node:fs"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"

// ---------------------------------------------------------------- statistics

/** Median of the samples (mean of the two middle ones for an even count); NaN when empty. */
export const median = (xs: ReadonlyArray<number>): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Nearest-rank quantile (q in [0, 1]): p99 of 100 samples is the 99th smallest. */
export const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const rank = Math.min(s.length, Math.max(1, Math.ceil(q * s.length)))
  return s[rank - 1]
}

export interface Stats {
  readonly n: number
  readonly median: number
  readonly min: number
  readonly max: number
  readonly mean: number
  readonly p99: number
  /** (max − min) / median, e.g. 0.12 = the samples span 12% of the median. */
  readonly spread: number
}

export const stats = (xs: ReadonlyArray<number>): Stats => {
  const med = median(xs)
  const min = xs.length > 0 ? Math.min(...xs) : NaN
  const max = xs.length > 0 ? Math.max(...xs) : NaN
  return {
    n: xs.length,
    median: med,
    min,
    max,
    mean: xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN,
    p99: quantile(xs, 0.99),
    spread: med > 0 ? (max - min) / med : 0
  }
}

// ---------------------------------------------------------------- timing and memory

export interface RepeatOptions {
  /** Runs whose time is thrown away (JIT, caches). */
  readonly warmup: number
  readonly reps: number
}

/** Wall milliseconds of each of `reps` runs of `fn`, after `warmup` runs. `fn` gets the run's index (negative for warm-ups). */
export const repeat = async (fn: (i: number) => unknown, o: RepeatOptions): Promise<Array<number>> => {
  for (let i = 0; i < o.warmup; i++) await fn(i - o.warmup)
  const out: Array<number> = []
  for (let i = 0; i < o.reps; i++) {
    const t0 = performance.now()
    await fn(i)
    out.push(performance.now() - t0)
  }
  return out
}

export interface MemoryPeak {
  /** Peak resident set size of this process so far (MB), from the kernel (getrusage ru_maxrss). */
  readonly maxRssMB: number
  /** Largest RSS and V8 heap seen by sample() (MB). */
  readonly rssMB: number
  readonly heapMB: number
}

const MB = 1024 * 1024

/**
 * Peak memory of this process. maxRSS covers the whole process life, which is
 * why measurements whose memory matters run in a child process (runChild).
 * sample() catches the heap peak between garbage collections; call it from
 * inside long loops.
 */
export class MemorySampler {
  private rss = 0
  private heap = 0
  sample(): void {
    const m = process.memoryUsage()
    if (m.rss > this.rss) this.rss = m.rss
    if (m.heapUsed > this.heap) this.heap = m.heapUsed
  }
  peak(): MemoryPeak {
    this.sample()
    return { maxRssMB: (process.resourceUsage().maxRSS * 1024) / MB, rssMB: this.rss / MB, heapMB: this.heap / MB }
  }
}

/** CPU seconds (user + system) this process used since `since` (a process.cpuUsage() value). */
export const cpuSecondsSince = (since: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(since)
  return (c.user + c.system) / 1e6
}

// ---------------------------------------------------------------- output

export type ParamValue = string | number | boolean | null
export type Params = Readonly<Record<string, ParamValue>>

/** One figure; `spread` is there when the value is the median of several runs. */
export interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly params: Params
  readonly spread?: { readonly n: number; readonly min: number; readonly max: number }
}

export interface BenchOptions {
  /** Shorter runs (fewer sizes, repetitions and seconds): for a smoke test, not for figures. */
  readonly quick: boolean
  /** Print one JSON object per figure on stdout instead of tables (messages go to stderr). */
  readonly json: boolean
}

/** Rounds for display: 3 significant digits below 1000, integers above. */
export const fmt = (x: number): string => {
  if (!Number.isFinite(x)) return String(x)
  const a = Math.abs(x)
  if (a >= 1000) return Math.round(x).toLocaleString("en-US")
  if (a === 0) return "0"
  return String(Number(x.toPrecision(3)))
}

export const formatTable = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ").trimEnd()
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n")
}

/** `median (min–max)` of a Stats, with a unit. */
export const showStats = (s: Stats, unit = ""): string =>
  s.n <= 1 ? `${fmt(s.median)}${unit}` : `${fmt(s.median)}${unit} (${fmt(s.min)}–${fmt(s.max)})`

/**
 * Where a benchmark reports: figures (JSON lines with --json), tables and
 * notes (people; stderr with --json so stdout stays parseable).
 */
export class Reporter {
  readonly figures: Array<Figure> = []
  constructor(
    readonly bench: string,
    readonly options: BenchOptions,
    private readonly out: (line: string) => void = (l) => void process.stdout.write(l + "\n"),
    private readonly err: (line: string) => void = (l) => void process.stderr.write(l + "\n")
  ) {}

  /** A figure; `samples` (several runs) make its value their median and add the spread. */
  figure(name: string, value: number | ReadonlyArray<number>, unit: string, params: Params = {}): Figure {
    const f: Figure =
      typeof value === "number"
        ? { name: `${this.bench}.${name}`, value: round6(value), unit, params }
        : (() => {
            const s = stats(value)
            return {
              name: `${this.bench}.${name}`,
              value: round6(s.median),
              unit,
              params,
              ...(s.n > 1 ? { spread: { n: s.n, min: round6(s.min), max: round6(s.max) } } : {})
            }
          })()
    this.figures.push(f)
    if (this.options.json) this.out(JSON.stringify(f))
    return f
  }

  /** A message for people (progress, skips): stdout for tables, stderr with --json. */
  note(line: string): void {
    if (this.options.json) this.err(line)
    else this.out(line)
  }

  /** A warning (e.g. a trace that is absent), always visible. */
  warn(line: string): void {
    this.err(`${this.bench}: ${line}`)
  }

  table(headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): void {
    this.note(formatTable(headers, rows))
  }
}

const round6 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(6)) : x)

/** Load average and cores, for the heading of every run (figures on a shared machine are noisy). */
export const machineNote = (): string => {
  const [a, b, c] = loadavg()
  return `load average ${a.toFixed(2)}, ${b.toFixed(2)}, ${c.toFixed(2)} (1/5/15 min); node ${process.version}`
}

// ---------------------------------------------------------------- benchmarks and arguments

export interface Bench {
  readonly name: string
  readonly description: string
  readonly run: (r: Reporter) => Promise<void>
}

export interface BenchArgs {
  readonly names: ReadonlyArray<string>
  readonly json: boolean
  readonly quick: boolean
  readonly help: boolean
}

/** `[NAME...] [--json] [--quick] [--help]`; a bad flag is an error naming it. */
export const parseArgs = (argv: ReadonlyArray<string>): BenchArgs | { readonly error: string } => {
  const names: Array<string> = []
  let json = false
  let quick = false
  let help = false
  for (const a of argv) {
    if (a === "--json") json = true
    else if (a === "--quick") quick = true
    else if (a === "--help" || a === "-h") help = true
    else if (a.startsWith("-")) return { error: `unknown option ${a} (known: --json, --quick, --help)` }
    else names.push(a)
  }
  return { names, json, quick, help }
}

// ---------------------------------------------------------------- child processes

/** The loader that runs our TypeScript (as bin/dyncluster.js does, through tsx). */
const tsxLoader = (): string => import.meta.resolve("tsx")

const RESULT = "@@bench-result "

/**
 * Runs `file` (a bench module) in a fresh Node process with `--child JSON`
 * and returns the object it reported with childResult(): each measurement
 * gets its own process, so its peak RSS is its own.
 */
export const runChild = <A>(file: string | URL, input: unknown, opts: { readonly timeoutMs?: number; readonly nodeArgs?: ReadonlyArray<string> } = {}): Promise<A> =>
  new Promise((resolve, reject) => {
    const path = typeof file === "string" ? file : fileURLToPath(file)
    execFile(
      process.execPath,
      [...(opts.nodeArgs ?? []), "--import", tsxLoader(), path, "--child", JSON.stringify(input)],
      { maxBuffer: 64 * MB, timeout: opts.timeoutMs ?? 0 },
      (err, stdout, stderr) => {
        const line = stdout.split("\n").find((l) => l.startsWith(RESULT))
        if (line !== undefined) return resolve(JSON.parse(line.slice(RESULT.length)) as A)
        reject(new Error(`${path} --child failed${err ? `: ${err.message}` : ""}\n${stderr.slice(-2000)}`))
      }
    )
  })

/** In a module run by runChild: the input when this process is such a child, else undefined. */
export const childInput = (moduleUrl: string): unknown => {
  if (process.argv[1] === undefined || fileURLToPath(moduleUrl) !== process.argv[1]) return undefined
  const i = process.argv.indexOf("--child")
  return i >= 0 ? JSON.parse(process.argv[i + 1] ?? "null") : undefined
}

export const childResult = (value: unknown): void => {
  process.stdout.write(`\n${RESULT}${JSON.stringify(value)}\n`)
}

/** A TCP port free on 127.0.0.1 right now (for a daemon the benchmark starts). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const a = s.address()
      const port = typeof a === "object" && a !== null ? a.port : 0
      s.close(() => resolve(port))
    })
  })

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- daemons under load

export interface StallSample {
  /** Milliseconds of each answer (a failed request counts with the time it took). */
  readonly ms: ReadonlyArray<number>
  readonly errors: number
}

/** GET `url` every `everyMs` (start to start, never two at once) for `seconds`. */
export const sampleLatency = async (url: string, seconds: number, everyMs = 100): Promise<StallSample> => {
  const ms: Array<number> = []
  let errors = 0
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    const t = performance.now()
    try {
      const res = await fetch(url)
      await res.arrayBuffer()
      if (!res.ok) errors++
    } catch {
      errors++
    }
    const took = performance.now() - t
    ms.push(took)
    await sleep(Math.max(0, everyMs - took))
  }
  return { ms, errors }
}

/** Stops a daemon a benchmark started (SIGTERM, waits for its exit) and removes its scratch directory. */
export const stopDaemon = async (daemon: ChildProcess, dir: string): Promise<void> => {
  daemon.kill("SIGTERM")
  await new Promise((res) => (daemon.exitCode !== null ? res(null) : daemon.once("exit", res)))
  rmSync(dir, { recursive: true, force: true })
}
