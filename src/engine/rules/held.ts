/**
 * A Held node (held by the idle rule, a drain or an operator) without jobs is
 * removed from the batch system and destroyed, on a fresh view, in auto mode
 * or when its resource drains, unless that would leave the resource below its
 * `min` usable nodes (counting this one back: an operator's hold must not
 * break min); one whose spot instance is being taken back is removed at once
 * (spot.ts). A Holding node waits for its hold to be confirmed by the view.
 */
import { hasJobs } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { spotRemove } from "./spot.ts"

export const heldRule = (st: EngineState, n: NodeRec): NodeDecision | null => {
  if (n.instance.spot_id !== null) {
    const d = spotRemove(st, n)
    if (d !== null) return d
  }
  const resource = n.instance.cloud_resource
  const r = st.resources.get(resource)
  if (!st.viewFresh || hasJobs(n) || r === undefined) return null
  const draining = r.mode === "draining"
  if ((st.autoMode || draining) && st.usable(r.name) + 1 > r.min)
    return { kind: "remove", host: n.hostname, resource, reason: draining ? "draining" : "held_empty" }
  return null
}
