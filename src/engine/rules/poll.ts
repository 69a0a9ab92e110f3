/**
 * The cloud poll of a node's instance: every `cloud_poller_interval` the
 * engine refreshes a Starting, Error or Deleting node's instance from the
 * cloud, and runs the configuration checker on an Active node. The per-state
 * rules call `pollRefresh`/`pollCheck`; wake.ts asks `wantsCloudPoll` and
 * `cloudPollAt` when the next poll can come due.
 */
import { InstanceState, NodeState } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"

/** Nodes whose instance the per-node pass refreshes or checks when due. */
export const wantsCloudPoll = (n: NodeRec): boolean => {
  switch (n.state) {
    case NodeState.Starting:
    case NodeState.Error:
    case NodeState.Deleting:
      return true
    case NodeState.Idle:
    case NodeState.Busy:
      return n.instance.state === InstanceState.Active
    default:
      return false
  }
}

/** When the node's next cloud poll comes due (if `wantsCloudPoll`). */
export const cloudPollAt = (st: EngineState, n: NodeRec): number => n.instance.last_update_time + st.settings.cloudPollerInterval

export const refresh = (n: NodeRec): NodeDecision => ({ kind: "refresh", host: n.hostname, resource: n.instance.cloud_resource, reason: "poll_due" })
export const check = (n: NodeRec): NodeDecision => ({ kind: "check", host: n.hostname, resource: n.instance.cloud_resource, reason: "poll_due" })

/** An Idle or Busy node whose instance is Active (not yet confirmed Ready by the checker): check it when due. */
export const activeCheck = (st: EngineState, n: NodeRec, now: number): NodeDecision | null =>
  n.instance.state === InstanceState.Active && st.due(n.instance, now) ? check(n) : null
