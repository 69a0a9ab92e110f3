/**
 * Reconciliation (issue 20, docs/clouds.md "Reconciliation"): every
 * `reconcile_every_polls` cloud polls (default 6) the engine lists the instances of each
 * recovered resource by its name prefix (one list call per resource, paged)
 * and compares in both directions:
 *
 * - an instance of ours the listing does not have, while its node is Idle,
 *   Busy, Holding or Held (nodes in other states are refreshed every poll
 *   anyway), is refreshed at once (`refresh`, reason `not_listed`); when the
 *   cloud says it is gone or going, the node leaves the cluster (its jobs
 *   are vacated: they died with the VM), is forgotten and
 *   `post_vm_destroy_command` runs (rules/index.ts, `cleanup` with reason
 *   `instance_gone`);
 * - an instance the engine does not know is adopted or destroyed as at
 *   start-up (recovery.ts `adoptInstance`): Idle/Busy when the cluster lists
 *   it, Starting while it boots or is younger than `max_launch_time`,
 *   destroyed past that; never while a boot's answer is pending (it may be
 *   that boot's instance), never one the engine just forgot, and never
 *   anything that is not the resource's (the listing is by prefix; a
 *   physical node is never an instance).
 *
 * The listing runs as a task; its result is applied at a later step.
 */
import { Effect } from "effect"
import { InstanceState, NodeState, type Instance } from "../model/types.ts"
import { adoptInstance, viewHosts } from "./recovery.ts"
import type { CloudService } from "./services.ts"
import type { EngineState, NodeRec, ResState } from "./state.ts"
import type { Apply } from "./tasks.ts"

/** How long a forgotten instance is not adopted again from a listing (seconds). */
const FORGOTTEN_FOR = 3600

export const reconcileDue = (st: EngineState, r: ResState, now: number): boolean =>
  r.recovered && !r.reconciling && now - r.reconciledAt >= st.settings.reconcileEveryPolls * st.settings.cloudPollerInterval

/** A node whose instance the listing not having it means something (other states are refreshed every poll). */
const listedStates: ReadonlySet<number> = new Set([NodeState.Idle, NodeState.Busy, NodeState.Holding, NodeState.Held])

/** Applies one listing of `r` at `now`. */
export const applyListing = (st: EngineState, r: ResState, listed: ReadonlyArray<Instance>, now: number): void => {
  const ids = new Set<string>()
  for (const i of listed) {
    const id = i.uuid ?? i.instance_name
    if (id !== null) ids.add(id)
  }
  for (const n of st.nodesOf(r.name)) {
    const uuid = n.instance.uuid!
    if (listedStates.has(n.state) && !ids.has(uuid) && !st.unlisted.has(uuid)) {
      st.unlisted.add(uuid)
      st.log("info", `${n.hostname}: its instance is not in the listing of ${r.name}: asking the cloud about it`, { host: n.hostname, resource: r.name })
    }
  }
  for (const [uuid, t] of st.forgottenAt) if (now - t > FORGOTTEN_FOR) st.forgottenAt.delete(uuid)
  // a boot whose answer is not applied yet may be one of the unknown instances
  if (r.inflight > 0) return
  const hosts = viewHosts(st)
  for (const inst of listed) {
    const id = inst.uuid ?? inst.instance_name
    if (id === null || st.nodes.has(id) || st.forgottenAt.has(id)) continue
    adoptInstance(st, r, inst, hosts, now, false)
  }
}

export const makeReconciler = (st: EngineState, cloud: CloudService) => (r: ResState): Effect.Effect<void> => {
  r.reconciling = true
  return st.tasks.submit(
    `reconcile ${r.name}`,
    Effect.map(
      Effect.either(cloud.list(r.name)),
      (res): Apply =>
        (now) => {
          r.reconciling = false
          r.reconciledAt = now
          if (res._tag === "Left") st.log("warn", `reconciliation: cannot list the instances of ${r.name}: ${res.left.message}`, { resource: r.name })
          else applyListing(st, r, res.right, now)
        }
    )
  )
}

/** An Idle, Busy, Holding or Held node whose instance the cloud says is gone or going away (not by us). */
export const instanceLost = (n: NodeRec): boolean =>
  listedStates.has(n.state) && (n.instance.state === InstanceState.Inexistent || n.instance.state === InstanceState.Deleting)
