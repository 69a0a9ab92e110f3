/**
 * Start-up recovery (SPEC §3): for each resource not yet recovered, list its
 * instances and adopt each one (Idle/Busy when the cluster lists it, Starting
 * when it is still booting or young and Active) or destroy it (an instance
 * not in the cluster). Needs a fresh cluster view; retried each step until
 * the cloud answers. Reconciliation (reconcile.ts) adopts the instances it
 * finds later with the same `adoptInstance`.
 */
import { Effect } from "effect"
import { InstanceState, NodeState, NodeStateNames, type Instance } from "../model/types.ts"
import type { CloudService, ClusterService } from "./services.ts"
import { startingNode, type EngineState, type ResState } from "./state.ts"

/** The nodes of the cluster view (physical and unclaimed) by host name. */
export const viewHosts = (st: EngineState): Map<string, { state: NodeState; jobs: string | null; num_proc: number; state_start_time: number }> => {
  const hosts = new Map<string, { state: NodeState; jobs: string | null; num_proc: number; state_start_time: number }>()
  for (const p of [...st.physical, ...st.unclaimed]) hosts.set(p.hostname, p)
  return hosts
}

/**
 * Takes one listed instance the engine does not know: adopted Idle/Busy (the
 * cluster lists it; the host name to check the reservation of is returned),
 * adopted Starting (booting, or young and Active: it may still be joining),
 * skipped (gone; or, `keepDeleting` false, on its way out), or else marked
 * Deleting so that it is destroyed.
 */
export const adoptInstance = (
  st: EngineState,
  r: ResState,
  inst0: Instance,
  hosts: ReadonlyMap<string, { state: NodeState; jobs: string | null; num_proc: number; state_start_time: number }>,
  now: number,
  destroyDeleting = true
): string | null => {
  const uuid = inst0.uuid ?? inst0.instance_name
  if (uuid === null || st.nodes.has(uuid)) return null
  const inst: Instance = { ...inst0, uuid, tasked: false, last_update_time: now }
  const host = inst.dns_name ?? inst.instance_name ?? uuid
  const inCluster = hosts.get(host)
  const rec = startingNode(r, host, inst, now)
  const active = inst.state === InstanceState.Active || inst.state === InstanceState.Ready
  if (active && inCluster !== undefined) {
    rec.state = inCluster.state === NodeState.Starting ? NodeState.Idle : inCluster.state
    rec.jobs = inCluster.jobs
    rec.state_start_time = inCluster.state_start_time
    if (inCluster.num_proc > 0) rec.num_proc = inCluster.num_proc
    if (rec.state === NodeState.Idle || rec.state === NodeState.Busy) rec.instance = { ...inst, state: InstanceState.Ready }
    st.nodes.set(uuid, rec)
    st.physical = st.physical.filter((p) => p.hostname !== host)
    st.unclaimed = st.unclaimed.filter((p) => p.hostname !== host)
    st.log("info", `adopted ${host} (${NodeStateNames[rec.state]}) in ${r.name}`, { host, resource: r.name })
    return host
  }
  if (inst.state === InstanceState.Pending || inst.state === InstanceState.Starting) {
    rec.hostname = inst.instance_name ?? uuid
    // max_launch_time counts from the boot, not from this restart (a hung boot gets no fresh budget)
    if (Number.isFinite(inst.creation_time) && inst.creation_time <= now) rec.state_start_time = inst.creation_time
    st.nodes.set(uuid, rec)
    st.log("info", `adopted starting instance ${rec.hostname} in ${r.name}`, { resource: r.name })
  } else if (active && now - inst.creation_time < st.settings.maxLaunchTime) {
    // Improve (SPEC §3): a young Active instance may still be joining.
    rec.instance = { ...inst, state: InstanceState.Active }
    rec.state_start_time = inst.creation_time
    st.nodes.set(uuid, rec)
    st.log("info", `adopted young active instance ${host} as Starting in ${r.name}`, { resource: r.name })
  } else if (inst.state === InstanceState.Inexistent || (!destroyDeleting && inst.state === InstanceState.Deleting)) {
    return null
  } else {
    rec.state = NodeState.Deleting
    rec.hostname = host
    st.nodes.set(uuid, rec)
    st.log("info", `instance ${inst.instance_name} of ${r.name} is not in the cluster: destroying it`, { resource: r.name })
  }
  return null
}

export const makeRecovery = (st: EngineState, cloud: CloudService, cluster: ClusterService): Effect.Effect<void> =>
  Effect.gen(function* () {
    const now = st.currentNow
    for (const r of st.resources.values()) {
      if (r.recovered) continue
      if (r.coresPerNode <= 0) {
        const c = yield* Effect.either(cloud.coresPerNode(r.name))
        if (c._tag === "Right") r.coresPerNode = c.right
        else st.log("warn", `cannot look up the cores per node of ${r.name}: ${c.left.message}`, { resource: r.name })
      }
      const listed = yield* Effect.either(cloud.list(r.name))
      if (listed._tag === "Left") {
        st.log("warn", `cannot list the instances of ${r.name}: ${listed.left.message}; will retry`, { resource: r.name })
        continue
      }
      if (!st.viewFresh) continue // need the cluster view to know which instances are nodes
      r.recovered = true
      r.reconciledAt = now
      const hosts = viewHosts(st)
      for (const inst of listed.right) {
        const host = adoptInstance(st, r, inst, hosts, now)
        if (host !== null && (r.reservation.queue !== null || r.reservation.account !== null || r.reservation.property !== null)) {
          const fixed = yield* Effect.either(cluster.checkReservation(host, r.reservation))
          if (fixed._tag === "Left") st.log("warn", `reservation check of ${host} failed: ${fixed.left.message}`, { host })
        }
      }
    }
  })
