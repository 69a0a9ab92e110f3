/**
 * The services the engine is written against (DESIGN.md), each a Tag with
 * its layers: live ones (src/live, src/daemon), simulated ones (src/sim),
 * and here the no-op and recording ones (`dyncluster plan`, the
 * engine-cycle benchmark, tests). The engine never knows which it runs on.
 */
import { Context, Data, Effect, Layer } from "effect"
import type { CloudErrorClassSchema, Instance, Job, NodeState, Reservation } from "../model/types.ts"

// ---------------------------------------------------------------- errors

/** A batch-system command failed, timed out or printed something we could not parse. */
export class ClusterError extends Data.TaggedError("ClusterError")<{
  readonly op: string
  readonly message: string
  readonly cause?: unknown
}> {}

export type CloudErrorKind =
  | "capacity" // no capacity / insufficient instance capacity
  | "quota" // quota or instance limit exceeded
  | "ratelimit" // throttled; retryAfter may say when to come back
  | "auth" // authentication or authorisation failed
  | "notfound"
  | "conflict"
  | "invalid" // the request was rejected as invalid (bad image, flavour, ...)
  | "api" // 5xx or garbage from the API
  | "timeout"

/**
 * What the engine does about a failed cloud call (docs/clouds.md, "Error
 * classes"): the class of an error's kind.
 *
 * - `auth`: credentials refused; the resource backs off.
 * - `quota`, `capacity`: the cloud cannot give this resource more now; the
 *   resource backs off and the next provisioning pass runs at the next step,
 *   so the jobs fall through to the next resource without waiting.
 * - `throttle`: the API asks us to slow down; the resource's call rate is
 *   limited (cloud-setup.ts `makeCallRate`), the boot is not a failure.
 * - `invalid`: the request can never succeed as configured (bad image,
 *   flavour, network, user data); booting in the resource stops until the
 *   configuration is reloaded.
 * - `transient`: 5xx, garbage, timeouts, network; the resource backs off.
 *
 * A `notfound` answer to a boot means something the boot names (image,
 * flavour, network) does not exist: `invalid`. To other calls it is about the
 * instance and is handled by the caller (gone), `transient` here.
 */
export type CloudErrorClass = typeof CloudErrorClassSchema.Type

export const errorClass = (kind: CloudErrorKind, op: string): CloudErrorClass => {
  switch (kind) {
    case "auth":
    case "quota":
    case "capacity":
    case "invalid":
      return kind
    case "ratelimit":
      return "throttle"
    case "notfound":
      return op === "boot" || op === "instance type" || op === "flavour" || op === "security groups" || op === "network" ? "invalid" : "transient"
    case "conflict":
    case "api":
    case "timeout":
      return "transient"
  }
}

export class CloudError extends Data.TaggedError("CloudError")<{
  readonly resource: string
  readonly op: string
  readonly kind: CloudErrorKind
  readonly message: string
  /** Seconds, when the cloud said when to retry. */
  readonly retryAfter?: number
}> {}

export class CheckError extends Data.TaggedError("CheckError")<{
  readonly instance: string
  readonly message: string
}> {}

// ---------------------------------------------------------------- cluster

/** A node as the batch system reports it, already mapped to a NodeState. */
export interface ClusterNode {
  readonly hostname: string
  /** Idle, Busy, Error, Holding, Held or Starting (still joining). */
  readonly state: NodeState
  /** Comma-separated short job ids on the node, or null. */
  readonly jobs: string | null
  readonly num_proc: number
  readonly extra_attributes: Record<string, unknown> | null
  /** Seconds since the epoch when the node entered this state, when the batch system knows it (Maui's checknode does). */
  readonly since?: number
}

export interface ClusterView {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Queued jobs of the monitored queues (state Queued), any order. */
  readonly jobs: ReadonlyArray<Job>
}

/** What the cluster needs to know to add a new cloud node. */
export interface NewNode {
  readonly hostname: string
  readonly ip: string | null
  readonly cores: number
  readonly resource: string
  readonly reservation: Reservation
  readonly instanceName: string | null
}

export interface ClusterService {
  /** Nodes and queued jobs. Fails when the batch system cannot be queried; the engine then keeps its old view. */
  readonly query: Effect.Effect<ClusterView, ClusterError>
  /** Health of each part of the batch system, e.g. {"torque": true, "maui": true}. */
  readonly status: Effect.Effect<Record<string, boolean>>
  /** Called on the first transition of an instance to Active (SGE adds the exec host here). */
  readonly instanceActive: (node: NewNode) => Effect.Effect<void, ClusterError>
  /** Called when the instance is Ready: add the node with its reservation and bring it online. */
  readonly addNode: (node: NewNode) => Effect.Effect<void, ClusterError>
  /** Release reservations, offline, wait until drained, delete. */
  readonly removeNode: (hostname: string, reservation: Reservation) => Effect.Effect<void, ClusterError>
  readonly holdNode: (hostname: string) => Effect.Effect<void, ClusterError>
  readonly unholdNode: (hostname: string) => Effect.Effect<void, ClusterError>
  /** Kill (signal 9) and delete every listed job on the node. */
  readonly vacateNode: (hostname: string, jobs: ReadonlyArray<string>) => Effect.Effect<void, ClusterError>
  /** Re-apply the node's reservation if it was lost (start-up recovery). */
  readonly checkReservation: (hostname: string, reservation: Reservation) => Effect.Effect<void, ClusterError>
}

export class Cluster extends Context.Tag("dyncluster/Cluster")<Cluster, ClusterService>() {}

// ---------------------------------------------------------------- cloud

/** What a caller may pass on to one new VM beyond its resource's configuration. */
export interface BootOptions {
  /**
   * Extra values for the resource's user-data template (`{{ key }}`), e.g.
   * `{slurm_node: "cloud3"}`: the Slurm node a VM started by
   * `dyncluster slurm-resume` (cluster.mode power_save) must register as.
   */
  readonly userData?: Readonly<Record<string, string>>
}

export interface CloudService {
  /** Every instance of the resource, found by the resource's instance name prefix. */
  readonly list: (resource: string) => Effect.Effect<ReadonlyArray<Instance>, CloudError>
  /** Ask the cloud for one new instance; returns it in state Pending or Starting. */
  readonly boot: (resource: string, options?: BootOptions) => Effect.Effect<Instance, CloudError>
  /** The instance's current state (Inexistent when the cloud no longer knows it). */
  readonly refresh: (instance: Instance) => Effect.Effect<Instance, CloudError>
  /** Destroy; an instance already gone is not an error. */
  readonly destroy: (instance: Instance) => Effect.Effect<void, CloudError>
  /** vCPUs of the resource's flavour / instance type. */
  readonly coresPerNode: (resource: string) => Effect.Effect<number, CloudError>
}

export class Cloud extends Context.Tag("dyncluster/Cloud")<Cloud, CloudService>() {}

// ---------------------------------------------------------------- checker

export interface CheckerService {
  /** true when the VM finished its contextualisation and can join the cluster. */
  readonly check: (instance: Instance) => Effect.Effect<boolean, CheckError>
}

export class Checker extends Context.Tag("dyncluster/Checker")<Checker, CheckerService>() {}

/** No checker configured: Active counts as Ready. */
export const noChecker: CheckerService = { check: () => Effect.succeed(true) }
/** The Checker layer when none is configured (live: src/live/checkers.ts layerChecker; simulated: src/sim/layers.ts layerSimChecker; contract: src/live/contract/checker-contract.ts). */
export const layerNoChecker: Layer.Layer<Checker> = Layer.succeed(Checker, noChecker)

// ---------------------------------------------------------------- hooks

export type HookName =
  | "post_vm_provision_command"
  | "post_vm_destroy_command"
  | "post_add_node_command"
  | "post_remove_node_command"

export interface HooksService {
  /** Runs the configured command for the hook, if any. Failures are logged by the layer, never raised. */
  readonly run: (hook: HookName, args: ReadonlyArray<string>) => Effect.Effect<void>
}

export class Hooks extends Context.Tag("dyncluster/Hooks")<Hooks, HooksService>() {}

export const noHooks: HooksService = { run: () => Effect.void }
/** Hooks that do nothing (the simulator; live: src/daemon/hooks.ts layerCommandHooks; contract: src/live/contract/hooks-contract.ts). */
export const layerNoHooks: Layer.Layer<Hooks> = Layer.succeed(Hooks, noHooks)

// ---------------------------------------------------------------- recording layers

/**
 * Where a recording layer writes each call made to it, in words
 * ("cluster: hold node wn-1", "cloud: boot os", "hook: post_add_node_command wn-1 10.0.0.1").
 */
export type CallRecorder = (call: string) => void

/** A Cluster that answers `view` to every query and records every other call, changing nothing. */
export const layerRecordingCluster = (
  view: ClusterView,
  record: CallRecorder,
  status: Record<string, boolean> = { recording: true }
): Layer.Layer<Cluster> => {
  const rec = (what: string) => Effect.sync(() => record(what))
  return Layer.succeed(Cluster, {
    query: Effect.succeed(view),
    status: Effect.succeed(status),
    instanceActive: (n) => rec(`cluster: instance active ${n.hostname}`),
    addNode: (n) => rec(`cluster: add node ${n.hostname}`),
    removeNode: (h) => rec(`cluster: remove node ${h}`),
    holdNode: (h) => rec(`cluster: hold node ${h}`),
    unholdNode: (h) => rec(`cluster: unhold node ${h}`),
    vacateNode: (h) => rec(`cluster: vacate node ${h}`),
    checkReservation: (h) => rec(`cluster: check reservation of ${h}`)
  })
}

export interface RecordingCloudOptions {
  /** What `list` answers for a resource. */
  readonly instances: (resource: string) => ReadonlyArray<Instance>
  /** vCPUs of a resource's nodes (undefined: a `notfound` CloudError naming `coresUnknown`). */
  readonly cores: (resource: string) => number | undefined
  /** Why a resource's cores are unknown, for the error. */
  readonly coresUnknown?: (resource: string) => string
}

/**
 * A Cloud that lists fixed instances, answers `refresh` with the instance as
 * it is, and records boots and destroys without doing them (a boot then fails:
 * nothing was started).
 */
export const layerRecordingCloud = (options: RecordingCloudOptions, record: CallRecorder): Layer.Layer<Cloud> =>
  Layer.succeed(Cloud, {
    // (answers computed when the call is made, without a suspended Effect: the engine asks often, bench/engine-cycle)
    list: (resource) => Effect.succeed(options.instances(resource)),
    // (the error is made only if the boot runs: the engine submits boots as tasks that plan and the benchmark never run)
    boot: (resource) =>
      Effect.suspend(() => {
        record(`cloud: boot ${resource}`)
        return Effect.fail(new CloudError({ resource, op: "boot", kind: "invalid", message: "this cloud only records calls: it never boots" }))
      }),
    refresh: (instance) => Effect.succeed(instance),
    destroy: (instance) => Effect.sync(() => record(`cloud: destroy ${instance.instance_name ?? instance.uuid}`)),
    coresPerNode: (resource) => {
      const c = options.cores(resource)
      return c !== undefined
        ? Effect.succeed(c)
        : Effect.fail(new CloudError({ resource, op: "flavour", kind: "notfound", message: options.coresUnknown?.(resource) ?? `no cores known for ${resource}` }))
    }
  })

/** Hooks that record each run instead of running a command. */
export const layerRecordingHooks = (record: CallRecorder): Layer.Layer<Hooks> =>
  Layer.succeed(Hooks, { run: (hook, args) => Effect.sync(() => record(`hook: ${hook} ${args.join(" ")}`)) })

/** A Checker with one answer for every instance (true: every Active VM is Ready, as layerNoChecker; false: none ever is). */
export const layerConstantChecker = (ready: boolean): Layer.Layer<Checker> =>
  ready ? layerNoChecker : Layer.succeed(Checker, { check: () => Effect.succeed(false) })
