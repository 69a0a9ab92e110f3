/**
 * Provisioning policies: given the queue and the resources, how many new
 * nodes to start where. `classic` is SPEC §4 unchanged; `demand` and `lean`
 * are in ./policies. This module is the registry of the supported policies;
 * experiments (variants, test policies) are in src/experiments.
 */
import { Data } from "effect"
import { classicAllocate, type AllocResource, type EligibleQueue } from "../model/allocator.ts"
import type { Billing } from "../model/billing.ts"
import type { ConfigFile } from "../model/config.ts"
import { JobState, NodeState, type Job, type WorkerNode } from "../model/types.ts"
import { demandPolicy } from "./policies/demand.ts"
import { leanPolicy } from "./policies/lean.ts"
import type { Steps } from "./steps.ts"

export interface PolicyInput {
  readonly now: number
  /** Queued jobs from the last cluster view (any order). */
  readonly jobs: ReadonlyArray<Job>
  /**
   * Optional: `eligibleJobs(jobs)` (queued, with a priority, highest first),
   * when the caller has it already (the engine computes it once per view).
   */
  readonly eligible?: ReadonlyArray<Job>
  /**
   * Optional: `eligibleQueue(jobs)`, the eligible jobs with their shapes
   * (its `jobs` is `eligible`), when the caller has it (the engine, once per view).
   */
  readonly queue?: EligibleQueue
  /** Resources that may be provisioned now (recovered, not backing off), effective limits. */
  readonly resources: ReadonlyArray<AllocResource>
  /** Every node the engine knows (cloud and physical). */
  readonly nodes: ReadonlyArray<WorkerNode>
  /** Boots asked for and not answered yet, per resource. */
  readonly inflight: ReadonlyMap<string, number>
  /** Price per node-hour of the resources that configure one (`cloud.R.price`); optional for callers that have none. */
  readonly prices?: ReadonlyMap<string, number>
  /** `cloud.R.billing` of the resources that configure one. */
  readonly billing?: ReadonlyMap<string, Billing>
  /** `dynamic-cluster.wait_value`: money per core-hour of waiting (unset: the policy's own default behaviour). */
  readonly waitValue?: number
}

/** What the engine tells `Policy.idleLimit` besides the node. */
export interface IdleContext {
  readonly now: number
  /** The configured `max_idle_time` (the engine's rule when a policy has no `idleLimit`). */
  readonly maxIdleTime: number
}

export interface PolicyDecision {
  /** New nodes to start per resource (only positive counts). */
  readonly provision: ReadonlyMap<string, number>
  /** Which jobs each resource's new nodes are for. */
  readonly jobsFor: ReadonlyMap<string, ReadonlyArray<string>>
  readonly reasons: ReadonlyArray<string>
}

export interface Policy {
  readonly name: string
  readonly description: string
  readonly decide: (input: PolicyInput) => PolicyDecision
  /**
   * Optional: decide() in slices (steps.ts), for a policy whose decision
   * walks the whole queue. Run to its end it returns what decide() returns
   * and leaves the policy as decide() does. The daemon's engine drives it,
   * letting its event loop in between slices; everything else calls decide().
   * A wrapper that replaces decide() must drop (or wrap) this too.
   */
  readonly decideSteps?: (input: PolicyInput) => Steps<PolicyDecision>
  /**
   * Optional. A policy with memory returns a fresh copy of itself here; the
   * engine calls it once when it starts, so runs (and restarts) never share
   * what a policy learned. Stateless policies (classic) leave it out.
   */
  readonly instantiate?: () => Policy
  /**
   * Optional. Seconds this Idle cloud node may stay idle before the engine
   * retires it (the engine still keeps `min` and acts only in auto mode on a
   * fresh view). Without it the engine uses `max_idle_time` (classic).
   */
  readonly idleLimit?: (node: WorkerNode, ctx: IdleContext) => number
  /**
   * Optional. true: `auto_provision_interval` spaces the decisions that start
   * nodes; a decision that starts none does not count, and the engine asks
   * again at the next cluster view. Without it every decision counts (classic).
   */
  readonly reactive?: boolean
  /**
   * Optional, for a policy with memory. Asked only when decide() would get
   * the input of its last call again but for a later `now` (the same queue,
   * nodes, boots in flight and resources: nothing happened since but the
   * clock): true when decide() would then return the same decision and
   * change nothing the policy remembers, so the call may be left out. The
   * simulator's fast path skips such passes (src/engine/wake.ts); without
   * it, every pass of a policy with memory runs.
   */
  readonly quietAt?: (now: number) => boolean
}

const nothing = (reason: string): PolicyDecision => ({ provision: new Map(), jobsFor: new Map(), reasons: [reason] })

export const classicPolicy: Policy = {
  name: "classic",
  description: "SPEC §4: one wave at a time; jobs matched to new nodes only, highest priority first",
  decide: (input) => {
    const starting = input.nodes.some((n) => n.state === NodeState.Starting) || [...input.inflight.values()].some((v) => v > 0)
    if (starting) return nothing("a node is starting: classic provisions one wave at a time")
    const eligible = input.eligible ?? input.jobs.filter((j) => j.state === JobState.Queued && j.priority !== null)
    if (eligible.length === 0) return nothing("no eligible queued job")
    const proposals = classicAllocate(eligible, input.resources, input.queue?.jobs === eligible ? input.queue : undefined)
    const provision = new Map<string, number>()
    const jobsFor = new Map<string, ReadonlyArray<string>>()
    const reasons: Array<string> = []
    for (const p of proposals) {
      if (p.nodes.length === 0) continue
      provision.set(p.resource, p.nodes.length)
      const jobs = p.nodes.flatMap((n) => n.jobs)
      jobsFor.set(p.resource, [...new Set(jobs)])
      reasons.push(`${p.resource}: start ${p.nodes.length} node(s) for job(s) ${[...new Set(jobs)].slice(0, 10).join(", ")}${jobs.length > 10 ? ", ..." : ""}`)
    }
    if (reasons.length === 0) reasons.push("no queued job fits any resource")
    return { provision, jobsFor, reasons }
  }
}

// ---------------------------------------------------------------- the supported policies

/**
 * The policies the daemon runs: what `dynamic-cluster.policy` may name in a
 * configuration (`check-config` and `run` refuse anything else). Variants
 * and other experiments live in src/experiments and run only in simulations
 * (`simulate`, `soak`, `plan`, `run --sim`), benchmarks and tests.
 */
const supported: ReadonlyMap<string, Policy> = new Map([
  [classicPolicy.name, classicPolicy],
  [demandPolicy.name, demandPolicy],
  [leanPolicy.name, leanPolicy]
])

/** The names of the supported policies: classic, demand, lean. */
export const policyNames = (): ReadonlyArray<string> => [...supported.keys()]
/** A supported policy by name (undefined for anything else, variants included). */
export const supportedPolicy = (name: string): Policy | undefined => supported.get(name)
/** The one wording for a policy name that is not known: `unknown policy "x" (known: classic, demand, lean)`. */
export const unknownPolicy = (name: string): string => `unknown policy ${JSON.stringify(name)} (known: ${policyNames().join(", ")})`

/** A policy name that resolves to no policy (a simulation naming neither a supported policy nor an experiment). */
export class UnknownPolicyError extends Data.TaggedError("UnknownPolicyError")<{ readonly policy: string; readonly message: string }> {
  constructor(policy: string, message: string = unknownPolicy(policy)) {
    super({ policy, message })
  }
}

/**
 * What is wrong with `dynamic-cluster.policy` (or `run --policy`, `at`) for
 * the daemon, or null when it names a supported policy.
 */
export const unsupportedPolicy = (name: string, at = "dynamic-cluster.policy"): string | null =>
  supported.has(name)
    ? null
    : `${at}: ${JSON.stringify(name)} is not a supported policy (supported: ${policyNames().join(", ")}); ` +
      `variants such as demand-no-pool and other experiments run only in simulations (simulate, soak, plan, run --sim: docs/policies.md)`

/** The supported policy a (decoded) configuration names; fails with UnknownPolicyError for anything else. */
export const configuredPolicy = (config: ConfigFile): Policy => {
  const name = config["dynamic-cluster"].policy
  const p = supported.get(name)
  if (p === undefined) throw new UnknownPolicyError(name, unsupportedPolicy(name) ?? unknownPolicy(name))
  return p
}
