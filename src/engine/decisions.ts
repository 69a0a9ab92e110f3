/**
 * What a step decided, as values. The rules (rules/*.ts) look at the state
 * and return decisions; the actuator (actuation.ts) applies each one in turn
 * (its bookkeeping at once, its service calls as tasks run at the end of the
 * step) and writes the log line rendered here. Every decision names why it
 * was taken with a reason code from a closed set (docs/architecture.md,
 * "Decisions and reason codes").
 *
 * A decision is plain data (host and resource names, numbers): it can be
 * listed, serialised and compared (`EngineOptions.onDecisions`).
 */

/** Why a node's instance is looked at again: its cloud poll (`cloud_poller_interval`) came due. */
export type PollReason = "poll_due"
/** Why a node is held (taken out of scheduling before removal). */
export type HoldReason = "idle" | "draining"
/** Why a Held or Error node is removed from the batch system. */
export type RemoveReason = "held_empty" | "draining" | "error_timeout"
/** Why a Starting node is given up (goes Deleting, its instance destroyed). */
export type RetireReason = "instance_error" | "launch_timeout"
/** Why a node is forgotten (its instance no longer exists). */
export type ForgetReason = "instance_gone" | "destroyed"
/** Why nodes are booted. */
export type ProvisionReason = "queued_jobs" | "below_min"
/** Why nodes that a rule or the policy wanted are not booted. */
export type RefuseReason = "at_max" | "frozen" | "backoff" | "boot_in_flight"

export type ReasonCode = PollReason | HoldReason | RemoveReason | RetireReason | ForgetReason | ProvisionReason | RefuseReason | "destroy_pending"

/** Every reason code, for documentation and tests (the union above is the contract). */
export const REASON_CODES: ReadonlyArray<ReasonCode> = [
  "poll_due",
  "idle",
  "draining",
  "held_empty",
  "error_timeout",
  "instance_error",
  "launch_timeout",
  "instance_gone",
  "destroyed",
  "queued_jobs",
  "below_min",
  "at_max",
  "frozen",
  "backoff",
  "boot_in_flight",
  "destroy_pending"
]

/** Decisions about one cloud node (named by host; `resource` is its cloud resource). */
export type NodeDecision =
  /** Ask the cloud for the instance's state (Starting, Error and Deleting nodes). */
  | { readonly kind: "refresh"; readonly host: string; readonly resource: string; readonly reason: PollReason }
  /** Run the configuration checker on the instance (an Active node; a Starting one joins the cluster when ready). */
  | { readonly kind: "check"; readonly host: string; readonly resource: string; readonly reason: PollReason }
  /**
   * Hold the node in the batch system. `idle`: idle for `idleFor` seconds,
   * over `limit`, set by `limitBy` (`max_idle_time` or the policy's idle limit).
   */
  | {
      readonly kind: "hold"
      readonly host: string
      readonly resource: string
      readonly reason: "idle"
      readonly idleFor: number
      readonly limit: number
      readonly limitBy: { readonly policy: string } | "max_idle_time"
    }
  | { readonly kind: "hold"; readonly host: string; readonly resource: string; readonly reason: "draining" }
  /** Remove from the batch system, then go Deleting (`error_timeout`: in Error for `after` s, over `limit`). */
  | { readonly kind: "remove"; readonly host: string; readonly resource: string; readonly reason: "held_empty" | "draining" }
  | { readonly kind: "remove"; readonly host: string; readonly resource: string; readonly reason: "error_timeout"; readonly after: number; readonly limit: number }
  /** Give up a Starting node: Deleting, destroy its instance (`launch_timeout`: starting for `after` s, over `limit`). */
  | { readonly kind: "retire"; readonly host: string; readonly resource: string; readonly reason: "instance_error" }
  | { readonly kind: "retire"; readonly host: string; readonly resource: string; readonly reason: "launch_timeout"; readonly after: number; readonly limit: number }
  /** Ask the cloud again to destroy a Deleting node's instance (the last ask failed, or was never answered). */
  | { readonly kind: "destroy"; readonly host: string; readonly resource: string; readonly reason: "destroy_pending" }
  /** Forget a node whose instance is gone and run post_vm_destroy_command. */
  | { readonly kind: "forget"; readonly host: string; readonly resource: string; readonly reason: ForgetReason }
  /**
   * The same, for a node still registered in the batch system: remove it there
   * first (`vacate`: requeue its jobs before).
   */
  | { readonly kind: "cleanup"; readonly host: string; readonly resource: string; readonly reason: ForgetReason; readonly vacate: boolean }

/** Decisions about a resource. */
export type ResourceDecision =
  /** Boot `count` nodes. `below_min`: the resource has `live` nodes, below `min`; `queued_jobs`: the policy's, for `jobs` (first 20). */
  | { readonly kind: "provision"; readonly resource: string; readonly count: number; readonly reason: "below_min"; readonly live: number; readonly min: number }
  | {
      readonly kind: "provision"
      readonly resource: string
      readonly count: number
      readonly reason: "queued_jobs"
      readonly jobs: ReadonlyArray<string> | undefined
    }
  /**
   * `count` nodes wanted by `by` (the min rule or the policy) are not booted:
   * the resource is at its max (`at_max`, or `frozen` at its size), backing off
   * after failed boots, or has boots in flight that the min rule waits for.
   */
  | { readonly kind: "refuse"; readonly resource: string; readonly count: number; readonly by: "min" | "policy"; readonly reason: RefuseReason }

export type Decision = NodeDecision | ResourceDecision

/** What one full step decided (skipped steps decide nothing). */
export interface StepDecisions {
  /** Seconds since the epoch. */
  readonly t: number
  readonly decisions: ReadonlyArray<Decision>
}

/**
 * The log line a provisioning decision writes when it is taken. The other
 * decisions' words are below (holdWhy, retireWhy, removeWhy, forgetWhy): the
 * actuator writes them into the lines of the state change they cause
 * ("holding H: …", "H → Deleting: …", "forgetting H: …"), possibly when a
 * task's result is applied.
 */
export const provisionLine = (d: Extract<ResourceDecision, { kind: "provision" }>): { readonly msg: string; readonly fields: Record<string, unknown> } =>
  d.reason === "below_min"
    ? { msg: `${d.resource} has ${d.live} node(s), below min ${d.min}: starting ${d.count}`, fields: { resource: d.resource } }
    : { msg: `provisioning ${d.count} node(s) in ${d.resource} for queued jobs`, fields: { resource: d.resource, jobs: d.jobs } }

/** Why a node is held, in the words of the log. */
export const holdWhy = (d: Extract<NodeDecision, { kind: "hold" }>): string =>
  d.reason === "draining"
    ? `resource ${d.resource} is draining`
    : `idle for ${Math.round(d.idleFor)}s (${d.limitBy === "max_idle_time" ? `max_idle_time ${d.limit}s` : `${d.limitBy.policy} idle limit ${Math.round(d.limit)}s`})`

/** Why a Starting node is given up, in the words of the log. */
export const retireWhy = (d: Extract<NodeDecision, { kind: "retire" }>): string =>
  d.reason === "instance_error" ? "its instance is in Error" : `still starting after ${Math.round(d.after)}s (max_launch_time ${d.limit}s)`

/** Why a node is removed from the batch system, in the words of the log. */
export const removeWhy = (d: Extract<NodeDecision, { kind: "remove" }>): string =>
  d.reason === "error_timeout"
    ? `in Error for ${Math.round(d.after)}s (max_down_time ${d.limit}s)`
    : d.reason === "draining"
      ? `resource ${d.resource} is draining`
      : "held with no jobs"

/** The words of the log for a forgotten node. */
export const forgetWhy = (reason: ForgetReason): string => (reason === "instance_gone" ? "its instance is gone" : "destroyed")

const refuseWhy = (d: Extract<ResourceDecision, { kind: "refuse" }>): string =>
  d.reason === "at_max"
    ? `${d.resource} is at its max`
    : d.reason === "frozen"
      ? `${d.resource} is frozen by the operator`
      : d.reason === "backoff"
        ? `${d.resource} is backing off after failed boots`
        : `${d.resource} has boots in flight`

/**
 * One sentence for any decision (GET /server/decisions), in the words of the
 * log line it writes (holdWhy, removeWhy, retireWhy, forgetWhy, provisionLine).
 */
export const decisionText = (d: Decision): string => {
  switch (d.kind) {
    case "refresh":
      return `asking the cloud for the state of ${d.host}: its poll is due`
    case "check":
      return `checking ${d.host}: its poll is due`
    case "hold":
      return `holding ${d.host}: ${holdWhy(d)}`
    case "remove":
      return `removing ${d.host}: ${removeWhy(d)}`
    case "retire":
      return `${d.host} → Deleting: ${retireWhy(d)}`
    case "destroy":
      return `asking the cloud again to destroy ${d.host}`
    case "forget":
    case "cleanup":
      return `forgetting ${d.host}: ${forgetWhy(d.reason)}`
    case "provision":
      return provisionLine(d).msg
    case "refuse":
      return `not starting ${d.count} node(s) in ${d.resource} wanted by ${d.by === "min" ? "the min rule" : "the policy"}: ${refuseWhy(d)}`
  }
}
