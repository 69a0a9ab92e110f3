/**
 * A Held node (held by the idle rule, a drain or an operator) without jobs is
 * removed from the batch system and destroyed, on a fresh view, in auto mode
 * or when its resource drains, unless that would leave the resource below its
 * `min` usable nodes (counting this one back: an operator's hold must not
 * break min). A Holding node waits for its hold to be confirmed by the view.
 */
import { hasJobs } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"

export const heldRule = (st: EngineState, n: NodeRec): NodeDecision | null => {
  const resource = n.instance.cloud_resource
  const r = st.resources.get(resource)
  if (!st.viewFresh || hasJobs(n) || r === undefined) return null
  const draining = r.mode === "draining"
  if ((st.autoMode || draining) && st.usable(r.name) + 1 > r.min)
    return { kind: "remove", host: n.hostname, resource, reason: draining ? "draining" : "held_empty" }
  return null
}
