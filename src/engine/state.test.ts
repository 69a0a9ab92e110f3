/**
 * The node counts per resource and state (EngineState.countsOf) are kept up
 * to date as nodes come, go and change state, instead of being recounted
 * after every change: after any sequence of those they equal a recount.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { NodeState, type Instance } from "../model/types.ts"
import { NodeTable, type NodeRec } from "./state.ts"

const node = (uuid: string, res: string, state: NodeState): NodeRec => ({
  hostname: uuid,
  type: res,
  state,
  jobs: null,
  num_proc: 8,
  time_in_current_state: 0,
  state_start_time: 0,
  extra_attributes: null,
  instance: { uuid, cloud_resource: res } as unknown as Instance
})

const states = [NodeState.Starting, NodeState.Idle, NodeState.Busy, NodeState.Deleting, NodeState.Error, NodeState.Held, NodeState.Holding]

type Op =
  | { readonly kind: "set"; readonly uuid: number; readonly res: number; readonly state: number }
  | { readonly kind: "delete"; readonly uuid: number }
  | { readonly kind: "state"; readonly uuid: number; readonly state: number }
  | { readonly kind: "detached"; readonly state: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), uuid: fc.nat(9), res: fc.nat(2), state: fc.nat(states.length - 1) }),
  fc.record({ kind: fc.constant("delete" as const), uuid: fc.nat(9) }),
  fc.record({ kind: fc.constant("state" as const), uuid: fc.nat(9), state: fc.nat(states.length - 1) }),
  fc.record({ kind: fc.constant("detached" as const), state: fc.nat(states.length - 1) })
)

/** What EngineState.setState does to a node's state. */
const setState = (t: NodeTable, n: NodeRec, s: NodeState) => {
  if (n.state === s) return
  n.state = s
  t.stateChanged(n)
}

describe("NodeTable counts", () => {
  it("equal a recount after any sequence of adds, replacements, removals and state changes", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const t = new NodeTable()
        // a node removed from the table keeps changing state (a task's result may still hold it): it no longer counts
        const removed: Array<NodeRec> = []
        for (const o of ops) {
          if (o.kind === "set") t.set(`u${o.uuid}`, node(`u${o.uuid}`, `r${o.res}`, states[o.state]))
          else if (o.kind === "delete") {
            const n = t.get(`u${o.uuid}`)
            if (n !== undefined) removed.push(n)
            t.delete(`u${o.uuid}`)
          } else if (o.kind === "state") {
            const n = t.get(`u${o.uuid}`)
            if (n !== undefined) setState(t, n, states[o.state])
          } else if (removed.length > 0) setState(t, removed[removed.length - 1], states[o.state])
          expect(new Map([...t.counts].map(([k, v]) => [k, { ...v }]))).toEqual(t.recount())
        }
      })
    )
  })

  it("counts the example by hand", () => {
    const t = new NodeTable()
    t.set("a", node("a", "r", NodeState.Starting))
    t.set("b", node("b", "r", NodeState.Idle))
    t.set("c", node("c", "s", NodeState.Deleting))
    setState(t, t.get("a")!, NodeState.Busy)
    expect(t.counts.get("r")).toEqual({ total: 2, starting: 0, deleting: 0, usable: 2 })
    t.delete("c")
    expect(t.counts.has("s")).toBe(false)
    t.set("b", node("b", "r", NodeState.Error))
    expect(t.counts.get("r")).toEqual({ total: 2, starting: 0, deleting: 0, usable: 1 })
  })
})
