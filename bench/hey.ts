/**
 * hey (Debian's 0.1.4, Go) as bench/api's steady-rate load generator:
 * `hey -z Ds -c C -q R/C` gives each of C workers a ticker of R/C requests
 * per second, evenly spaced (a worker whose answer comes late skips the ticks
 * it missed, so "served" below R means the server did not keep up).
 * autocannon's `overallRate` is not that: each connection sends its share of
 * the second back to back as fast as answers come, then waits for the next
 * second (a burst at every second, lib/httpClient.js of autocannon 9).
 *
 * `parseHeyCsv` reads `-o csv` (one row per answer: response-time in
 * seconds, ..., status-code, offset); `runHey` runs it (no shell). Requests
 * that got no answer (refused, timed out) have no row: they show as served
 * below the rate.
 */
import { execFile } from "node:child_process"
import { quantile } from "./lib.ts"

export interface HeyResult {
  /** Latency of each answer, ms, in the order of the rows. */
  readonly latenciesMs: ReadonlyArray<number>
  /** Answers whose status is not 2xx or 3xx. */
  readonly non2xx: number
}

const HEADER = "response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset"

export const parseHeyCsv = (text: string): HeyResult => {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0)
  if (lines[0] !== HEADER) throw new Error(`hey -o csv: expected the header ${JSON.stringify(HEADER)}, got ${JSON.stringify(lines[0] ?? "")}`)
  const latenciesMs: Array<number> = []
  let non2xx = 0
  for (let i = 1; i < lines.length; i++) {
    const cells = lines[i].split(",")
    const seconds = Number(cells[0])
    const status = Number(cells[6])
    if (cells.length !== 8 || !Number.isFinite(seconds) || !Number.isInteger(status)) throw new Error(`hey -o csv, line ${i + 1}: not a result row: ${JSON.stringify(lines[i])}`)
    latenciesMs.push(seconds * 1000)
    if (status < 200 || status >= 400) non2xx++
  }
  return { latenciesMs, non2xx }
}

export interface HeySummary {
  readonly answers: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly non2xx: number
}

export const summarizeHey = (r: HeyResult): HeySummary => ({
  answers: r.latenciesMs.length,
  p50: quantile(r.latenciesMs, 0.5),
  p99: quantile(r.latenciesMs, 0.99),
  max: r.latenciesMs.reduce((a, b) => Math.max(a, b), r.latenciesMs.length > 0 ? 0 : NaN),
  non2xx: r.non2xx
})

export interface HeyOptions {
  readonly url: string
  readonly connections: number
  /** Requests per second over all connections (a multiple of `connections`: hey's -q is per worker). */
  readonly rate: number
  readonly durationS: number
  readonly headers?: Readonly<Record<string, string>>
}

export const heyArgs = (o: HeyOptions): Array<string> => {
  if (!(o.rate > 0) || o.rate % o.connections !== 0) throw new Error(`hey: the rate (${o.rate}) must be a positive multiple of the connections (${o.connections}): -q is per worker`)
  return [
    "-z", `${o.durationS}s`,
    "-c", String(o.connections),
    "-q", String(o.rate / o.connections),
    "-t", "120",
    "-o", "csv",
    ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    o.url
  ]
}

export const runHey = (o: HeyOptions): Promise<HeyResult> =>
  new Promise((resolve, reject) => {
    execFile("hey", heyArgs(o), { timeout: (o.durationS + 150) * 1000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`hey failed: ${err.message}\n${stderr.slice(-2000)}`))
      try {
        resolve(parseHeyCsv(stdout))
      } catch (e) {
        reject(e)
      }
    })
  })
