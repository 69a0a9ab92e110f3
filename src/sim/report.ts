/**
 * The simulation report: one self-contained HTML file with plots over time
 * per run (queued and running jobs, nodes per state per resource, paid vs
 * used cores), the summary table side by side, and the wait-time CDF.
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

type Row = readonly [label: string, value: (s: Summary) => string, cls?: string]

const summaryRows = (summaries: ReadonlyArray<Summary>): ReadonlyArray<Row> => {
  const resources = [...new Set(summaries.flatMap((s) => Object.keys(s.resources)))].sort()
  const wait = (k: "mean" | "p50" | "p95" | "max"): Row => [`wait ${k}`, (s) => `${fmtDuration(s.wait[k])} <span class="raw">(${fmtNum(s.wait[k])} s)</span>`]
  const resRows = (name: string, pick: (s: Summary) => Summary["total"] | undefined): ReadonlyArray<Row> => {
    const f = (get: (r: Summary["total"]) => string): Row[1] => (s) => {
      const r = pick(s)
      return r === undefined ? "–" : get(r)
    }
    return [
      [`${name}`, () => "", "section"],
      ["boots / failed", f((r) => `${r.boots} / ${r.failed_boots}`)],
      ["peak nodes", f((r) => String(r.peak_nodes))],
      ["node-hours paid", f((r) => fmtNum(r.node_hours))],
      ["core-hours paid", f((r) => fmtNum(r.core_hours))],
      ["useful core-hours", f((r) => fmtNum(r.useful_core_hours))],
      ["utilisation", f((r) => (r.utilisation === null ? "–" : `${(r.utilisation * 100).toFixed(1)} %`))],
      ["cost", f((r) => fmtNum(r.cost, 2))]
    ]
  }
  return [
    ["scenario", (s) => escapeHtml(s.scenario)],
    ["policy", (s) => escapeHtml(s.policy)],
    ["seed", (s) => String(s.seed)],
    ["simulated span", (s) => fmtDuration(s.span)],
    ["jobs submitted", (s) => String(s.jobs.submitted)],
    ["jobs started", (s) => String(s.jobs.started)],
    ["jobs finished", (s) => String(s.jobs.finished)],
    ["jobs killed", (s) => String(s.jobs.killed)],
    ["jobs skipped (trace)", (s) => String(s.jobs.skipped)],
    wait("mean"),
    wait("p50"),
    wait("p95"),
    wait("max"),
    ...resources.flatMap((r) => resRows(`resource ${escapeHtml(r)}`, (s) => s.resources[r])),
    ...resRows("all cloud resources", (s) => s.total),
    ["faults injected", (s) => String(s.faults)],
    ["scaler restarts", (s) => String(s.restarts)]
  ]
}

const summaryTable = (runs: ReadonlyArray<ReportRun>): string => {
  const head = `<tr><th></th>${runs.map((r) => `<th scope="col">${escapeHtml(r.label)}</th>`).join("")}</tr>`
  const body = summaryRows(runs.map((r) => r.summary))
    .map(([label, value, cls]) =>
      cls === "section"
        ? `<tr class="section"><th scope="rowgroup" colspan="${runs.length + 1}">${label}</th></tr>`
        : `<tr><th scope="row">${label}</th>${runs.map((r) => `<td>${value(r.summary)}</td>`).join("")}</tr>`
    )
    .join("\n")
  return `<table id="summary"><thead>${head}</thead><tbody>\n${body}\n</tbody></table>`
}

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
.note { color: #555; font-size: .9em; }
#summary { border-collapse: collapse; margin: .5em 0; }
#summary th, #summary td { padding: .2em .8em; border-bottom: 1px solid #eee; text-align: right; }
#summary th[scope=row], #summary tr.section th { text-align: left; font-weight: normal; }
#summary tr.section th { font-weight: bold; padding-top: .8em; }
#summary .raw { color: #888; font-size: .85em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { min-height: 260px; }
`

/** The page's own script: builds the charts from the embedded data. */
const SCRIPT = String.raw`
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var COLORS = { queued: "#d62728", running: "#1f77b4", starting: "#ff7f0e", up: "#2ca02c", held: "#9467bd", terminating: "#8c564b",
    paid: "#d62728", used: "#2ca02c", physUsed: "#1f77b4", physTotal: "#7f7f7f" };
  // Tick spacings that read well as durations (seconds).
  var DURATION_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000, 7776000, 15552000, 31536000];
  var RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
  function dur(s) {
    if (s == null || !isFinite(s)) return "–";
    var neg = s < 0; s = Math.abs(Math.round(s));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), x = s % 60, out;
    if (d > 0) out = d + "d" + (h ? " " + h + "h" : ""); else if (h > 0) out = h + "h" + (m ? " " + m + "m" : ""); else if (m > 0) out = m + "m" + (x ? " " + x + "s" : ""); else out = x + "s";
    return (neg ? "-" : "") + out;
  }
  // Faults (shaded while they last, or a dotted line) and scaler restarts (dashed line).
  function markerHook(markers) {
    return function (u) {
      if (!markers || markers.length === 0) return;
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, left = u.bbox.left, right = left + u.bbox.width;
      function px(t) { return Math.max(left, Math.min(right, u.valToPos(t, "x", true))); }
      ctx.save();
      markers.forEach(function (m) {
        var x0 = px(m.t);
        if (m.end != null) {
          ctx.fillStyle = "rgba(214,39,40,0.10)";
          ctx.fillRect(x0, top, Math.max(2, px(m.end) - x0), h);
        } else {
          ctx.strokeStyle = m.kind === "restart" ? "rgba(0,0,0,0.7)" : "rgba(214,39,40,0.7)";
          ctx.setLineDash(m.kind === "restart" ? [6, 4] : [2, 3]);
          ctx.lineWidth = 1.5;
          ctx.beginPath(); ctx.moveTo(x0, top); ctx.lineTo(x0, top + h); ctx.stroke();
        }
      });
      ctx.restore();
    };
  }
  function width() { return Math.max(320, Math.min(560, document.body.clientWidth / 2 - 24)); }
  var charts = [];
  function plot(host, id, title, x, series, opts) {
    var div = document.createElement("div");
    div.className = "chart"; div.id = id;
    host.appendChild(div);
    var step = uPlot.paths.stepped({ align: 1 });
    var s = [{ label: opts.xLabel || "time", value: function (u, v) { return opts.xFmt ? opts.xFmt(v) : dur(v); } }];
    var d = [x];
    series.forEach(function (se) {
      s.push({ label: se.label, stroke: se.color, width: 1.5, dash: se.dash, fill: se.fill, paths: step, points: { show: false },
        value: function (u, v) { return v == null ? "–" : (opts.yFmt ? opts.yFmt(v) : String(v)); } });
      d.push(se.values);
    });
    var u = new uPlot({
      title: title, width: width(), height: 240,
      scales: { x: opts.xMax != null ? { time: false, range: function () { return [0, opts.xMax]; } } : { time: false }, y: { range: function (u, min, max) { return [0, Math.max(opts.yMax || 1, max) * 1.05]; } } },
      axes: [{ incrs: DURATION_STEPS, values: function (u, vals) { return vals.map(function (v) { return opts.xFmt ? opts.xFmt(v) : dur(v); }); } }, { size: 55 }],
      series: s,
      hooks: { draw: [markerHook(opts.markers)] }
    }, d, div);
    charts.push(u);
    return u;
  }
  var runsHost = document.getElementById("runs");
  data.runs.forEach(function (r, i) {
    var sec = document.createElement("section");
    sec.className = "run";
    var h = document.createElement("h2");
    h.textContent = "Run: " + r.label;
    sec.appendChild(h);
    var p = document.createElement("p");
    p.className = "note";
    p.textContent = r.bucket === null
      ? "One point per event time (exact)."
      : "Downsampled: each point covers " + dur(r.bucket) + "; job and node counts show the peak within it, cores the average over it.";
    if (r.bootsWithoutCores > 0) p.textContent += " " + r.bootsWithoutCores + " boot event(s) carry no cores: their paid cores count as 0.";
    sec.appendChild(p);
    if (r.markers.length > 0) {
      var ml = document.createElement("p");
      ml.className = "note markers";
      var shown = r.markers.slice(0, 30).map(function (m) {
        return m.label + " " + (m.end != null ? dur(m.t) + "–" + dur(m.end) : "at " + dur(m.t));
      });
      var more = r.markers.length - shown.length + r.markersDropped;
      ml.textContent = "Marked on the plots (faults shaded or dotted, scaler restarts dashed): " + shown.join("; ") + (more > 0 ? "; and " + more + " more" : "") + ".";
      sec.appendChild(ml);
    }
    var box = document.createElement("div");
    box.className = "charts";
    sec.appendChild(box);
    runsHost.appendChild(sec);
    plot(box, "jobs-" + i, "Jobs", r.t, [
      { label: "queued", color: COLORS.queued, values: r.queued },
      { label: "running", color: COLORS.running, values: r.running }
    ], { markers: r.markers, xMax: data.xMax });
    Object.keys(r.nodes).forEach(function (res, k) {
      var n = r.nodes[res];
      plot(box, "nodes-" + i + "-" + k, "Nodes of " + res, r.t, data.states.map(function (st) {
        return { label: st, color: COLORS[st], values: n[st] };
      }), { markers: r.markers, xMax: data.xMax });
    });
    var cores = [
      { label: "paid (cloud)", color: COLORS.paid, values: r.paidCores },
      { label: "used (cloud)", color: COLORS.used, values: r.usedCores, fill: "rgba(44,160,44,0.15)" }
    ];
    if (r.physicalCores > 0) {
      cores.push({ label: "used (physical)", color: COLORS.physUsed, values: r.physicalUsedCores });
      cores.push({ label: "physical cores", color: COLORS.physTotal, dash: [4, 4], values: r.t.map(function () { return r.physicalCores; }) });
    }
    plot(box, "cores-" + i, "Cores: paid vs used", r.t, cores, { markers: r.markers, xMax: data.xMax });
  });
  var cdf = data.cdf;
  plot(document.getElementById("waits"), "wait-cdf", "Wait-time CDF", cdf.x,
    data.runs.map(function (r, i) { return { label: r.label, color: RUN_COLORS[i % RUN_COLORS.length], values: cdf.y[i] }; }),
    { xLabel: "wait ≤", yMax: 1, yFmt: function (v) { return (v * 100).toFixed(1) + " %"; } });
  window.addEventListener("resize", function () { charts.forEach(function (u) { u.setSize({ width: width(), height: 240 }); }); });
  document.body.setAttribute("data-charts", String(charts.length));
  document.body.setAttribute("data-loaded", "true");
})();
`

/**
 * One self-contained HTML report over one or more runs (several runs are
 * shown side by side in the summary table and overlaid in the wait CDF).
 */
export const buildReport = (runs: ReadonlyArray<ReportRun>, opts: ReportOptions = {}): string => {
  if (runs.length === 0) throw new Error("buildReport: no run to report")
  const lib = chartLibrary()
  const series = runs.map((r) => seriesFromEvents(r.events, opts.maxPoints !== undefined ? { maxPoints: opts.maxPoints } : {}))
  const cdf = waitCdf(
    series.map((s) => s.waits),
    opts.maxPoints ?? 2000
  )
  const title = opts.title ?? (runs.length === 1 ? `Simulation report: ${runs[0].summary.scenario}` : `Simulation report: ${runs.map((r) => r.label).join(" vs ")}`)
  const data = {
    states: NODE_STATES,
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
<b>terminating</b> = left the cluster or being destroyed, until the cloud reports it gone. Paid cores = cores of every instance that exists.</p>
<h2>Summary</h2>
${summaryTable(runs)}
<h2>Wait-time distribution</h2>
<p class="note">For each wait x: the fraction of started jobs that waited at most x between submission and start.</p>
<div id="waits" class="charts"></div>
<div id="runs"></div>
<noscript><p>The charts need JavaScript; the summary above does not.</p></noscript>
<script type="application/json" id="report-data">${jsonForScript(data)}</script>
<script>${lib.js}</script>
<script>${SCRIPT}</script>
</body>
</html>
`
}
