/**
 * A Deleting node: its instance is destroyed (asked again when the last ask
 * failed, every cloud poll) and refreshed until the cloud no longer knows it;
 * then it is forgotten (and taken out of the batch system first if it is
 * still registered there, or it would come back as a "physical" node).
 */
import { InstanceState } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { refresh } from "./poll.ts"

export const deletingRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  const inst = n.instance
  const resource = inst.cloud_resource
  if (inst.state === InstanceState.Inexistent) {
    return st.lastViewHosts.has(n.hostname)
      ? { kind: "cleanup", host: n.hostname, resource, reason: "destroyed", vacate: false }
      : { kind: "forget", host: n.hostname, resource, reason: "destroyed" }
  }
  if (inst.state !== InstanceState.Deleting) {
    if (inst.last_task_result !== 1 || st.due(inst, now)) return { kind: "destroy", host: n.hostname, resource, reason: "destroy_pending" }
    return null
  }
  if (st.due(inst, now)) return refresh(n)
  return null
}
