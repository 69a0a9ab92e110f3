/**
 * A Starting node (booted, not yet in the batch system): forgotten when its
 * instance is gone, given up when its instance is in Error (a capacity or
 * quota fault is a failed boot: actuation.ts), its spot instance
 * is being taken back (spot.ts) or it has been starting longer than
 * `max_launch_time`; otherwise its instance is refreshed
 * until Active, then checked until the checker says ready (then it joins the
 * cluster: actuation.ts, joinTask).
 */
import { InstanceState } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { check, refresh } from "./poll.ts"
import { spotRetire } from "./spot.ts"

/** When the launch time-out fires (wake.ts). */
export const launchDeadline = (st: EngineState, n: NodeRec): number => n.state_start_time + st.settings.maxLaunchTime

/** Starting for longer than `max_launch_time`. */
export const launchTimedOut = (st: EngineState, n: NodeRec, now: number): boolean => now - n.state_start_time > st.settings.maxLaunchTime

export const startingRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  const inst = n.instance
  const resource = inst.cloud_resource
  if (inst.state === InstanceState.Inexistent) return { kind: "forget", host: n.hostname, resource, reason: "instance_gone" }
  if (inst.state === InstanceState.Error) return { kind: "retire", host: n.hostname, resource, reason: "instance_error", ...(inst.fault !== undefined ? { fault: inst.fault } : {}) }
  if (inst.spot_id !== null) {
    const d = spotRetire(n)
    if (d !== null) return d
  }
  if (launchTimedOut(st, n, now))
    return { kind: "retire", host: n.hostname, resource, reason: "launch_timeout", after: now - n.state_start_time, limit: st.settings.maxLaunchTime }
  if (!st.due(inst, now)) return null
  if (inst.state === InstanceState.Pending || inst.state === InstanceState.Starting || inst.state === InstanceState.Unknown) return refresh(n)
  if (inst.state === InstanceState.Active || inst.state === InstanceState.Ready) return check(n)
  return null
}
