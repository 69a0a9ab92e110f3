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
import type { InstanceFault } from "../model/types.ts"

/**
 * Why a node's instance is looked at again: its cloud poll
 * (`cloud_poller_interval`) came due, or the last listing of its resource
 * (reconciliation, reconcile.ts) did not have it.
 */
export type PollReason = "poll_due" | "not_listed"
/**
 * Why a node is held (taken out of scheduling before removal).
 * `spot_interruption`: the cloud is taking its spot instance back (spot.ts).
 * `over_max`: the resource has more nodes than its max (adopted ones; rules/max.ts).
 */
export type HoldReason = "idle" | "draining" | "spot_interruption" | "over_max"
/** Why a Held or Error node is removed from the batch system. */
export type RemoveReason = "held_empty" | "draining" | "error_timeout" | "spot_interruption"
/** Why a Starting node is given up (goes Deleting, its instance destroyed). */
export type RetireReason = "instance_error" | "launch_timeout" | "spot_interruption"
/** Why a node is forgotten (its instance no longer exists). */
export type ForgetReason = "instance_gone" | "destroyed"
/** Why nodes are booted. */
export type ProvisionReason = "queued_jobs" | "below_min"
/** Why nodes that a rule or the policy wanted, or queued jobs could use, are not booted in a resource. */
export type RefuseReason = "at_max" | "frozen" | "draining" | "backoff" | "boot_in_flight" | "invalid_config"
/** Why queued jobs get no node from any resource (a refusal that names jobs, not a resource). */
export type JobRefuseReason = "no_matching_resource" | "auto_mode_off"

/** Why an operator decision was taken: an operator asked for it through the REST API. */
export type OperatorReason = "operator"

export type ReasonCode =
  | PollReason
  | HoldReason
  | RemoveReason
  | RetireReason
  | ForgetReason
  | ProvisionReason
  | RefuseReason
  | JobRefuseReason
  | "destroy_pending"
  | OperatorReason

/** Every reason code, for documentation and tests (the union above is the contract). */
export const REASON_CODES: ReadonlyArray<ReasonCode> = [
  "poll_due",
  "not_listed",
  "idle",
  "draining",
  "over_max",
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
  "no_matching_resource",
  "auto_mode_off",
  "invalid_config",
  "destroy_pending",
  "operator",
  "spot_interruption"
]

/** Decisions about one cloud node (named by host; `resource` is its cloud resource). */
export type NodeDecision =
  /** Ask the cloud for the instance's state (Starting, Error and Deleting nodes). */
  | { readonly kind: "refresh"; readonly host: string; readonly resource: string; readonly reason: PollReason }
  /** An Idle or Busy node above its resource's max (adopted instances): `live` nodes, `max`. */
  | { readonly kind: "hold"; readonly host: string; readonly resource: string; readonly reason: "over_max"; readonly live: number; readonly max: number }
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
  /** `spot_interruption`: its spot instance has an interruption notice (or is already interrupted); `code` is the cloud's status code. */
  | { readonly kind: "hold"; readonly host: string; readonly resource: string; readonly reason: "spot_interruption"; readonly code: string }
  /** Remove from the batch system, then go Deleting (`error_timeout`: in Error for `after` s, over `limit`). */
  | { readonly kind: "remove"; readonly host: string; readonly resource: string; readonly reason: "held_empty" | "draining" }
  /** Held without jobs, its spot instance being taken back: removed whatever `min` says (the cloud ends it anyway). */
  | { readonly kind: "remove"; readonly host: string; readonly resource: string; readonly reason: "spot_interruption"; readonly code: string }
  | { readonly kind: "remove"; readonly host: string; readonly resource: string; readonly reason: "error_timeout"; readonly after: number; readonly limit: number }
  /**
   * Give up a Starting node: Deleting, destroy its instance (`launch_timeout`: starting for `after` s, over `limit`).
   * `instance_error`: `fault` when the cloud said why; a `capacity` or `quota` one counts as a failed boot of the
   * resource (it backs off, queued jobs fall through to the next resource at once).
   */
  | { readonly kind: "retire"; readonly host: string; readonly resource: string; readonly reason: "instance_error"; readonly fault?: InstanceFault }
  | { readonly kind: "retire"; readonly host: string; readonly resource: string; readonly reason: "launch_timeout"; readonly after: number; readonly limit: number }
  /** A Starting node whose spot instance is being taken back before it joined. */
  | { readonly kind: "retire"; readonly host: string; readonly resource: string; readonly reason: "spot_interruption"; readonly code: string }
  /** Ask the cloud again to destroy a Deleting node's instance (the last ask failed, or was never answered). */
  | { readonly kind: "destroy"; readonly host: string; readonly resource: string; readonly reason: "destroy_pending" }
  /** Forget a node whose instance is gone and run post_vm_destroy_command. */
  | { readonly kind: "forget"; readonly host: string; readonly resource: string; readonly reason: ForgetReason }
  /**
   * The same, for a node still registered in the batch system: remove it there
   * first (`vacate`: requeue its jobs before).
   */
  | { readonly kind: "cleanup"; readonly host: string; readonly resource: string; readonly reason: ForgetReason; readonly vacate: boolean }

/** Job ids a decision names: at most this many, with the total beside them. */
export const JOBS_NAMED = 20

/**
 * Why a job can run on no configured resource (`no_matching_resource`):
 * no resource's reservation admits it, it needs more cores per node than any
 * resource it may use offers, or more nodes than any of them may have.
 */
export type NoMatch =
  | { readonly why: "reservation"; readonly queue: string | null; readonly account: string | null; readonly property: string | null }
  | { readonly why: "cores_per_node"; readonly needs: number; readonly offered: number }
  | { readonly why: "size"; readonly cores: number; readonly nodes: number; readonly largest: number }

/** Decisions about a resource. */
export type ResourceDecision =
  /** Boot `count` nodes. `below_min`: the resource has `live` nodes, below `min`; `queued_jobs`: the policy's, for `jobs` (first 20 of `jobsTotal`). */
  | { readonly kind: "provision"; readonly resource: string; readonly count: number; readonly reason: "below_min"; readonly live: number; readonly min: number }
  | {
      readonly kind: "provision"
      readonly resource: string
      readonly count: number
      readonly reason: "queued_jobs"
      readonly jobs: ReadonlyArray<string> | undefined
      readonly jobsTotal: number
    }
  /**
   * `count` nodes wanted by `by` (the min rule or the policy) are not booted:
   * the resource is at its `max` (`at_max`, `frozen` at its size, `draining`),
   * backing off after `failures` failed boots until `until`, stopped because
   * the cloud refused a boot as invalid (`invalid_config`, until a reload), or
   * has boots in flight that the min rule waits for. With `jobs` (first 20 of `jobsTotal`):
   * the queued jobs that every resource they could run on refuses (queue.ts),
   * `count` then being the fewest nodes they need in this resource.
   */
  | {
      readonly kind: "refuse"
      readonly resource: string
      readonly count: number
      readonly by: "min" | "policy"
      readonly reason: RefuseReason
      readonly max: number
      readonly until: number
      readonly failures: number
      readonly jobs?: ReadonlyArray<string>
      readonly jobsTotal?: number
    }

/**
 * Queued jobs that get no node from any resource (queue.ts): `jobs` (first 20
 * of `jobsTotal`) can run on no configured resource (`no_matching_resource`,
 * `match` says why), or could get nodes but auto mode is off (`auto_mode_off`).
 * `resource` is null: no resource is meant.
 */
export type JobDecision =
  | { readonly kind: "refuse"; readonly resource: null; readonly reason: "no_matching_resource"; readonly match: NoMatch; readonly jobs: ReadonlyArray<string>; readonly jobsTotal: number }
  | { readonly kind: "refuse"; readonly resource: null; readonly reason: "auto_mode_off"; readonly jobs: ReadonlyArray<string>; readonly jobsTotal: number }


/**
 * What an operator asked for through the REST API (actions.ts), once it was
 * carried out: taken between steps, outside the rules, and reported through
 * `onDecisions` like the rules' decisions. `by: "operator"` tells them apart.
 */
export type OperatorDecision =
  /** A node held, unheld, vacated (its jobs killed) or deleted (removed from the batch system, its instance destroyed). */
  | {
      readonly kind: "hold" | "unhold" | "vacate" | "delete"
      readonly host: string
      readonly resource: string
      readonly reason: OperatorReason
      readonly by: "operator"
    }
  /** `count` nodes started in a resource. */
  | { readonly kind: "launch"; readonly resource: string; readonly count: number; readonly reason: OperatorReason; readonly by: "operator" }
  /** A resource frozen at its current size `count` (min = max = count). */
  | { readonly kind: "freeze"; readonly resource: string; readonly count: number; readonly reason: OperatorReason; readonly by: "operator" }
  /** A resource's configured limits back (min, max). */
  | { readonly kind: "restore"; readonly resource: string; readonly min: number; readonly max: number; readonly reason: OperatorReason; readonly by: "operator" }
  /** A resource drained (min = max = 0): `hosts` are the nodes it held, removed or gave up at once (the rules take the rest as their tasks end). */
  | { readonly kind: "drain"; readonly resource: string; readonly hosts: ReadonlyArray<string>; readonly reason: OperatorReason; readonly by: "operator" }

/** The decisions of the rules (rules/*.ts), which the actuator applies. */
export type EngineDecision = NodeDecision | ResourceDecision | JobDecision

export type Decision = EngineDecision | OperatorDecision

/** What one full step decided (skipped steps decide nothing), or one operator action. */
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
    : d.reason === "spot_interruption"
      ? spotWhy(d.code)
      : d.reason === "over_max"
        ? `${d.resource} has ${d.live} node(s), above its max ${d.max}`
        : `idle for ${Math.round(d.idleFor)}s (${d.limitBy === "max_idle_time" ? `max_idle_time ${d.limit}s` : `${d.limitBy.policy} idle limit ${Math.round(d.limit)}s`})`

/** A spot interruption, in the words of the log. */
export const spotWhy = (code: string): string => `spot interruption (${code}): the cloud is taking its instance back`

/** Why a Starting node is given up, in the words of the log. */
export const retireWhy = (d: Extract<NodeDecision, { kind: "retire" }>): string =>
  d.reason === "instance_error"
    ? d.fault === undefined
      ? "its instance is in Error"
      : `its instance is in Error (${d.fault.class}: ${d.fault.message})`
    : d.reason === "spot_interruption"
      ? spotWhy(d.code)
      : `still starting after ${Math.round(d.after)}s (max_launch_time ${d.limit}s)`

/** Why a node is removed from the batch system, in the words of the log. */
export const removeWhy = (d: Extract<NodeDecision, { kind: "remove" }>): string =>
  d.reason === "error_timeout"
    ? `in Error for ${Math.round(d.after)}s (max_down_time ${d.limit}s)`
    : d.reason === "draining"
      ? `resource ${d.resource} is draining`
      : d.reason === "spot_interruption"
        ? `held with no jobs; ${spotWhy(d.code)}`
        : "held with no jobs"

/** The words of the log for a forgotten node. */
export const forgetWhy = (reason: ForgetReason): string => (reason === "instance_gone" ? "its instance is gone" : "destroyed")

/** An engine time (seconds since the epoch) in a sentence: ISO 8601, UTC, whole seconds. */
const when = (t: number): string => (Number.isFinite(t) ? new Date(Math.round(t) * 1000).toISOString().replace(".000Z", "Z") : String(t))

const refuseWhy = (d: Extract<ResourceDecision, { kind: "refuse" }>): string => {
  switch (d.reason) {
    case "at_max":
      return `${d.resource} is at its max ${d.max}`
    case "frozen":
      return `${d.resource} is frozen by the operator (at ${d.max} node(s))`
    case "draining":
      return `${d.resource} is draining`
    case "backoff":
      return `${d.resource} is backing off until ${when(d.until)} after ${d.failures} failed boot(s)`
    case "boot_in_flight":
      return `${d.resource} has boots in flight`
    case "invalid_config":
      return `${d.resource} stopped booting: the cloud refused a boot as invalid; fix the configuration (or the cloud) and reload`
  }
}

/** "job 7", "jobs 7, 8", "jobs 7, 8, 9 and 17 more" (of `total`). */
const jobsPhrase = (jobs: ReadonlyArray<string>, total: number): string => {
  const shown = jobs.slice(0, 3)
  const more = total - shown.length
  return `${total === 1 ? "job" : "jobs"} ${shown.join(", ")}${more > 0 ? ` and ${more} more` : ""}`
}

const noMatchWhy = (m: NoMatch, one: boolean): string => {
  switch (m.why) {
    case "reservation": {
      const what = [m.queue !== null ? `queue ${m.queue}` : "", m.account !== null ? `account ${m.account}` : "", m.property !== null ? `property ${m.property}` : ""].filter((x) => x !== "")
      return `${one ? "is" : "are"} admitted by no resource's reservation${what.length > 0 ? ` (${what.join(", ")})` : ""}`
    }
    case "cores_per_node":
      return `${one ? "needs" : "need"} ${m.needs} cores per node and no resource offers that (at most ${m.offered})`
    case "size":
      return `${one ? "needs" : "need"} ${m.cores} cores on ${m.nodes} node(s) and no resource may have that many (largest max ${m.largest})`
  }
}

const refuseText = (d: Extract<Decision, { kind: "refuse" }>): string => {
  if (d.resource === null) {
    const jobs = jobsPhrase(d.jobs, d.jobsTotal)
    return d.reason === "no_matching_resource"
      ? `${jobs} ${noMatchWhy(d.match, d.jobsTotal === 1)}`
      : `auto mode is off: ${jobs} could get new nodes and none is started`
  }
  const wanted = d.jobs !== undefined && d.jobsTotal !== undefined ? `for queued ${jobsPhrase(d.jobs, d.jobsTotal)}` : `wanted by ${d.by === "min" ? "the min rule" : "the policy"}`
  return `not starting ${d.count} node(s) in ${d.resource} ${wanted}: ${refuseWhy(d)}`
}

/**
 * One sentence for any decision (GET /server/decisions), in the words of the
 * log line it writes (holdWhy, removeWhy, retireWhy, forgetWhy, provisionLine).
 */
export const decisionText = (d: Decision): string => {
  if ("by" in d && d.by === "operator") return operatorText(d)
  switch (d.kind) {
    case "refresh":
      return `asking the cloud for the state of ${d.host}: ${d.reason === "not_listed" ? "its instance was not in the last listing of its resource" : "its poll is due"}`
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
      return refuseText(d)
  }
}

/** One sentence for an operator decision, in the words of the log line of the action. */
const operatorText = (d: OperatorDecision): string => {
  switch (d.kind) {
    case "hold":
      return `operator held ${d.host}`
    case "unhold":
      return `operator unheld ${d.host}`
    case "vacate":
      return `operator vacated ${d.host}`
    case "delete":
      return `${d.host} → Deleting: operator deleted it`
    case "launch":
      return `operator launches ${d.count} node(s) in ${d.resource}`
    case "freeze":
      return `operator froze ${d.resource} at ${d.count} node(s)`
    case "restore":
      return `operator restored ${d.resource} (min ${d.min}, max ${d.max})`
    case "drain":
      return `operator drains ${d.resource}${d.hosts.length > 0 ? `: ${d.hosts.join(", ")} held, removed or given up` : ""}`
  }
}
