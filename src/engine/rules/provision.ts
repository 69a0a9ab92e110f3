/**
 * The provisioning pass: the policy (policy.ts, policies/) proposes how many
 * nodes to boot where for the queued jobs; the engine never boots above a
 * resource's `max`, whatever the policy proposes (SPEC §6.1), and says so
 * (`refuse`: at_max, or frozen at its size).
 *
 * When a pass is due: at most every `auto_provision_interval`, in auto mode,
 * on a fresh cluster view. A `reactive` policy's pass that started no node
 * does not count, so it looks again at the next cluster view (and only then:
 * the same view gives the same decision).
 */
import type { AllocResource } from "../../model/allocator.ts"
import type { Billing } from "../../model/billing.ts"
import type { ConfigFile } from "../../model/config.ts"
import { JOBS_NAMED, type JobDecision, type ResourceDecision } from "../decisions.ts"
import type { EngineState } from "../state.ts"
import { allocResources } from "./queue.ts"
import { fullReason, refusal } from "./refuse.ts"
import { runSteps, type Steps } from "../steps.ts"

/** The interval since the last counted pass has passed (and a pass may run at all). */
export const intervalPassed = (st: EngineState, now: number): boolean =>
  st.autoMode && st.viewFresh && now - st.lastProvision >= st.settings.autoProvisionInterval

/** A provisioning pass is due at `now`. */
export const provisionDue = (st: EngineState, now: number): boolean => intervalPassed(st, now) && (!st.reactive || st.viewSinceProvision)

/** When the next pass can be due (wake.ts); Infinity while none can run before the next cluster poll. */
export const provisionAt = (st: EngineState): number =>
  // Provisioning needs a fresh view; without one the next poll is the next chance.
  // A reactive policy that has seen the current view decides again only after
  // the next poll (its lastProvision stays where its last boot was: waking for
  // it would wake at once, again and again).
  !st.autoMode || !st.viewFresh || (st.reactive && !st.viewSinceProvision) ? Infinity : st.lastProvision + st.settings.autoProvisionInterval

/** The billing models and `wait_value` of the configuration in effect, for the policy (absent keys stay absent). */
const policyMoney = (c: ConfigFile): { billing?: ReadonlyMap<string, Billing>; waitValue?: number } => {
  const billing = new Map<string, Billing>()
  for (const [name, rc] of Object.entries(c.cloud)) if (rc.billing !== undefined) billing.set(name, rc.billing)
  const w = c["dynamic-cluster"].wait_value
  return { ...(billing.size > 0 ? { billing } : {}), ...(w !== undefined ? { waitValue: w } : {}) }
}

/**
 * One pass, first half: asks the policy and turns its proposal into
 * decisions; returns the resources that refused some of it. The second half
 * explains the queued jobs it left without a node (queue.ts explainQueue,
 * engine.ts runs it next, after a pause when it has one). The pass's own
 * bookkeeping (when it ran, what the policy said) is kept here.
 */
export const provisionProposals = (st: EngineState, now: number, out: Array<ResourceDecision | JobDecision>): ReadonlySet<string> =>
  runSteps(provisionProposalsSteps(st, now, out, false))

/**
 * provisionProposals in slices (steps.ts): with `sliced`, the policy's
 * decision is made by its `decideSteps` when it has one (the daemon's engine
 * lets its event loop in between the slices), else by `decide`, in one piece.
 */
export function* provisionProposalsSteps(st: EngineState, now: number, out: Array<ResourceDecision | JobDecision>, sliced = true): Steps<ReadonlySet<string>> {
  if (!st.reactive) st.lastProvision = now
  st.viewSinceProvision = false
  const inflight = new Map<string, number>()
  for (const r of st.resources.values()) inflight.set(r.name, r.inflight)
  const resources = allocResources(st, now)
  const queue = st.eligibleQueue()
  const input = {
    now,
    jobs: st.queued,
    eligible: queue.jobs,
    queue,
    resources,
    nodes: [...st.physical, ...st.nodes.values()],
    inflight,
    prices: st.prices,
    ...policyMoney(st.config)
  }
  const decision = sliced && st.policy.decideSteps !== undefined ? yield* st.policy.decideSteps(input) : st.policy.decide(input)
  st.lastDecision = decision
  const refused = new Set<string>()
  for (const [name, count] of decision.provision) {
    const r = st.resources.get(name)
    if (r === undefined || count <= 0) continue
    const room = r.max - st.countsOf(name).total - r.inflight
    const k = Math.min(count, room)
    if (k > 0) {
      const jobs = decision.jobsFor.get(name)
      out.push({ kind: "provision", resource: name, count: k, reason: "queued_jobs", jobs: jobs?.slice(0, JOBS_NAMED), jobsTotal: jobs?.length ?? 0 })
      st.lastProvision = now
    }
    if (k < count) {
      out.push(refusal(r, count - Math.max(k, 0), "policy", fullReason(r)))
      refused.add(name)
    }
  }
  // (a pass that boots logs it: `effects` moves and the next pass gets another input; explainQueue, next, changes nothing)
  st.lastPass = { effects: st.effects, views: st.views, resources }
  return refused
}
