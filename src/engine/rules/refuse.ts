/**
 * A refusal of nodes in a resource, with what its words need (decisions.ts
 * refuseWhy): the effective max, and the back-off's end and failed boots.
 * Shared by the min rule, the provisioning pass and the queue's explanation.
 */
import type { ResourceDecision } from "../decisions.ts"
import type { ResState } from "../state.ts"

export type Refusal = Extract<ResourceDecision, { kind: "refuse" }>

/** Why a resource that is not backing off has no room: frozen or draining by the operator, else at its max. */
export const fullReason = (r: ResState): "at_max" | "frozen" | "draining" =>
  r.mode === "frozen" ? "frozen" : r.mode === "draining" ? "draining" : "at_max"

export const refusal = (
  r: ResState,
  count: number,
  by: "min" | "policy",
  reason: Refusal["reason"],
  jobs?: { readonly named: ReadonlyArray<string>; readonly total: number }
): Refusal => ({
  kind: "refuse",
  resource: r.name,
  count,
  by,
  reason,
  max: r.max,
  until: r.backoffUntil,
  failures: r.failures,
  ...(jobs !== undefined ? { jobs: jobs.named, jobsTotal: jobs.total } : {})
})
