/**
 * Above max (issue 20, finding 4): a resource that has more live (not
 * Deleting) nodes than its `max` — instances adopted at start-up or by
 * reconciliation, or a reload that lowered max — retires the surplus
 * gracefully: in auto mode, on a fresh view, its Idle nodes are held (the
 * longest idle first), never a Busy one; Holding and Held nodes already
 * count as leaving, and so do Error ones (a held node being removed is out
 * of the view for a moment; a broken one is max_down_time's). A warning says so once, until it is back at max.
 * Frozen and draining resources are left to the operator's mode.
 */
import { NodeState } from "../../model/types.ts"
import type { NodeDecision } from "../decisions.ts"
import type { EngineState, NodeRec } from "../state.ts"

export const maxRule = (st: EngineState, out: Array<NodeDecision>): void => {
  for (const r of st.resources.values()) {
    if (!r.recovered || r.mode !== "normal") continue
    const c = st.countsOf(r.name)
    const live = c.total - c.deleting
    if (live <= r.max) {
      r.overMaxWarned = false
      continue
    }
    if (!st.autoMode || !st.viewFresh) continue
    let leaving = 0
    const idle: Array<NodeRec> = []
    for (const n of st.nodesOf(r.name)) {
      if (n.state === NodeState.Holding || n.state === NodeState.Held || n.state === NodeState.Error) leaving++
      else if (n.state === NodeState.Idle && !n.instance.tasked) idle.push(n)
    }
    const surplus = live - r.max - leaving
    if (!r.overMaxWarned) {
      r.overMaxWarned = true
      st.log("warn", `${r.name} has ${live} node(s), above its max ${r.max}: retiring the surplus as nodes go idle (never a busy one)`, { resource: r.name })
    }
    if (surplus <= 0) continue
    idle.sort((a, b) => a.state_start_time - b.state_start_time)
    for (const n of idle.slice(0, surplus)) out.push({ kind: "hold", host: n.hostname, resource: r.name, reason: "over_max", live, max: r.max })
  }
}
