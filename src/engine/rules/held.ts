/**
 * A Held node (held by the idle rule, a drain or an operator) without jobs is
 * removed from the batch system and destroyed, on a fresh view, in auto mode
 * or when its resource drains, unless that would leave the resource below its
 * `min` usable nodes (counting this one back: an operator's hold must not
 * break min); one whose spot instance is being taken back is removed at once
 * (spot.ts). A Holding node waits for its hold to be confirmed by the view
 * (its jobs to end). The spot instance of either is polled, so that an
 * interruption notice is recorded (spot.ts).
 */
import { hasJobs } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { spotPoll } from "./poll.ts"
import { spotRecord, spotRemove } from "./spot.ts"

export const heldRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  if (n.instance.spot_id !== null) {
    const d = spotRemove(st, n) ?? spotRecord(st, n)
    if (d !== null) return d
  }
  return heldRemove(st, n) ?? (n.instance.spot_id !== null ? spotPoll(st, n, now) : null)
}

/** Remove an empty Held node (idle hold, drain, operator's hold) when min allows. */
const heldRemove = (st: EngineState, n: NodeRec): NodeDecision | null => {
  const resource = n.instance.cloud_resource
  const r = st.resources.get(resource)
  if (!st.viewFresh || hasJobs(n) || r === undefined) return null
  const draining = r.mode === "draining"
  if ((st.autoMode || draining) && st.usable(r.name) + 1 > r.min)
    return { kind: "remove", host: n.hostname, resource, reason: draining ? "draining" : "held_empty" }
  return null
}

/** A Holding node: only its spot instance's poll, and the record of its interruption. */
export const holdingRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null =>
  n.instance.spot_id === null ? null : (spotRecord(st, n) ?? spotPoll(st, n, now))
