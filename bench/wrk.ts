/**
 * wrk (Debian's 4.1.0, native C, one thread) as bench/api's second load
 * generator: autocannon's JavaScript HTTP parser needs more CPU than the
 * daemon it measures on this 2-core machine, wrk does not.
 *
 * `parseWrk` reads wrk's `--latency` report (latency distribution 50/75/90/99 %,
 * requests, Requests/sec, socket errors, non-2xx); `runWrk` runs it (no shell),
 * optionally pinned to a set of cores with `taskset`.
 */
import { execFile } from "node:child_process"
import { accessSync, constants } from "node:fs"

export interface WrkResult {
  /** Latency percentiles, ms. */
  readonly p50: number
  readonly p75: number
  readonly p90: number
  readonly p99: number
  readonly avgMs: number
  readonly maxMs: number
  /** Responses completed and the time they took, s. */
  readonly requests: number
  readonly durationS: number
  readonly bytesRead: number
  /** wrk's "Requests/sec:" (requests / duration). */
  readonly reqPerS: number
  /** wrk's "Transfer/sec:", bytes. */
  readonly bytesPerS: number
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number }
  /** "Non-2xx or 3xx responses:" (0 when the line is absent). */
  readonly non2xx: number
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const BYTE_UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4, PB: 1024 ** 5 }

const num = (s: string, what: string): number => {
  const x = Number(s)
  if (!Number.isFinite(x)) throw new Error(`wrk output: ${what}: not a number: ${JSON.stringify(s)}`)
  return x
}
const withUnit = (text: string, units: Record<string, number>, what: string): number => {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(text)
  const factor = m === null ? undefined : units[m[2]!]
  if (m === null || factor === undefined) throw new Error(`wrk output: ${what}: cannot read ${JSON.stringify(text)} (units ${Object.keys(units).filter(Boolean).join(", ")})`)
  return num(m[1]!, what) * factor
}
/** A duration such as "305.14ms", "850.00us", "1.20s", "2.00m", in ms. */
export const wrkTimeMs = (text: string): number => withUnit(text, TIME_UNITS, "time")

/** wrk's report printed with `--latency`; throws an Error naming the line it could not find or read. */
export const parseWrk = (text: string): WrkResult => {
  const find = (re: RegExp, what: string): RegExpExecArray => {
    const m = re.exec(text)
    if (m === null) throw new Error(`wrk output: no ${what} line (was --latency given? the output begins ${JSON.stringify(text.slice(0, 120))})`)
    return m
  }
  const pct = (p: number) => wrkTimeMs(find(new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, "m"), `"${p}%" latency distribution`)[1]!)
  const lat = find(/^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$/m, `"Latency" thread stats`)
  const done = find(/^\s*(\d+) requests in ([0-9.]+[a-z]+), ([0-9.]+[A-Z]*B) read\s*$/m, `"N requests in T, B read"`)
  const errs = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$/m.exec(text)
  const non2xx = /^\s*Non-2xx or 3xx responses: (\d+)\s*$/m.exec(text)
  return {
    p50: pct(50),
    p75: pct(75),
    p90: pct(90),
    p99: pct(99),
    avgMs: wrkTimeMs(lat[1]!),
    maxMs: wrkTimeMs(lat[3]!),
    requests: num(done[1]!, "requests"),
    durationS: wrkTimeMs(done[2]!) / 1000,
    bytesRead: withUnit(done[3]!, BYTE_UNITS, "bytes read"),
    reqPerS: num(find(/^Requests\/sec:\s+([0-9.]+)\s*$/m, `"Requests/sec:"`)[1]!, "Requests/sec"),
    bytesPerS: withUnit(find(/^Transfer\/sec:\s+(\S+)\s*$/m, `"Transfer/sec:"`)[1]!, BYTE_UNITS, "Transfer/sec"),
    socketErrors: {
      connect: errs === null ? 0 : Number(errs[1]),
      read: errs === null ? 0 : Number(errs[2]),
      write: errs === null ? 0 : Number(errs[3]),
      timeout: errs === null ? 0 : Number(errs[4])
    },
    non2xx: non2xx === null ? 0 : Number(non2xx[1])
  }
}

/** Responses that failed: socket errors (timeouts included) and non-2xx/3xx. */
export const wrkErrors = (r: WrkResult): number =>
  r.socketErrors.connect + r.socketErrors.read + r.socketErrors.write + r.socketErrors.timeout + r.non2xx

/** The path of an executable found on PATH, or undefined. */
export const onPath = (name: string): string | undefined => {
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir === "") continue
    try {
      accessSync(`${dir}/${name}`, constants.X_OK)
      return `${dir}/${name}`
    } catch {
      /* not there */
    }
  }
  return undefined
}

export interface WrkOptions {
  readonly url: string
  readonly connections: number
  readonly durationS: number
  readonly headers?: Readonly<Record<string, string>>
  /** Responses slower than this count as socket timeouts and are not in the latency figures. */
  readonly timeoutS?: number
  /** Run wrk under `taskset -c CPUS` (e.g. "0"). */
  readonly cpus?: string
}

/** wrk's argument vector (after `taskset -c CPUS` when pinned). */
export const wrkArgs = (o: WrkOptions): Array<string> => {
  const args = ["-t1", `-c${o.connections}`, `-d${o.durationS}s`, `--timeout`, `${o.timeoutS ?? 120}s`, "--latency"]
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push("-H", `${k}: ${v}`)
  args.push(o.url)
  return o.cpus === undefined ? args : ["-c", o.cpus, "wrk", ...args]
}

/** Runs wrk once and parses its report; rejects with wrk's stderr when it fails. */
export const runWrk = (o: WrkOptions): Promise<WrkResult & { readonly output: string }> =>
  new Promise((resolve, reject) => {
    execFile(o.cpus === undefined ? "wrk" : "taskset", wrkArgs(o), { timeout: (o.durationS + 60) * 1000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`wrk ${wrkArgs(o).join(" ")}: ${err.message}\n${stderr}`))
      try {
        resolve({ ...parseWrk(stdout), output: stdout })
      } catch (e) {
        reject(e)
      }
    })
  })
