/**
 * The rules of a step, by what they look at. Per node (in the order of the
 * node map, each seeing the bookkeeping of the decisions before it):
 *
 * | node state | rule | file |
 * |---|---|---|
 * | Starting | forget / retire (instance Error, spot interruption, max_launch_time) / refresh / check | starting.ts |
 * | Idle | hold on a spot interruption; check when Active, refresh a Ready spot instance; hold when idle past its limit or draining | idle.ts, spot.ts |
 * | Busy | hold on a spot interruption; check when Active, refresh a Ready spot instance; hold when draining | busy.ts, spot.ts |
 * | Holding | wait for the view to say Held; refresh a Ready spot instance, hold again for an interruption not yet recorded | held.ts, spot.ts |
 * | Held | remove (and destroy) when empty (a spot interruption: whatever min says); refresh a Ready spot instance | held.ts, spot.ts |
 * | Error | cleanup when the instance is gone; remove after max_down_time; refresh | error.ts |
 * | Deleting | destroy (again); refresh; forget / cleanup when gone | deleting.ts |
 *
 * Before the per-state rule, reconciliation's (reconcile.ts): an Idle, Busy,
 * Holding or Held node whose instance the last listing did not have is
 * refreshed; when the cloud says it is gone or going, the node is cleaned up.
 *
 * Per resource: the max rule (max.ts: idle nodes above max are held), the
 * min rule (min.ts), then the provisioning pass when due
 * (provision.ts), then the explanation of the jobs it left waiting (queue.ts;
 * with auto mode off that runs alone, at the same pace). The cloud poll shared by several states: poll.ts.
 */
import { InstanceState, NodeState } from "../../model/types.ts"
import { instanceLost } from "../reconcile.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { busyRule } from "./busy.ts"
import { deletingRule } from "./deleting.ts"
import { errorRule } from "./error.ts"
import { heldRule, holdingRule } from "./held.ts"
import { idleRule } from "./idle.ts"
import { startingRule } from "./starting.ts"

export { maxRule } from "./max.ts"
export { minRule } from "./min.ts"
export { provisionDue, provisionProposals, provisionProposalsSteps } from "./provision.ts"
export { explainDue, explainQueue, explainQueueSteps } from "./queue.ts"

/** The rule for one (untasked) node; null when there is nothing to do (the common case, kept cheap). */
export const nodeRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  // reconciliation (reconcile.ts): an instance not in the last listing, or found gone
  if (st.unlisted.size > 0 && st.unlisted.has(n.instance.uuid!))
    return { kind: "refresh", host: n.hostname, resource: n.instance.cloud_resource, reason: "not_listed" }
  if (n.instance.state === InstanceState.Inexistent || n.instance.state === InstanceState.Deleting) {
    if (instanceLost(n)) return { kind: "cleanup", host: n.hostname, resource: n.instance.cloud_resource, reason: "instance_gone", vacate: true }
  }
  switch (n.state) {
    case NodeState.Starting:
      return startingRule(st, n, now)
    case NodeState.Idle:
      return idleRule(st, n, now)
    case NodeState.Busy:
      return busyRule(st, n, now)
    case NodeState.Holding:
      return holdingRule(st, n, now)
    case NodeState.Held:
      return heldRule(st, n, now)
    case NodeState.Error:
      return errorRule(st, n, now)
    case NodeState.Deleting:
      return deletingRule(st, n, now)
    default:
      return null
  }
}
