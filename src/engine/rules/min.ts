/**
 * The min rule: in auto mode, a recovered resource that is not draining
 * keeps at least `min` live (not Deleting) nodes. Nodes Starting count as
 * live; boots in flight make it wait (they will count once answered). It
 * never boots above `max`, nor while the resource backs off after failed
 * boots, nor after the cloud refused a boot as invalid (until a reload):
 * those refusals are decisions too (`refuse`, no log line).
 *
 * Improve (SPEC §3 says "no node of it Starting"): nodes Starting count in
 * `live`, so waiting for them only delays the rest. With a Deleting node
 * still holding a slot at max, classic booted one node, waited for it to
 * join, then booted the next: min was reached after two boot times, past
 * max_launch_time (soak, invariant 5; scenarios/regressions/min-waits-for-starting.yaml).
 */
import type { JobDecision, ResourceDecision } from "../decisions.ts"
import type { EngineState } from "../state.ts"
import { fullReason, refusal } from "./refuse.ts"

export const minRule = (st: EngineState, now: number, out: Array<ResourceDecision | JobDecision>): void => {
  if (!st.autoMode) return
  for (const r of st.resources.values()) {
    if (!r.recovered || r.mode === "draining") continue
    if (r.backoffUntil > now || r.invalid !== null) {
      const c = st.countsOf(r.name)
      const missing = r.min - (c.total - c.deleting)
      if (missing > 0) out.push(refusal(r, missing, "min", r.invalid !== null ? "invalid_config" : "backoff"))
      continue
    }
    if (r.inflight > 0) continue
    const mine = st.countsOf(r.name)
    const live = mine.total - mine.deleting
    const missing = r.min - live
    const n = Math.min(missing, r.max - mine.total - r.inflight)
    if (n > 0) out.push({ kind: "provision", resource: r.name, count: n, reason: "below_min", live, min: r.min })
    if (missing > 0 && n < missing) out.push(refusal(r, missing - Math.max(n, 0), "min", fullReason(r)))
  }
}
