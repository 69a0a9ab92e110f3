/**
 * The cloud poll of a node's instance: every `cloud_poller_interval` the
 * engine refreshes a Starting, Error or Deleting node's instance from the
 * cloud, and an Idle, Busy, Holding or Held node's spot instance (to see an
 * interruption notice: spot.ts), and runs the configuration checker on an Active node. The per-state
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
      return n.instance.state === InstanceState.Active || watchesSpot(n)
    case NodeState.Holding:
    case NodeState.Held:
      return watchesSpot(n)
    default:
      return false
  }
}

/** When the node's next cloud poll comes due (if `wantsCloudPoll`). */
export const cloudPollAt = (st: EngineState, n: NodeRec): number => n.instance.last_update_time + st.settings.cloudPollerInterval

export const refresh = (n: NodeRec): NodeDecision => ({ kind: "refresh", host: n.hostname, resource: n.instance.cloud_resource, reason: "poll_due" })
export const check = (n: NodeRec): NodeDecision => ({ kind: "check", host: n.hostname, resource: n.instance.cloud_resource, reason: "poll_due" })

/**
 * A Ready spot instance of an Idle, Busy, Holding or Held node: refreshed
 * every cloud poll, so that the cloud's interruption notice is seen while the
 * node can still be taken out of scheduling, and is recorded when something
 * else (an operator, the idle rule) held it first. (An on-demand instance of
 * such a node is not polled: the batch system's view says when it is gone.)
 */
const watchesSpot = (n: NodeRec): boolean => n.instance.spot_id !== null && n.instance.state === InstanceState.Ready

/**
 * The cloud poll of an Idle or Busy node when due: the check of an Active
 * instance (not yet confirmed Ready by the checker), the refresh of a Ready
 * spot instance.
 */
export const activePoll = (st: EngineState, n: NodeRec, now: number): NodeDecision | null =>
  n.instance.state === InstanceState.Active ? (st.due(n.instance, now) ? check(n) : null) : watchesSpot(n) && st.due(n.instance, now) ? refresh(n) : null

/** The cloud poll of a Holding or Held node when due: the refresh of a Ready spot instance. */
export const spotPoll = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => (watchesSpot(n) && st.due(n.instance, now) ? refresh(n) : null)
