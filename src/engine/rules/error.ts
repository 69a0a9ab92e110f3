/**
 * A node in Error (gone from the batch system's view, or down there): when
 * its instance is gone it is cleaned up (jobs requeued, removed from the
 * batch system, forgotten); in auto mode, on a fresh view, after
 * `max_down_time` in Error it is removed and destroyed (with jobs still on
 * it, an administrator must act: actuation.ts); otherwise its instance is
 * refreshed every cloud poll.
 */
import { InstanceState } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { refresh } from "./poll.ts"

/** When the down-time rule can fire (wake.ts); Infinity outside auto mode. */
export const downDeadline = (st: EngineState, n: NodeRec): number => (st.autoMode ? n.state_start_time + st.settings.maxDownTime : Infinity)

/** In Error for longer than `max_down_time`, in auto mode (the rule also needs a fresh view). */
export const downTimedOut = (st: EngineState, n: NodeRec, now: number): boolean => st.autoMode && now - n.state_start_time > st.settings.maxDownTime

export const errorRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  const inst = n.instance
  const resource = inst.cloud_resource
  if (inst.state === InstanceState.Inexistent) return { kind: "cleanup", host: n.hostname, resource, reason: "instance_gone", vacate: true }
  if (st.viewFresh && downTimedOut(st, n, now))
    return { kind: "remove", host: n.hostname, resource, reason: "error_timeout", after: now - n.state_start_time, limit: st.settings.maxDownTime }
  if (st.due(inst, now)) return refresh(n)
  return null
}
