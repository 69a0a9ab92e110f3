/**
 * The simulation report: one self-contained HTML file with plots over time
 * per run (queued and running jobs, nodes per state per resource, paid vs
 * used cores), the summary table side by side (Δ against the first run), and
 * the wait-time CDF; several runs are overlaid, one colour per run.
 *
 * Every series is derived from the event log lines alone (the ground truth),
 * never from the world's internal state. Long runs are cut to a bounded number
 * of points per series so the file stays small. The charting library (uPlot)
 * is read from node_modules when the report is built and inlined, so the page
 * needs no network; a Content-Security-Policy forbids every request anyway.
 */
import { Data } from "effect"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import type { Summary } from "./summary.ts"

// ---------------------------------------------------------------- series from the event log

/** The four states a cloud node goes through, as the report counts them. */
export const NODE_STATES = ["starting", "up", "held", "terminating"] as const
export type ReportNodeState = (typeof NODE_STATES)[number]

export interface RunSeries {
  /** Seconds since the scenario start: the left edge of each point's interval. */
  readonly t: ReadonlyArray<number>
  readonly queued: ReadonlyArray<number>
  readonly running: ReadonlyArray<number>
  /** resource → state → node count. */
  readonly nodes: Readonly<Record<string, Readonly<Record<ReportNodeState, ReadonlyArray<number>>>>>
  /** Cores of every cloud instance that exists (booted, not gone): what is paid for. */
  readonly paidCores: ReadonlyArray<number>
  /** Cores that running jobs use on cloud nodes. */
  readonly usedCores: ReadonlyArray<number>
  /** Cores that running jobs use on physical nodes. */
  readonly physicalUsedCores: ReadonlyArray<number>
  /** Cores of the physical nodes (constant). */
  readonly physicalCores: number
  /** Wait time (start − submit, seconds) of every started job, ascending. */
  readonly waits: ReadonlyArray<number>
  /** Last event time. */
  readonly end: number
  /**
   * null: one point per distinct event time (exact). Otherwise the width in
   * seconds of each point's interval: counts show the peak within it, cores
   * the time average (so the area under the cores curves stays exact).
   */
  readonly bucket: number | null
  /** Boot lines without a `cores` field (paid cores then count them as 0). */
  readonly bootsWithoutCores: number
  /** Injected faults and scaler restarts, to mark on the time plots (at most MAX_MARKERS). */
  readonly markers: ReadonlyArray<Marker>
  /** Markers left out beyond MAX_MARKERS. */
  readonly markersDropped: number
}

export interface Marker {
  readonly t: number
  /** End of a fault that lasts (outage, slow boots, batch failure); absent for a moment (restart, instance death). */
  readonly end?: number
  /** "restart" or the fault's kind. */
  readonly kind: string
  readonly label: string
}

export const MAX_MARKERS = 500

export interface SeriesOptions {
  /** Most points per series (default 2000). */
  readonly maxPoints?: number
}

/** A line of an event log that is not a valid event; the message is `event log line N: what is wrong`. */
export class EventLogError extends Data.TaggedError("EventLogError")<{ readonly line: number; readonly message: string }> {
  constructor(line: number, problem: string) {
    super({ line, message: `event log line ${line}: ${problem}` })
  }
}

interface Ev {
  readonly t: number
  readonly ev: string
  readonly [k: string]: unknown
}

const parseLine = (line: string, i: number): Ev => {
  let e: unknown
  try {
    e = JSON.parse(line)
  } catch (err) {
    throw new EventLogError(i + 1, `not JSON (${(err as Error).message})`)
  }
  if (typeof e !== "object" || e === null || typeof (e as Ev).t !== "number" || !Number.isFinite((e as Ev).t) || typeof (e as Ev).ev !== "string")
    throw new EventLogError(i + 1, `expected an object with a numeric "t" and a string "ev", got ${line.slice(0, 80)}`)
  return e as Ev
}

const str = (e: Ev, k: string, i: number): string => {
  const v = e[k]
  if (typeof v !== "string") throw new EventLogError(i + 1, `"${e.ev}" needs a string "${k}"`)
  return v
}
const strArray = (e: Ev, k: string, i: number): ReadonlyArray<string> => {
  const v = e[k]
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new EventLogError(i + 1, `"${e.ev}" needs a list of strings "${k}"`)
  return v
}
const numArray = (e: Ev, k: string, i: number): ReadonlyArray<number> => {
  const v = e[k]
  if (!Array.isArray(v) || !v.every((x) => typeof x === "number")) throw new EventLogError(i + 1, `"${e.ev}" needs a list of numbers "${k}"`)
  return v
}

/** The time of a line without parsing all of it (every line starts with {"t":...}). */
const timeOf = (line: string, i: number): number => {
  const m = /^\{"t":(-?[0-9.eE+-]+)[,}]/.exec(line)
  return m !== null ? Number(m[1]) : parseLine(line, i).t
}

/**
 * Accumulates step functions onto a grid: either every distinct event time
 * (exact) or `buckets` fixed-width intervals from `start` to `end` (peak for
 * counts, time average for cores) plus a last point with the values at `end`.
 */
class Grid {
  readonly t: Array<number> = []
  readonly out: Array<Array<number>> = []
  private readonly cur: Array<number> = []
  private readonly peak: Array<number> = []
  private readonly area: Array<number> = []
  private lastT: number
  /** Index of the open bucket. */
  private k = 0
  readonly bucket: number | null

  constructor(
    private readonly start: number,
    private readonly end: number,
    private readonly buckets: number | null,
    private readonly averaged: ReadonlyArray<boolean>
  ) {
    this.lastT = start
    this.bucket = buckets === null ? null : (end - start) / buckets
  }

  add(): number {
    const k = this.cur.length
    this.cur.push(0)
    this.peak.push(0)
    this.area.push(0)
    // A series added late (a resource seen for the first time) was 0 before.
    this.out.push(this.t.map(() => 0))
    return k
  }

  get(k: number): number {
    return this.cur[k]
  }

  set(k: number, v: number) {
    this.cur[k] = v
  }

  /** Left edge of bucket k (computed, not accumulated, so no rounding drift). */
  private edge(k: number): number {
    return k >= this.buckets! ? this.end : this.start + k * this.bucket!
  }

  /** The values set at `lastT` held until `t`; close every bucket that ends by then. */
  advance(t: number) {
    if (this.buckets === null) return
    while (this.k < this.buckets && t >= this.edge(this.k + 1)) {
      const from = this.edge(this.k)
      const to = this.edge(this.k + 1)
      for (let s = 0; s < this.cur.length; s++) this.area[s] += this.cur[s] * (to - this.lastT)
      const w = to - from
      this.pushPoint(from, (s) => (this.averaged[s] ? (w > 0 ? this.area[s] / w : this.cur[s]) : this.peak[s]))
      this.k++
      this.lastT = to
      for (let s = 0; s < this.cur.length; s++) {
        this.area[s] = 0
        this.peak[s] = this.cur[s]
      }
    }
    for (let s = 0; s < this.cur.length; s++) this.area[s] += this.cur[s] * (t - this.lastT)
    this.lastT = t
  }

  /** All events at `t` were applied: record the values that hold from `t` on. */
  settle(t: number) {
    if (this.buckets === null) {
      this.pushPoint(t, (s) => this.cur[s])
      return
    }
    for (let s = 0; s < this.cur.length; s++) if (this.cur[s] > this.peak[s]) this.peak[s] = this.cur[s]
  }

  /** Close the buckets and add the point at `end`. */
  finish() {
    if (this.buckets === null) return
    this.advance(this.end)
    this.pushPoint(this.end, (s) => this.cur[s])
  }

  private pushPoint(t: number, value: (s: number) => number) {
    const r = (x: number) => Math.round(x * 1000) / 1000
    this.t.push(r(t))
    for (let s = 0; s < this.cur.length; s++) this.out[s].push(r(value(s)))
  }
}

interface InstanceRec {
  readonly resource: string
  readonly cores: number
  state: ReportNodeState
  host: string | null
}

/**
 * The report's series for one run, from its event log lines. Throws an
 * EventLogError naming the line when a line is not a valid event.
 */
export const seriesFromEvents = (lines: ReadonlyArray<string>, opts: SeriesOptions = {}): RunSeries => {
  const maxPoints = Math.max(2, Math.floor(opts.maxPoints ?? 2000))
  // Pass 1: how many distinct times, and the span.
  let distinct = 0
  let prev = NaN
  let start = Infinity
  let end = 0
  for (let i = 0; i < lines.length; i++) {
    const t = timeOf(lines[i], i)
    if (t !== prev) distinct++
    prev = t
    if (t < start) start = t
    if (t > end) end = t
  }
  if (!Number.isFinite(start)) start = 0
  start = Math.min(start, 0)
  const buckets = distinct <= maxPoints || end <= start ? null : maxPoints - 1

  // Series: 0 queued, 1 running, 2 paid, 3 used, 4 physical used, then per resource × state.
  const averaged: Array<boolean> = [false, false, true, true, true]
  const grid = new Grid(start, end, buckets, averaged)
  const Q = grid.add()
  const R = grid.add()
  const PAID = grid.add()
  const USED = grid.add()
  const PHYS = grid.add()
  const resIdx = new Map<string, Record<ReportNodeState, number>>()
  const resourceSeries = (res: string) => {
    let x = resIdx.get(res)
    if (x === undefined) {
      const rec = {} as Record<ReportNodeState, number>
      for (const s of NODE_STATES) {
        averaged.push(false)
        rec[s] = grid.add()
      }
      resIdx.set(res, (x = rec))
    }
    return x
  }

  const physical = new Map<string, number>()
  const instances = new Map<string, InstanceRec>()
  const hostInst = new Map<string, string>()
  /** A running job's cores on cloud and on physical nodes (as the hosts were when it started). */
  const jobs = new Map<string, "queued" | { cloud: number; phys: number }>()
  const submitted = new Map<string, number>()
  const waits: Array<number> = []
  let bootsWithoutCores = 0
  const markers: Array<Marker> = []
  let markersDropped = 0
  const mark = (m: Marker) => {
    if (markers.length < MAX_MARKERS) markers.push(m)
    else markersDropped++
  }

  const bump = (k: number, d: number) => grid.set(k, grid.get(k) + d)
  const moveInstance = (inst: InstanceRec, to: ReportNodeState | null) => {
    const idx = resourceSeries(inst.resource)
    bump(idx[inst.state], -1)
    if (to !== null) {
      bump(idx[to], 1)
      inst.state = to
    }
  }
  const instOfHost = (host: string) => {
    const id = hostInst.get(host)
    return id === undefined ? undefined : instances.get(id)
  }
  const endJob = (id: string) => {
    const j = jobs.get(id)
    if (j === undefined) return
    jobs.delete(id)
    if (j === "queued") bump(Q, -1)
    else {
      bump(R, -1)
      bump(USED, -j.cloud)
      bump(PHYS, -j.phys)
    }
  }

  let at = NaN
  for (let i = 0; i < lines.length; i++) {
    const e = parseLine(lines[i], i)
    if (e.t !== at) {
      if (!Number.isNaN(at)) grid.settle(at)
      if (e.t < at) throw new EventLogError(i + 1, `time goes backwards (${e.t} after ${at})`)
      grid.advance(e.t)
      at = e.t
    }
    switch (e.ev) {
      case "physical": {
        const c = typeof e.cores === "number" ? e.cores : 0
        physical.set(str(e, "host", i), c)
        break
      }
      case "submit": {
        const id = str(e, "job", i)
        jobs.set(id, "queued")
        submitted.set(id, e.t)
        bump(Q, 1)
        break
      }
      case "start": {
        const id = str(e, "job", i)
        const hosts = strArray(e, "hosts", i)
        const perHost = numArray(e, "per_host", i)
        if (jobs.get(id) === "queued") bump(Q, -1)
        let cloud = 0
        let phys = 0
        hosts.forEach((h, k) => {
          if (hostInst.has(h)) cloud += perHost[k] ?? 0
          else phys += perHost[k] ?? 0
        })
        jobs.set(id, { cloud, phys })
        bump(R, 1)
        bump(USED, cloud)
        bump(PHYS, phys)
        const s = submitted.get(id)
        if (s !== undefined) waits.push(e.t - s)
        break
      }
      case "finish":
      case "killed":
        endJob(str(e, "job", i))
        break
      case "boot": {
        const res = str(e, "resource", i)
        const cores = typeof e.cores === "number" ? e.cores : 0
        if (typeof e.cores !== "number") bootsWithoutCores++
        instances.set(str(e, "instance", i), { resource: res, cores, state: "starting", host: null })
        bump(resourceSeries(res).starting, 1)
        bump(PAID, cores)
        break
      }
      case "join": {
        const host = str(e, "host", i)
        const inst = instances.get(str(e, "instance", i))
        if (inst === undefined) break
        inst.host = host
        hostInst.set(host, str(e, "instance", i))
        if (inst.state === "starting") moveInstance(inst, "up")
        break
      }
      case "hold": {
        const inst = instOfHost(str(e, "host", i))
        if (inst !== undefined && inst.state === "up") moveInstance(inst, "held")
        break
      }
      case "unhold": {
        const inst = instOfHost(str(e, "host", i))
        if (inst !== undefined && inst.state === "held") moveInstance(inst, "up")
        break
      }
      case "leave": {
        // Out of the cluster, waiting for its instance to be destroyed.
        const inst = instOfHost(str(e, "host", i))
        if (inst !== undefined && inst.state !== "terminating") moveInstance(inst, "terminating")
        break
      }
      case "terminate": {
        const inst = instances.get(str(e, "instance", i))
        if (inst !== undefined && inst.state !== "terminating") moveInstance(inst, "terminating")
        break
      }
      case "gone": {
        const id = str(e, "instance", i)
        const inst = instances.get(id)
        if (inst === undefined) break
        moveInstance(inst, null)
        bump(PAID, -inst.cores)
        instances.delete(id)
        if (inst.host !== null && hostInst.get(inst.host) === id) hostInst.delete(inst.host)
        break
      }
      case "restart":
        mark({ t: e.t, kind: "restart", label: "scaler restart" })
        break
      case "fault": {
        const kind = typeof e.kind === "string" ? e.kind : "fault"
        const what = [kind.replace(/_/g, " "), typeof e.resource === "string" ? e.resource : typeof e.mode === "string" ? e.mode : null]
          .filter((x) => x !== null)
          .join(" ")
        if (typeof e.duration === "number" && e.duration > 0) mark({ t: e.t, end: e.t + e.duration, kind, label: what })
        else mark({ t: e.t, kind, label: Array.isArray(e.instances) ? `${what} (${e.instances.length})` : what })
        break
      }
      default:
        break
    }
  }
  if (!Number.isNaN(at)) grid.settle(at)
  grid.finish()

  const nodes: Record<string, Record<ReportNodeState, ReadonlyArray<number>>> = {}
  for (const [res, idx] of [...resIdx].sort(([a], [b]) => a.localeCompare(b))) {
    const rec = {} as Record<ReportNodeState, ReadonlyArray<number>>
    for (const s of NODE_STATES) rec[s] = grid.out[idx[s]]
    nodes[res] = rec
  }
  return {
    t: grid.t,
    queued: grid.out[Q],
    running: grid.out[R],
    nodes,
    paidCores: grid.out[PAID],
    usedCores: grid.out[USED],
    physicalUsedCores: grid.out[PHYS],
    physicalCores: [...physical.values()].reduce((a, b) => a + b, 0),
    waits: waits.sort((a, b) => a - b),
    end,
    bucket: grid.bucket,
    bootsWithoutCores,
    markers,
    markersDropped
  }
}

/** The wait-time CDF of several runs on one x grid: at most `maxPoints` wait values. */
export const waitCdf = (
  runs: ReadonlyArray<ReadonlyArray<number>>,
  maxPoints = 2000
): { readonly x: ReadonlyArray<number>; readonly y: ReadonlyArray<ReadonlyArray<number>> } => {
  const per = Math.max(2, Math.floor(maxPoints / Math.max(1, runs.length)))
  const xs = new Set<number>([0])
  for (const w of runs) {
    if (w.length === 0) continue
    if (w.length <= per) for (const v of w) xs.add(v)
    else for (let k = 0; k < per; k++) xs.add(w[Math.round((k * (w.length - 1)) / (per - 1))])
  }
  const x = [...xs].sort((a, b) => a - b)
  // Fraction of jobs that waited at most x.
  const y = runs.map((w) => {
    let j = 0
    return x.map((v) => {
      while (j < w.length && w[j] <= v) j++
      return w.length === 0 ? 0 : Math.round((j / w.length) * 10000) / 10000
    })
  })
  return { x, y }
}

// ---------------------------------------------------------------- HTML

export interface ReportRun {
  readonly label: string
  readonly events: ReadonlyArray<string>
  readonly summary: Summary
}

export interface ReportOptions {
  readonly title?: string
  /** Most points per series (default 2000). */
  readonly maxPoints?: number
  /** What the cost row's unit is called (the scenario's `report.currency`); default DEFAULT_CURRENCY. */
  readonly currency?: string
  /** A static HTML section after the wait-time distribution (`simulate --seeds`: the means with intervals and the cost-vs-wait scatter). */
  readonly extraHtml?: string
}

/** Text for HTML element content and attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!)

/** JSON that can sit inside a <script> element whatever strings it holds. */
export const jsonForScript = (v: unknown): string =>
  JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029")

const require = createRequire(import.meta.url)

/** uPlot's script and stylesheet, read from node_modules now. */
const chartLibrary = (): { js: string; css: string } => {
  const dist = dirname(require.resolve("uplot/dist/uPlot.iife.min.js"))
  const js = readFileSync(join(dist, "uPlot.iife.min.js"), "utf8")
  const css = readFileSync(join(dist, "uPlot.min.css"), "utf8")
  // Neither may close the element they are inlined in.
  return { js: js.replace(/<\/script/gi, "<\\/script"), css: css.replace(/<\/style/gi, "<\\/style") }
}

const fmtNum = (v: number | null | undefined, digits = 3): string => {
  if (v === null || v === undefined) return "–"
  return Number.isInteger(v) ? String(v) : v.toFixed(digits).replace(/\.?0+$/, "")
}

export const fmtDuration = (s: number): string => {
  if (!Number.isFinite(s)) return "–"
  const sign = s < 0 ? "-" : ""
  let x = Math.abs(Math.round(s))
  const d = Math.floor(x / 86400)
  x -= d * 86400
  const h = Math.floor(x / 3600)
  x -= h * 3600
  const m = Math.floor(x / 60)
  const sec = x - m * 60
  if (d > 0) return `${sign}${d}d${h > 0 ? ` ${h}h` : ""}${m > 0 ? ` ${m}m` : ""}`
  if (h > 0) return `${sign}${h}h${m > 0 ? ` ${m}m` : ""}`
  if (m > 0) return `${sign}${m}m${sec > 0 ? ` ${sec}s` : ""}`
  return `${sign}${sec}s`
}

/** One summary row: its label, its text per run, and the number a Δ is computed from (none: no Δ). */
interface Row {
  readonly label: string
  readonly value: (s: Summary) => string
  /** The figure Δ compares; absent for rows that are not quantities (scenario, policy, seed). */
  readonly num?: (s: Summary) => number | null
  /** "pp": Δ in percentage points (a ratio); default: Δ % of the first run's value. */
  readonly delta?: "pp"
  readonly section?: true
}

/** The default label of the cost row: prices are per node-hour in whatever unit the configuration uses. */
export const DEFAULT_CURRENCY = "units"

const summaryRows = (summaries: ReadonlyArray<Summary>, currency: string): ReadonlyArray<Row> => {
  const resources = [...new Set(summaries.flatMap((s) => Object.keys(s.resources)))].sort()
  const count = (label: string, get: (s: Summary) => number): Row => ({ label, value: (s) => String(get(s)), num: get })
  const wait = (k: "mean" | "p50" | "p95" | "max"): Row => ({
    label: `wait ${k}`,
    value: (s) => `${fmtDuration(s.wait[k])} <span class="raw">(${fmtNum(s.wait[k])} s)</span>`,
    num: (s) => s.wait[k]
  })
  const resRows = (name: string, pick: (s: Summary) => Summary["total"] | undefined): ReadonlyArray<Row> => {
    const row = (label: string, get: (r: Summary["total"]) => number | null, show: (v: number) => string, delta?: "pp"): Row => ({
      label,
      value: (s) => {
        const r = pick(s)
        const v = r === undefined ? null : get(r)
        return v === null ? "–" : show(v)
      },
      num: (s) => {
        const r = pick(s)
        return r === undefined ? null : get(r)
      },
      ...(delta !== undefined ? { delta } : {})
    })
    return [
      { label: name, value: () => "", section: true },
      { label: "boots / failed", value: (s) => { const r = pick(s); return r === undefined ? "–" : `${r.boots} / ${r.failed_boots}` }, num: (s) => pick(s)?.boots ?? null },
      row("peak nodes", (r) => r.peak_nodes, String),
      row("node-hours paid", (r) => r.node_hours, (v) => fmtNum(v)),
      row("core-hours paid", (r) => r.core_hours, (v) => fmtNum(v)),
      row("useful core-hours", (r) => r.useful_core_hours, (v) => fmtNum(v)),
      row("utilisation", (r) => r.utilisation, (v) => `${(v * 100).toFixed(1)} %`, "pp"),
      row(`cost (${escapeHtml(currency)})`, (r) => r.cost, (v) => fmtNum(v, 2))
    ]
  }
  return [
    { label: "scenario", value: (s) => escapeHtml(s.scenario) },
    { label: "policy", value: (s) => escapeHtml(s.policy) },
    { label: "seed", value: (s) => String(s.seed) },
    { label: "simulated span", value: (s) => fmtDuration(s.span), num: (s) => s.span },
    count("jobs submitted", (s) => s.jobs.submitted),
    count("jobs started", (s) => s.jobs.started),
    count("jobs finished", (s) => s.jobs.finished),
    count("jobs killed", (s) => s.jobs.killed),
    count("jobs skipped (trace)", (s) => s.jobs.skipped),
    wait("mean"),
    wait("p50"),
    wait("p95"),
    wait("max"),
    ...resources.flatMap((r) => resRows(`resource ${escapeHtml(r)}`, (s) => s.resources[r])),
    ...resRows("all cloud resources", (s) => s.total),
    count("faults injected", (s) => s.faults),
    count("scaler restarts", (s) => s.restarts)
  ]
}

/**
 * The change of `v` against the first run's `v0`: relative (Δ %) or, for a
 * ratio, in percentage points. "–" when either is missing; from a base of
 * 0 the plain difference ("+2 (from 0)").
 */
export const fmtDelta = (v0: number | null, v: number | null, kind?: "pp"): string => {
  if (v0 === null || v === null || !Number.isFinite(v0) || !Number.isFinite(v)) return "–"
  const sign = (x: number) => (x > 0 ? "+" : x < 0 ? "−" : "±")
  if (kind === "pp") {
    const d = Math.round((v - v0) * 1000) / 10
    return `${sign(d)}${Math.abs(d).toFixed(1)} pp`
  }
  // From 0 no percentage means anything: the plain difference.
  if (v0 === 0) return v === 0 ? "±0.0 %" : `${sign(v)}${fmtNum(Math.abs(v))} (from 0)`
  const d = Math.round(((v - v0) / Math.abs(v0)) * 1000) / 10
  return `${sign(d)}${Math.abs(d).toFixed(1)} %`
}

/** The summary table: one column per run, and after each run but the first its Δ against the first. */
const summaryTable = (runs: ReadonlyArray<ReportRun>, currency: string): string => {
  const deltas = runs.length > 1
  const columns = runs.length + (deltas ? runs.length - 1 : 0)
  const base = escapeHtml(runs[0].label)
  const head = `<tr><th></th>${runs
    .map(
      (r, i) =>
        `<th scope="col" class="run run-${i}">${escapeHtml(r.label)}</th>` +
        (i > 0 ? `<th scope="col" class="delta" title="change against ${base}">Δ vs ${base}</th>` : "")
    )
    .join("")}</tr>`
  const body = summaryRows(
    runs.map((r) => r.summary),
    currency
  )
    .map((row) => {
      if (row.section === true) return `<tr class="section"><th scope="rowgroup" colspan="${columns + 1}">${row.label}</th></tr>`
      const v0 = row.num?.(runs[0].summary) ?? null
      const cells = runs.map(
        (r, i) =>
          `<td>${row.value(r.summary)}</td>` +
          (i > 0 ? `<td class="delta">${row.num === undefined ? "" : fmtDelta(v0, row.num(r.summary), row.delta)}</td>` : "")
      )
      return `<tr><th scope="row">${row.label}</th>${cells.join("")}</tr>`
    })
    .join("\n")
  return `<table id="summary"><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`
}

/** One colour per run, the same in the table and in every chart (Tableau 10). */
export const RUN_COLORS = ["#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#9c755f", "#edc948", "#ff9da7", "#bab0ac"]

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1.5em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
.note { color: #555; font-size: .9em; }
#summary { border-collapse: collapse; margin: .5em 0; }
#summary th, #summary td { padding: .2em .8em; border-bottom: 1px solid #eee; text-align: right; }
#summary th[scope=row], #summary tr.section th { text-align: left; font-weight: normal; }
#summary tr.section th { font-weight: bold; padding-top: .8em; }
#summary .raw { color: #888; font-size: .85em; }
#summary td.delta, #summary th.delta { color: #555; font-size: .9em; border-left: 1px dotted #ddd; }
#summary th.run { border-bottom: 3px solid currentColor; }
${RUN_COLORS.map((c, i) => `#summary th.run-${i} { border-bottom-color: ${c}; }`).join("\n")}
.charts { display: flex; flex-direction: column; gap: 1.2em; }
.chart { width: 100%; min-height: 300px; }
details.run { margin-top: 1em; }
details.run > summary { cursor: pointer; font-size: 1.1em; font-weight: bold; }
.swatch { display: inline-block; width: .9em; height: .9em; border-radius: 2px; vertical-align: -.1em; margin-right: .3em; }
`

/**
 * The page's own script: builds the charts from the embedded data.
 *
 * Colours: with one run, each series kind has its own colour (the same in
 * every chart); with several, each run has one colour in every chart and the
 * line style tells the kinds apart. Counts have integer ticks; every axis has
 * a title with its unit.
 */
const SCRIPT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var multi = data.runs.length > 1;
  // One colour per kind of series (used when there is one run), never reused for another kind.
  var KIND = {
    queued: { color: "#e15759", dash: null }, running: { color: "#4e79a7", dash: [8, 4] },
    starting: { color: "#f28e2b", dash: [2, 3] }, up: { color: "#59a14f", dash: null }, held: { color: "#b07aa1", dash: [8, 3, 2, 3] },
    terminating: { color: "#9c755f", dash: [12, 4] },
    paid: { color: "#c9a400", dash: null }, used: { color: "#17becf", dash: [8, 4] },
    physUsed: { color: "#1f3b73", dash: [2, 3] }, physTotal: { color: "#7f7f7f", dash: [4, 4] }
  };
  // Tick spacings that read well as durations (seconds), and for counts (never a fraction).
  var DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000, 7776000, 15552000, 31536000];
  var COUNT_STEPS = [];
  for (var p = 1; p <= 1e9; p *= 10) COUNT_STEPS.push(p, 2 * p, 5 * p);
  var PERCENT_STEPS = [0.05, 0.1, 0.2, 0.25, 0.5];
  function dur(s) {
    if (s == null || !isFinite(s)) return "–";
    var neg = s < 0; s = Math.abs(Math.round(s));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), x = s % 60, out;
    if (d > 0) out = d + "d" + (h ? " " + h + "h" : ""); else if (h > 0) out = h + "h" + (m ? " " + m + "m" : ""); else if (m > 0) out = m + "m" + (x ? " " + x + "s" : ""); else out = x + "s";
    return (neg ? "-" : "") + out;
  }
  function runColor(i) { return data.colors[i % data.colors.length]; }
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + a + ")";
  }
  // Faults (shaded while they last, or a dotted line) and scaler restarts (dashed line), in the run's colour when several runs share the chart.
  function markerHook(groups) {
    return function (u) {
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, left = u.bbox.left, right = left + u.bbox.width;
      function px(t) { return Math.max(left, Math.min(right, u.valToPos(t, "x", true))); }
      ctx.save();
      groups.forEach(function (g) {
        var base = g.color || "#d62728";
        g.markers.forEach(function (m) {
          var x0 = px(m.t);
          if (m.end != null) {
            ctx.fillStyle = alpha(base, 0.10);
            ctx.fillRect(x0, top, Math.max(2, px(m.end) - x0), h);
          } else {
            ctx.strokeStyle = m.kind === "restart" ? (g.color ? alpha(base, 0.8) : "rgba(0,0,0,0.7)") : alpha(base, 0.7);
            ctx.setLineDash(m.kind === "restart" ? [6, 4] : [2, 3]);
            ctx.lineWidth = 1.5;
            ctx.beginPath(); ctx.moveTo(x0, top); ctx.lineTo(x0, top + h); ctx.stroke();
          }
        });
      });
      ctx.restore();
    };
  }
  /**
   * Several step series on one x grid: the union of their times, each value
   * carried forward (a step function holds until its next point) and null
   * after the series' own end.
   */
  function align(list) {
    var xs = {};
    list.forEach(function (l) { l.t.forEach(function (t) { xs[t] = true; }); });
    var x = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    var ys = list.map(function (l) {
      var j = -1, end = l.t.length ? l.t[l.t.length - 1] : -Infinity;
      return x.map(function (t) {
        while (j + 1 < l.t.length && l.t[j + 1] <= t) j++;
        return j < 0 || t > end ? null : l.values[j];
      });
    });
    return { x: x, ys: ys };
  }
  function width(div) { return Math.max(320, div.clientWidth || document.body.clientWidth - 48); }
  var charts = [];
  /**
   * A full-width chart. series: {label, color, dash, fill, t, values}; each
   * series brings its own times (aligned here). opts: yTitle, xTitle, yKind
   * ("count" or "fraction"), xKind ("time" or "wait"), markers ([{color, markers}]).
   */
  function plot(host, id, title, series, opts) {
    var div = document.createElement("div");
    div.className = "chart"; div.id = id;
    host.appendChild(div);
    var a = align(series);
    var step = uPlot.paths.stepped({ align: 1 });
    var fraction = opts.yKind === "fraction";
    function yText(v) { return v == null ? "–" : fraction ? (v * 100).toFixed(1) + " %" : (Number.isInteger(v) ? String(v) : v.toFixed(2)); }
    var s = [{ label: opts.xKind === "wait" ? "wait ≤" : "time", value: function (u, v) { return dur(v); } }];
    var d = [a.x];
    series.forEach(function (se, k) {
      // With several runs, earlier runs draw wider lines, so a later run's identical stretch leaves them visible on both sides.
      s.push({ label: se.label, stroke: se.color, width: multi ? Math.max(1.5, 4 - 1.25 * se.run) : 1.75, dash: se.dash || undefined, fill: se.fill, paths: step, spanGaps: false,
        points: { show: false }, value: function (u, v) { return yText(v); } });
      d.push(a.ys[k]);
    });
    var u = new uPlot({
      title: title, width: width(host), height: 300,
      cursor: { sync: { key: opts.xKind === "wait" ? "wait" : "time" } },
      scales: {
        x: data.xMax != null && opts.xKind !== "wait" ? { time: false, range: function () { return [0, data.xMax]; } } : { time: false },
        y: { range: function (u, min, max) { return [0, fraction ? 1 : Math.max(1, Math.ceil(max * 1.05))]; } }
      },
      axes: [
        { label: opts.xTitle, labelSize: 22, incrs: DURATION_STEPS, values: function (u, vals) { return vals.map(dur); } },
        { label: opts.yTitle, labelSize: 22, size: 60, incrs: fraction ? PERCENT_STEPS : COUNT_STEPS,
          values: function (u, vals) { return vals.map(function (v) { return fraction ? Math.round(v * 100) + " %" : String(v); }); } }
      ],
      series: s,
      hooks: { draw: [markerHook(opts.markers || []), function (u) { div.setAttribute("data-y-ticks", JSON.stringify(u.axes[1]._splits || [])); }] }
    }, d, div);
    // What the tests read back: the axis titles, each series' run and colour, and the y ticks drawn.
    div.setAttribute("data-x-title", opts.xTitle);
    div.setAttribute("data-y-title", opts.yTitle);
    div.setAttribute("data-series", JSON.stringify(series.map(function (se) { return { label: se.label, run: se.run, color: se.color }; })));
    charts.push({ u: u, div: div, host: host });
    return u;
  }
  function section(host, titleText, note) {
    var h = document.createElement("h2");
    h.textContent = titleText;
    host.appendChild(h);
    if (note) {
      var p = document.createElement("p");
      p.className = "note"; p.textContent = note;
      host.appendChild(p);
    }
    var box = document.createElement("div");
    box.className = "charts";
    host.appendChild(box);
    return box;
  }
  var TIME = "simulated time since the start";
  var resources = [];
  data.runs.forEach(function (r) { Object.keys(r.nodes).forEach(function (res) { if (resources.indexOf(res) < 0) resources.push(res); }); });
  resources.sort();
  function existing(n) { return n.starting.map(function (v, i) { return v + n.up[i] + n.held[i] + n.terminating[i]; }); }
  function runMarkers(i) { return [{ color: multi ? runColor(i) : null, markers: data.runs[i].markers }]; }
  function allMarkers() { return data.runs.map(function (r, i) { return { color: runColor(i), markers: r.markers }; }); }

  // The charts of one run, kinds told apart by colour (one run) or by line style in the run's colour (several runs).
  function runCharts(box, r, i, prefix) {
    function col(kind) { return multi ? runColor(i) : KIND[kind].color; }
    function dash(kind) { return multi ? KIND[kind].dash : (kind === "physTotal" ? KIND.physTotal.dash : null); }
    function se(label, kind, values, extra) {
      var o = { label: label, run: i, color: col(kind), dash: dash(kind), t: r.t, values: values };
      if (extra) for (var k in extra) o[k] = extra[k];
      return o;
    }
    plot(box, prefix + "jobs-" + i, "Jobs" + (multi ? ": " + r.label : ""), [se("queued", "queued", r.queued), se("running", "running", r.running)],
      { yTitle: "jobs", xTitle: TIME, markers: runMarkers(i) });
    Object.keys(r.nodes).forEach(function (res) {
      var n = r.nodes[res];
      plot(box, prefix + "nodes-" + i + "-" + resources.indexOf(res), "Nodes of " + res + " by state" + (multi ? ": " + r.label : ""),
        data.states.map(function (st) { return se(st, st, n[st]); }), { yTitle: "nodes", xTitle: TIME, markers: runMarkers(i) });
    });
    var cores = [se("paid (cloud)", "paid", r.paidCores), se("used (cloud)", "used", r.usedCores, multi ? null : { fill: "rgba(23,190,207,0.12)" })];
    if (r.physicalCores > 0) {
      cores.push(se("used (physical)", "physUsed", r.physicalUsedCores));
      cores.push(se("physical cores", "physTotal", r.t.map(function () { return r.physicalCores; })));
    }
    plot(box, prefix + "cores-" + i, "Cores: paid vs used" + (multi ? ": " + r.label : ""), cores, { yTitle: "cores", xTitle: TIME, markers: runMarkers(i) });
  }

  function runNote(r) {
    var text = r.bucket === null
      ? "One point per event time (exact)."
      : "Downsampled: each point covers " + dur(r.bucket) + "; job and node counts show the peak within it, cores the average over it.";
    if (r.bootsWithoutCores > 0) text += " " + r.bootsWithoutCores + " boot event(s) carry no cores: their paid cores count as 0.";
    return text;
  }
  function markerNote(r) {
    if (r.markers.length === 0) return null;
    var ml = document.createElement("p");
    ml.className = "note markers";
    var shown = r.markers.slice(0, 30).map(function (m) {
      return m.label + " " + (m.end != null ? dur(m.t) + "–" + dur(m.end) : "at " + dur(m.t));
    });
    var more = r.markers.length - shown.length + r.markersDropped;
    ml.textContent = (multi ? r.label + ": " : "") + "marked on the plots (faults shaded or dotted, scaler restarts dashed): " + shown.join("; ") + (more > 0 ? "; and " + more + " more" : "") + ".";
    return ml;
  }

  // ---- wait-time distribution (every run, one colour each)
  var cdf = data.cdf;
  plot(document.getElementById("waits"), "wait-cdf", "Wait-time CDF",
    data.runs.map(function (r, i) { return { label: r.label, run: i, color: runColor(i), t: cdf.x, values: cdf.y[i] }; }),
    { yKind: "fraction", xKind: "wait", yTitle: "jobs that waited at most x", xTitle: "wait x (submission to start)" });

  var runsHost = document.getElementById("runs");
  if (multi) {
    // ---- the runs overlaid where they share an axis
    var cmp = section(runsHost, "Runs compared", "Each run has one colour in every chart. " +
      data.runs.map(function (r) { return r.label + ": " + runNote(r); }).join(" "));
    data.runs.forEach(function (r) { var m = markerNote(r); if (m) cmp.parentNode.insertBefore(m, cmp); });
    function each(label, kind, pick) {
      return data.runs.map(function (r, i) { return { label: r.label + (label ? " " + label : ""), run: i, color: runColor(i), dash: kind ? KIND[kind].dash : null, t: r.t, values: pick(r) }; })
        .filter(function (s) { return s.values !== null; });
    }
    plot(cmp, "cmp-queued", "Queued jobs", each("", null, function (r) { return r.queued; }), { yTitle: "queued jobs", xTitle: TIME, markers: allMarkers() });
    plot(cmp, "cmp-running", "Running jobs", each("", null, function (r) { return r.running; }), { yTitle: "running jobs", xTitle: TIME, markers: allMarkers() });
    resources.forEach(function (res, k) {
      var nodes = each("", null, function (r) { return r.nodes[res] ? existing(r.nodes[res]) : null; });
      plot(cmp, "cmp-nodes-" + k, "Nodes of " + res + " (every state: paid for)", nodes, { yTitle: "nodes", xTitle: TIME, markers: allMarkers() });
    });
    plot(cmp, "cmp-cores", "Cloud cores: paid (solid) vs used (dashed)",
      each("paid", "paid", function (r) { return r.paidCores; }).concat(each("used", "used", function (r) { return r.usedCores; })),
      { yTitle: "cores", xTitle: TIME, markers: allMarkers() });
    // ---- each run on its own, folded
    data.runs.forEach(function (r, i) {
      var det = document.createElement("details");
      det.className = "run";
      var sum = document.createElement("summary");
      var sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = runColor(i);
      sum.appendChild(sw);
      sum.appendChild(document.createTextNode("Run in detail: " + r.label));
      det.appendChild(sum);
      runsHost.appendChild(det);
      // Drawn when opened (uPlot needs the width of a visible element).
      var drawn = false;
      det.addEventListener("toggle", function () {
        if (!det.open || drawn) return;
        drawn = true;
        var box = document.createElement("div");
        box.className = "charts";
        det.appendChild(box);
        runCharts(box, r, i, "run-");
        document.body.setAttribute("data-charts", String(charts.length));
      });
    });
  } else {
    var r0 = data.runs[0];
    var box = section(runsHost, "Run: " + r0.label, runNote(r0));
    var m0 = markerNote(r0);
    if (m0) box.parentNode.insertBefore(m0, box);
    runCharts(box, r0, 0, "");
  }
  // The multi-seed section (simulate --seeds: means with intervals, the cost-vs-wait scatter, a sweep's frontier) is static HTML and SVG, before #runs.

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.u.setSize({ width: width(c.host), height: 300 }); }); });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-loaded", "true");
})();
`

/**
 * One self-contained HTML report over one or more runs. Several runs (a
 * policy comparison, `--set` variants) are compared in the summary table
 * (with Δ against the first run) and overlaid in the charts, one colour per
 * run throughout; each run's own charts follow, folded.
 */
export const buildReport = (runs: ReadonlyArray<ReportRun>, opts: ReportOptions = {}): string => {
  if (runs.length === 0) throw new Error("buildReport: no run to report")
  const lib = chartLibrary()
  const currency = opts.currency ?? DEFAULT_CURRENCY
  const series = runs.map((r) => seriesFromEvents(r.events, opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}))
  const cdf = waitCdf(
    series.map((s) => s.waits),
    opts.maxPoints ?? 2000
  )
  const title = opts.title ?? (runs.length === 1 ? `Simulation report: ${runs[0].summary.scenario}` : `Simulation report: ${runs.map((r) => r.label).join(" vs ")}`)
  const data = {
    states: NODE_STATES,
    colors: RUN_COLORS,
    runs: runs.map((r, i) => ({ label: r.label, ...series[i], waits: undefined })),
    cdf,
    // Every run's plots share one time axis, so runs compare at a glance.
    xMax: Math.max(1, ...series.map((s) => s.end))
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${lib.css}</style>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="note">Every curve is computed from the run's event log. Time is simulated time since the scenario start.
Nodes: <b>starting</b> = booted, not yet joined the cluster; <b>up</b> = joined; <b>held</b> = taken offline before removal;
<b>terminating</b> = left the cluster or being destroyed, until the cloud reports it gone. Paid cores = cores of every instance that exists.
Cost = price per node-hour × billed node-hours (node-hours paid, rounded up as the resource's <code>billing</code> says), in ${escapeHtml(currency)} (the scenario's <code>report.currency</code>).${
    runs.length > 1 ? ` Δ: the change against ${escapeHtml(runs[0].label)} (utilisation in percentage points).` : ""
  }</p>
<h2>Summary</h2>
${summaryTable(runs, currency)}
<h2>Wait-time distribution</h2>
<p class="note">For each wait x: the fraction of started jobs that waited at most x between submission and start.</p>
<div id="waits" class="charts"></div>
${opts.extraHtml ?? ""}<div id="runs"></div>
<noscript><p>The charts need JavaScript; the summary above does not.</p></noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${lib.js}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}
