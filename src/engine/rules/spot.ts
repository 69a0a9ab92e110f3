/**
 * Spot interruptions (spot.ts): a node whose spot instance the cloud is
 * taking back is taken out of scheduling at once — an Idle or Busy node is
 * held (no new job lands on it; running jobs run on until the instance goes),
 * a Starting one is given up, a Held one without jobs is removed whatever
 * `min` says; a node already Holding or Held for another reason (an
 * operator's hold, the idle rule) whose interruption is not yet recorded is
 * held again for it (the hold is idempotent; it records the interruption).
 * Once the instance is gone the node leaves like any node whose instance is
 * gone (error.ts: cleanup; reconciliation for nodes the batch system still
 * lists as up). The interruption is counted once per instance, at its first
 * hold, retire or remove for it (state.ts spotInterrupted;
 * dyncluster_spot_interruptions_total).
 */
import { hasJobs } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import { spotInterruption } from "../spot.ts"
import type { EngineState, NodeRec } from "../state.ts"

/** An Idle or Busy node: hold it when its spot instance is being taken back. */
export const spotHold = (n: NodeRec): NodeDecision | null => {
  const code = spotInterruption(n.instance)
  return code === null ? null : { kind: "hold", host: n.hostname, resource: n.instance.cloud_resource, reason: "spot_interruption", code }
}

/** A Starting node: give it up when its spot instance is being taken back. */
export const spotRetire = (n: NodeRec): NodeDecision | null => {
  const code = spotInterruption(n.instance)
  return code === null ? null : { kind: "retire", host: n.hostname, resource: n.instance.cloud_resource, reason: "spot_interruption", code }
}

/** A Held node without jobs (on a fresh view): remove it when its spot instance is being taken back. */
export const spotRemove = (st: EngineState, n: NodeRec): NodeDecision | null => {
  const code = spotInterruption(n.instance)
  if (code === null || !st.viewFresh || hasJobs(n)) return null
  return { kind: "remove", host: n.hostname, resource: n.instance.cloud_resource, reason: "spot_interruption", code }
}

/** A Holding node, or a Held one not removed for it (jobs still running): hold it again for an interruption not yet recorded. */
export const spotRecord = (st: EngineState, n: NodeRec): NodeDecision | null =>
  spotInterruption(n.instance) === null || st.spotRecorded(n.instance.uuid!) ? null : spotHold(n)
