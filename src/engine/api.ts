/**
 * What the engine offers to the REST API, the dashboard, metrics and the CLI:
 * read-only snapshots and the operator actions of SPEC §5.
 */
import { Data, Effect } from "effect"
import type { CloudResourceView, Job, WorkerNode } from "../model/types.ts"

/** An operator action that was refused or failed; `status` is the HTTP code of the seed (400/404/500). */
export class ActionError extends Data.TaggedError("ActionError")<{
  readonly status: 400 | 404 | 500
  readonly message: string
}> {}

export interface ServerStatus {
  readonly auto_mode: boolean
  /** Health of the batch system parts, e.g. {"torque": true, "maui": true}. */
  readonly cluster: Record<string, boolean>
  /**
   * Live mode only (`dyncluster run --config`): per cloud resource, whether
   * the cloud accepts the credentials, e.g. {"os-res": {"auth": false,
   * "error": "authenticate: Keystone ... refused the credentials ...", "since": 1700000000.5}}.
   */
  readonly clouds?: Record<string, { readonly auth: boolean; readonly error: string | null; readonly since: number | null }>
  /** Shadow mode (`run --dry-run`): the engine decides but calls no mutating operation (docs/daemon.md). */
  readonly dry_run: boolean
}

export interface ResourceBackoff {
  readonly resource: string
  /** Seconds since the epoch until which the resource is not booted from; 0 = none. */
  readonly until: number
  readonly failures: number
  /**
   * Why booting in the resource stopped: the cloud refused a boot as invalid
   * (bad image, flavour, network, user data); null while it boots. Cleared by
   * a reload (docs/clouds.md, "Error classes").
   */
  readonly invalid: string | null
}

export interface TaskQueues {
  /** Cloud tasks waiting for a worker. */
  readonly waiting: number
  /** Cloud tasks running now. */
  readonly running: number
  /** Finished tasks whose results the engine has not applied yet. */
  readonly results_pending: number
}

export interface EngineCounters {
  readonly boots: Record<string, number>
  readonly boot_failures: Record<string, number>
  readonly destroys: Record<string, number>
  /** Spot interruptions seen, by resource (dyncluster_spot_interruptions_total). */
  readonly spot_interruptions: Record<string, number>
  /** Durations of recent engine cycles in seconds (for a histogram). */
  readonly cycles: number
}

export interface Snapshot {
  /** Seconds since the epoch of the snapshot (from the engine's Clock). */
  readonly time: number
  readonly nodes: ReadonlyArray<WorkerNode>
  /** Queued jobs, highest priority first, cut to queued_job_number_to_display (< 1 = all). */
  readonly jobs: ReadonlyArray<Job>
  readonly resources: ReadonlyArray<CloudResourceView>
  readonly status: ServerStatus
  /** The provisioning policy in effect (`dynamic-cluster.policy`, or `run --policy`); not in the seed's /server/status, so /metrics carries it. */
  readonly policy: string
  readonly queues: TaskQueues
  readonly backoff: ReadonlyArray<ResourceBackoff>
  readonly counters: EngineCounters
  /** Shadow mode only: the nodes the engine booted that exist nowhere else (dry-run.ts), not in `nodes`. */
  readonly would_be?: ReadonlyArray<WorkerNode>
}

/** A node's `time_in_current_state` at `now` (seconds): what snapshots show, and what cached API bodies splice in. */
export const timeInState = (now: number, stateStartTime: number): number => Math.max(0, now - stateStartTime)

/**
 * The clock and the state version of the engine, cheaply (no snapshot built).
 * Two stamps with the same non-null `version` mean every snapshot taken
 * between them shows the same thing except what derives from the time
 * (`time_in_current_state`, back-off `until`, `time`) and the task queues.
 * `version` is null while a step or an operator action is changing the
 * state, but not while a step pauses (engine.ts EngineOptions.pause: its
 * state stands still then; the pauses between the slices of one walk of the
 * queue share a version). Versions are unique in the process (never reused
 * by another engine).
 */
export interface EngineStamp {
  readonly version: number | null
  /** Seconds since the epoch, from the same Clock as `snapshot`. */
  readonly time: number
}

export interface EngineApi {
  readonly snapshot: Effect.Effect<Snapshot>
  /**
   * Optional (fake engines lack it): lets the HTTP server reuse encoded
   * bodies while nothing changed. Attach it with `withStamp`, never as a
   * plain field: see there.
   */
  readonly stamp?: Effect.Effect<EngineStamp>
  /**
   * Optional: the snapshot's `status` without building the snapshot (GET
   * /server/status is polled by monitors; a snapshot of 5,000 nodes copies
   * every node). Attach it with `withStatus`, never as a plain field: a
   * wrapper that replaces the snapshot (and so perhaps its status, as live
   * mode does) drops it, and readers fall back to `statusOf`.
   */
  readonly status?: Effect.Effect<ServerStatus>
  /** The effective configuration (defaults filled in), JSON-shaped, secrets removed: GET /server/config/effective. */
  readonly config: Effect.Effect<unknown>
  /**
   * The configuration as the file wrote it (the parsed document, no
   * default-filled keys), following reloads: GET /server/config, as the first
   * version. Absent (engines not started from a file, test fakes): that path
   * shows the effective configuration.
   */
  readonly configAsWritten?: Effect.Effect<unknown>
  readonly hold: (hostname: string) => Effect.Effect<void, ActionError>
  readonly unhold: (hostname: string) => Effect.Effect<void, ActionError>
  readonly vacate: (hostname: string) => Effect.Effect<void, ActionError>
  readonly deleteNode: (hostname: string) => Effect.Effect<void, ActionError>
  readonly launch: (resource: string, num: number) => Effect.Effect<void, ActionError>
  readonly freeze: (resource: string) => Effect.Effect<void, ActionError>
  readonly restore: (resource: string) => Effect.Effect<void, ActionError>
  readonly drain: (resource: string) => Effect.Effect<void, ActionError>
  readonly setAuto: (on: boolean) => Effect.Effect<void>
}

/**
 * Attaches `stamp` as a non-enumerable property, so that a wrapper which
 * copies the API and replaces its snapshot (`{ ...api, snapshot: other }`,
 * e.g. another Clock or extra fields) drops the stamp, and with it the HTTP
 * body cache, instead of pairing a stamp with a snapshot it does not
 * describe. A wrapper that keeps the snapshot's meaning forwards it on purpose.
 */
export const withStamp = <A extends EngineApi>(api: A, stamp: Effect.Effect<EngineStamp>): A =>
  Object.defineProperty(api, "stamp", { value: stamp, enumerable: false, writable: false, configurable: false })

/**
 * Attaches `status` (EngineApi.status) as a non-enumerable property, for
 * the same reason as withStamp: a copy that replaces the snapshot drops it.
 */
export const withStatus = <A extends EngineApi>(api: A, status: Effect.Effect<ServerStatus>): A =>
  Object.defineProperty(api, "status", { value: status, enumerable: false, writable: false, configurable: false })

/** GET /server/status: the light path when the API has one, else the snapshot's. */
export const statusOf = (api: EngineApi): Effect.Effect<ServerStatus> => api.status ?? Effect.map(api.snapshot, (s) => s.status)
