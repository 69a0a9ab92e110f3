/**
 * A Busy node (running jobs) is never retired by the engine; only a spot
 * interruption or a draining resource holds it (no new jobs start there),
 * and its instance is polled (checked while Active; a spot one refreshed).
 */
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { activePoll } from "./poll.ts"
import { spotHold } from "./spot.ts"

export const busyRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  const c = spotHold(n) ?? activePoll(st, n, now)
  if (c !== null) return c
  const resource = n.instance.cloud_resource
  const r = st.resources.get(resource)
  return r !== undefined && r.mode === "draining" ? { kind: "hold", host: n.hostname, resource, reason: "draining" } : null
}
