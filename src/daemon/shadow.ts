/**
 * What `dyncluster run --dry-run` and `--decisions FILE` add to the daemon
 * (docs/daemon.md "Shadow mode"), in sim and live mode alike:
 *
 * - `composeServices`: the one point where the engine's services (built by
 *   the live registry or the simulated world) are wrapped: the queue
 *   observer of the decisions file on the real batch system, then the
 *   shadow of src/engine/dry-run.ts over everything.
 * - the decisions file: JSON Lines, a `start` line (mode, dry run, each
 *   resource's boot time), a `decision` line per new entry of the decision
 *   log, and `job_queued` / `job_left_queue` lines from the batch system's
 *   queue, which `dyncluster shadow-report` reads.
 */
import { Clock, Context, Effect } from "effect"
import { closeSync, openSync, writeSync } from "node:fs"
import { dryRunContext, type EngineServices, type Shadow } from "../engine/dry-run.ts"
import { Cluster, type ClusterService } from "../engine/services.ts"
import type { DecisionEntry } from "../http/decisions.ts"
import type { Job } from "../model/types.ts"
import { meanOf } from "../sim/random.ts"
import type { SimScenario } from "../sim/run.ts"
import { DaemonError } from "./settings.ts"

/** Seconds a boot is taken to last in shadow mode when nothing else says (the demand policy's default boot time). */
export const DEFAULT_SHADOW_BOOT_TIME = 300

/** A line of the decisions file. */
export type DecisionsFileLine =
  | {
      readonly type: "start"
      readonly t: number
      readonly mode: "sim" | "live"
      readonly dry_run: boolean
      /** Seconds from a boot until the node could take jobs, per resource (what shadow-report adds to a provision's time). */
      readonly boot_time: Record<string, number>
    }
  | ({ readonly type: "decision" } & Omit<DecisionEntry, "last_t" | "repeats">)
  | {
      readonly type: "job_queued"
      /** When the scaler first saw the job queued. */
      readonly t: number
      readonly job: string
      /** The batch system's submit time (seconds since the epoch), when it says. */
      readonly submitted: number | null
      readonly cores: number
      readonly queue: string | null
    }
  /** The job was queued at the previous poll and is not now (it started, or was deleted). */
  | { readonly type: "job_left_queue"; readonly t: number; readonly job: string }

export interface DecisionsFile {
  readonly write: (line: DecisionsFileLine) => void
  readonly decision: (e: DecisionEntry) => void
  readonly close: () => void
}

export const openDecisionsFile = (path: string): Effect.Effect<DecisionsFile, DaemonError> =>
  Effect.try({
    try: () => {
      const fd = openSync(path, "w")
      const write = (line: DecisionsFileLine) => void writeSync(fd, JSON.stringify(line) + "\n")
      return {
        write,
        decision: ({ last_t: _l, repeats: _r, ...e }: DecisionEntry) => write({ type: "decision", ...e }),
        close: () => closeSync(fd)
      }
    },
    catch: (e) => new DaemonError({ message: `--decisions: cannot write ${path}: ${(e as Error).message}` })
  })

const submittedOf = (j: Job): number | null => {
  const n = j.creation_time === null ? NaN : Number(j.creation_time)
  return Number.isFinite(n) && n > 0 ? n : null
}

/**
 * The batch system's queue as the decisions file records it: a job first
 * seen queued, and a job no longer queued, at each successful query (the
 * engine's Clock). The view itself is passed on unchanged.
 */
export const observeQueue = (cluster: ClusterService, write: (line: DecisionsFileLine) => void): ClusterService => {
  let queued = new Set<string>()
  return {
    ...cluster,
    query: Effect.flatMap(cluster.query, (view) =>
      Effect.map(Clock.currentTimeMillis, (ms) => {
        const t = ms / 1000
        const now = new Set<string>()
        for (const j of view.jobs) {
          now.add(j.jobid)
          if (!queued.has(j.jobid)) write({ type: "job_queued", t, job: j.jobid, submitted: submittedOf(j), cores: j.requested_cores, queue: j.queue })
        }
        for (const id of queued) if (!now.has(id)) write({ type: "job_left_queue", t, job: id })
        queued = now
        return view
      })
    )
  }
}

export interface ServiceWrapping {
  /** Shadow mode. */
  readonly shadow?: Shadow | undefined
  /** The decisions file's writer: the real batch system's queue is recorded. */
  readonly record?: ((line: DecisionsFileLine) => void) | undefined
}

/** The engine's services as the daemon runs them: the composition point of shadow mode and the queue observer. */
export const composeServices =
  (w: ServiceWrapping) =>
  <R>(ctx: Context.Context<R | EngineServices>): Context.Context<R | EngineServices> => {
    let out = ctx
    if (w.record !== undefined) out = Context.add(out, Cluster, observeQueue(Context.get(out as Context.Context<EngineServices>, Cluster), w.record))
    if (w.shadow !== undefined) out = dryRunContext(out, w.shadow)
    return out
  }

/** In a simulation, a would-be node takes its resource's mean boot plus configuration time (the scenario's distributions). */
export const scenarioBootTimes = (s: SimScenario): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const r of s.world.resources) out[r.name] = Math.round((meanOf(r.bootTime) ?? DEFAULT_SHADOW_BOOT_TIME) + (meanOf(r.configTime) ?? 0))
  return out
}

/**
 * `--boot-time`: one number of seconds for every resource, or
 * `RES=SECONDS[,RES=SECONDS...]` (resources not named: DEFAULT_SHADOW_BOOT_TIME).
 */
export const parseBootTimes = (text: string, resources: ReadonlyArray<string>): Record<string, number> | string => {
  const out: Record<string, number> = {}
  const seconds = (s: string) => (/^\d+(\.\d+)?$/.test(s.trim()) ? Number(s) : NaN)
  if (!text.includes("=")) {
    const v = seconds(text)
    if (!Number.isFinite(v)) return `--boot-time: expected seconds (e.g. 120) or RES=SECONDS,..., got ${JSON.stringify(text)}`
    for (const r of resources) out[r] = v
    return out
  }
  for (const r of resources) out[r] = DEFAULT_SHADOW_BOOT_TIME
  for (const part of text.split(",")) {
    const [name, value, ...rest] = part.split("=")
    const v = seconds(value ?? "")
    if (rest.length > 0 || name === undefined || !Number.isFinite(v)) return `--boot-time: expected RES=SECONDS, got ${JSON.stringify(part)}`
    if (!resources.includes(name.trim())) return `--boot-time: no cloud resource ${JSON.stringify(name.trim())} (resources: ${resources.join(", ") || "none"})`
    out[name.trim()] = v
  }
  return out
}
