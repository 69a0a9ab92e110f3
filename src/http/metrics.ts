/**
 * GET /metrics: the engine's snapshot in the Prometheus text exposition format
 * (version 0.0.4). Hand-written because every value here is derived from one
 * snapshot at scrape time; a client library's long-lived metric objects would
 * only duplicate the engine's state.
 */
import type { Snapshot } from "../engine/api.ts"
import type { DecisionLog } from "./decisions.ts"
import { isPhysical, JobState, NodeStateNames, type WorkerNode } from "../model/types.ts"

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

// ---------------------------------------------------------------- text format helpers

/** Label values escape backslash, double quote and line feed (exposition format). */
const escapeLabel = (v: string): string => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
/** HELP text escapes backslash and line feed. */
const escapeHelp = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/** Go-style float rendering; integers stay integers, non-finite values use the format's spellings. */
export const formatValue = (v: number): string => {
  if (Number.isNaN(v)) return "NaN"
  if (v === Infinity) return "+Inf"
  if (v === -Infinity) return "-Inf"
  return String(v)
}

const labels = (ls: Record<string, string>): string => {
  const entries = Object.entries(ls)
  return entries.length === 0 ? "" : "{" + entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",") + "}"
}

type MetricType = "gauge" | "counter" | "histogram"

class Writer {
  private readonly lines: Array<string> = []
  family(name: string, type: MetricType, help: string): this {
    this.lines.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
    return this
  }
  sample(name: string, ls: Record<string, string>, value: number): this {
    this.lines.push(`${name}${labels(ls)} ${formatValue(value)}`)
    return this
  }
  raw(text: string): this {
    if (text.length > 0) this.lines.push(text.replace(/\n$/, ""))
    return this
  }
  toString(): string {
    return this.lines.join("\n") + "\n"
  }
}

// ---------------------------------------------------------------- cycle histogram

/** Default buckets (seconds) for one engine cycle: sub-millisecond to a slow cluster poll. */
export const DEFAULT_CYCLE_BUCKETS: ReadonlyArray<number> = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
]

export interface HistogramState {
  /** Upper bounds, ascending, without +Inf. */
  readonly buckets: ReadonlyArray<number>
  /** Cumulative counts per bucket (same length as buckets). */
  readonly cumulative: ReadonlyArray<number>
  readonly sum: number
  readonly count: number
}

/**
 * Engine cycle durations. The engine calls `observe(seconds)` once per cycle
 * (wrap it in `Effect.sync`); the HTTP layer renders it on each scrape.
 */
export interface CycleHistogram {
  readonly observe: (seconds: number) => void
  readonly state: () => HistogramState
  /** The histogram's HELP, TYPE and sample lines (ending in a line feed). */
  readonly render: (name?: string) => string
}

export const CYCLE_HISTOGRAM_NAME = "dyncluster_engine_cycle_seconds"

export const makeCycleHistogram = (buckets: ReadonlyArray<number> = DEFAULT_CYCLE_BUCKETS): CycleHistogram => {
  const bounds = [...new Set(buckets.filter((b) => Number.isFinite(b)))].sort((a, b) => a - b)
  const counts = new Array<number>(bounds.length).fill(0)
  let sum = 0
  let count = 0
  const observe = (seconds: number): void => {
    if (!Number.isFinite(seconds) || seconds < 0) return
    count += 1
    sum += seconds
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]) {
        counts[i] += 1
        break
      }
    }
  }
  const state = (): HistogramState => {
    const cumulative: Array<number> = []
    let acc = 0
    for (const c of counts) cumulative.push((acc += c))
    return { buckets: [...bounds], cumulative, sum, count }
  }
  const render = (name: string = CYCLE_HISTOGRAM_NAME): string => renderHistogram(name, state())
  return { observe, state, render }
}

export const renderHistogram = (name: string, h: HistogramState): string => {
  const w = new Writer().family(name, "histogram", "Duration of one engine cycle (poll, act, provision) in seconds.")
  h.buckets.forEach((b, i) => w.sample(`${name}_bucket`, { le: formatValue(b) }, h.cumulative[i]))
  w.sample(`${name}_bucket`, { le: "+Inf" }, h.count)
  w.sample(`${name}_sum`, {}, h.sum)
  w.sample(`${name}_count`, {}, h.count)
  return w.toString()
}

// ---------------------------------------------------------------- snapshot metrics

/** The resource a node belongs to for metrics: its cloud resource, or "physical". */
export const nodeResource = (n: WorkerNode): string =>
  isPhysical(n) || n.instance === null ? "physical" : n.instance.cloud_resource

export interface RenderMetricsOptions {
  readonly cycleHistogram?: CycleHistogram | undefined
  /** Decisions taken since start (dyncluster_decisions_total); the family is left out when absent. */
  readonly decisions?: DecisionLog | undefined
}

export const renderMetrics = (snapshot: Snapshot, options: RenderMetricsOptions = {}): string => {
  const w = new Writer()
  const configured = snapshot.resources.map((r) => r.name)
  const resources = [...new Set([...configured, ...snapshot.nodes.map(nodeResource), "physical"])]
  const stateNames = NodeStateNames.map((s) => s.toLowerCase())

  // Every (state, resource) pair is emitted, zeros included, so series never vanish.
  const nodes = new Map<string, number>()
  const cores = new Map<string, number>()
  for (const n of snapshot.nodes) {
    const key = `${stateNames[n.state] ?? "unknown"}\u0000${nodeResource(n)}`
    nodes.set(key, (nodes.get(key) ?? 0) + 1)
    cores.set(key, (cores.get(key) ?? 0) + (Number.isFinite(n.num_proc) ? n.num_proc : 0))
  }
  const byStateAndResource = (name: string, help: string, values: Map<string, number>) => {
    w.family(name, "gauge", help)
    for (const resource of resources) {
      for (const state of stateNames) w.sample(name, { state, resource }, values.get(`${state}\u0000${resource}`) ?? 0)
    }
  }
  byStateAndResource("dyncluster_nodes", "Worker nodes by state and cloud resource (\"physical\" for nodes the scaler did not start).", nodes)
  byStateAndResource("dyncluster_cores", "Cores (num_proc) of worker nodes by state and cloud resource.", cores)

  w.family("dyncluster_queued_jobs", "gauge", "Queued jobs the engine currently reports (cut to queued_job_number_to_display).")
  w.sample("dyncluster_queued_jobs", {}, snapshot.jobs.filter((j) => j.state === JobState.Queued).length)

  w.family("dyncluster_cloud_tasks", "gauge", "Cloud tasks by kind: waiting for a worker, running, finished with results not yet applied.")
  w.sample("dyncluster_cloud_tasks", { kind: "waiting" }, snapshot.queues.waiting)
  w.sample("dyncluster_cloud_tasks", { kind: "running" }, snapshot.queues.running)
  w.sample("dyncluster_cloud_tasks", { kind: "results_pending" }, snapshot.queues.results_pending)

  const cloudResources = [...new Set([
    ...configured,
    ...Object.keys(snapshot.counters.boots),
    ...Object.keys(snapshot.counters.boot_failures),
    ...Object.keys(snapshot.counters.destroys),
    ...snapshot.backoff.map((b) => b.resource),
    ...Object.keys(snapshot.status.clouds ?? {})
  ])]
  const perResource = (name: string, type: MetricType, help: string, value: (r: string) => number) => {
    w.family(name, type, help)
    for (const r of cloudResources) w.sample(name, { resource: r }, value(r))
  }
  perResource("dyncluster_boots_total", "counter", "Instances the scaler asked the cloud to boot.", (r) => snapshot.counters.boots[r] ?? 0)
  perResource("dyncluster_boot_failures_total", "counter", "Boots that failed.", (r) => snapshot.counters.boot_failures[r] ?? 0)
  perResource("dyncluster_destroys_total", "counter", "Instances the scaler asked the cloud to destroy.", (r) => snapshot.counters.destroys[r] ?? 0)
  perResource(
    "dyncluster_spot_interruptions_total",
    "counter",
    "Spot interruptions seen: nodes held or given up because the cloud announced it takes their spot instance back.",
    (r) => snapshot.counters.spot_interruptions[r] ?? 0
  )
  perResource(
    "dyncluster_resource_backoff_seconds",
    "gauge",
    "Seconds left before the scaler boots from this resource again after failures (0 = not backing off).",
    (r) => {
      const b = snapshot.backoff.find((x) => x.resource === r)
      return b === undefined ? 0 : Math.max(0, b.until - snapshot.time)
    }
  )
  perResource(
    "dyncluster_resource_consecutive_boot_failures",
    "gauge",
    "Boots from this resource that failed in a row (what the back-off grows with; 0 after a boot succeeds).",
    (r) => snapshot.backoff.find((x) => x.resource === r)?.failures ?? 0
  )
  perResource(
    "dyncluster_resource_invalid",
    "gauge",
    "1 while booting in this resource is stopped because the cloud refused a boot as invalid (bad image, flavour, network); a reload clears it.",
    (r) => ((snapshot.backoff.find((x) => x.resource === r)?.invalid ?? null) !== null ? 1 : 0)
  )

  // Live mode only (status.clouds): whether each cloud accepts the credentials.
  const clouds = snapshot.status.clouds
  if (clouds !== undefined && Object.keys(clouds).length > 0) {
    w.family("dyncluster_cloud_auth_ok", "gauge", "1 while the cloud of this resource accepts the scaler's credentials, 0 while it refuses them (GET /server/status has the error).")
    for (const [r, c] of Object.entries(clouds)) w.sample("dyncluster_cloud_auth_ok", { resource: r }, c.auth ? 1 : 0)
  }

  w.family("dyncluster_auto_mode", "gauge", "1 when the scaler grows and shrinks the cluster on its own, 0 when only operators act.")
  w.sample("dyncluster_auto_mode", {}, snapshot.status.auto_mode ? 1 : 0)
  w.family("dyncluster_dry_run", "gauge", "1 in shadow mode (run --dry-run: decisions are taken and recorded, no mutating call is made), else 0.")
  w.sample("dyncluster_dry_run", {}, snapshot.status.dry_run ? 1 : 0)
  if (snapshot.would_be !== undefined) {
    w.family("dyncluster_would_be_nodes", "gauge", "Shadow mode: nodes the scaler would have running, by state name and cloud resource (they exist only in the scaler).")
    const counts = new Map<string, { state: string; resource: string; value: number }>()
    for (const n of snapshot.would_be) {
      const state = stateNames[n.state] ?? String(n.state)
      const resource = n.instance?.cloud_resource ?? ""
      const k = `${state}\u0000${resource}`
      const c = counts.get(k)
      if (c !== undefined) c.value++
      else counts.set(k, { state, resource, value: 1 })
    }
    for (const c of counts.values()) w.sample("dyncluster_would_be_nodes", { state: c.state, resource: c.resource }, c.value)
  }
  w.family("dyncluster_policy_info", "gauge", "Always 1; the label names the provisioning policy in effect (dynamic-cluster.policy, or run --policy).")
  w.sample("dyncluster_policy_info", { policy: snapshot.policy }, 1)

  const parts = Object.keys(snapshot.status.cluster)
  if (parts.length > 0) {
    w.family("dyncluster_cluster_up", "gauge", "1 when the batch system part (e.g. torque, maui) answered its last query.")
    for (const p of parts) w.sample("dyncluster_cluster_up", { part: p }, snapshot.status.cluster[p] ? 1 : 0)
  }

  if (options.decisions !== undefined) {
    w.family("dyncluster_decisions_total", "counter", "Decisions the engine took, by kind, reason code (docs/architecture.md) and cloud resource; refusals count once per step.")
    for (const d of options.decisions.totals()) w.sample("dyncluster_decisions_total", { kind: d.kind, reason: d.reason, resource: d.resource }, d.value)
  }

  w.raw((options.cycleHistogram ?? emptyHistogram).render())
  return w.toString()
}

const emptyHistogram = makeCycleHistogram()
