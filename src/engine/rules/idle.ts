/**
 * The idle rule: when an Idle cloud node is retired (held, then removed by
 * the held rule and destroyed). In auto mode, on a fresh cluster view, while
 * the resource keeps more usable (Idle + Busy) nodes than its `min`, a node
 * idle for longer than its limit is held; the limit is the policy's
 * `idleLimit` (lean's break-even) or `max_idle_time`. A draining resource's
 * Idle nodes are held at once.
 *
 * `idleHold` is both the rule of the full step and the simulator's fast-path
 * check (wake.ts, `canSkip`): one piece of code, called in the same order
 * (a policy's idleLimit may keep memory per call).
 */
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"
import { activePoll } from "./poll.ts"
import { spotHold } from "./spot.ts"

/** How long an Idle node may stay idle: the policy's break-even rule if it has one, else max_idle_time. */
export const idleLimitOf = (st: EngineState, n: NodeRec, now: number): number =>
  st.policy.idleLimit?.(n, { now, maxIdleTime: st.settings.maxIdleTime }) ?? st.settings.maxIdleTime

/** Whether (and why) an Idle node is held now; null when it stays. */
export const idleHold = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => {
  const resource = n.instance.cloud_resource
  const r = st.resources.get(resource)
  if (r === undefined) return null
  if (r.mode === "draining") return { kind: "hold", host: n.hostname, resource, reason: "draining" }
  if (!st.autoMode || !st.viewFresh || st.usable(r.name) <= r.min) return null
  const limit = idleLimitOf(st, n, now)
  const idleFor = now - n.state_start_time
  if (!(idleFor > limit)) return null
  return {
    kind: "hold",
    host: n.hostname,
    resource,
    reason: "idle",
    idleFor,
    limit,
    limitBy: st.policy.idleLimit ? { policy: st.policy.name } : "max_idle_time"
  }
}

/** The simulator's fast path: whether the full pass would hold this Idle node now. */
export const idleRuleFires = (st: EngineState, n: NodeRec, now: number): boolean => idleHold(st, n, now) !== null

/** The whole rule for an Idle node: the hold of a spot interruption, its instance poll when due, else the idle hold. */
export const idleRule = (st: EngineState, n: NodeRec, now: number): NodeDecision | null => spotHold(n) ?? activePoll(st, n, now) ?? idleHold(st, n, now)
