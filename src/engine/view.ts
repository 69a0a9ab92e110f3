/**
 * The cluster view: polling the batch system (every `cluster_poller_interval`)
 * and applying what it says to the engine's state. A cloud node's state and
 * jobs come from the view; a node the view no longer lists goes Error; the
 * other hosts are physical nodes, or `unclaimed` while they are named like
 * the instances of a resource whose start-up recovery has not run yet.
 */
import { Effect } from "effect"
import { InstanceState, NodeState, type WorkerNode } from "../model/types.ts"
import type { ClusterNode, ClusterService, ClusterView } from "./services.ts"
import { reuseJobs } from "./queue-reuse.ts"
import type { EngineState } from "./state.ts"

export const applyView = (st: EngineState, view: ClusterView, now: number): void => {
  const byHost = new Map<string, ClusterNode>()
  for (const cn of view.nodes) byHost.set(cn.hostname, cn)
  st.lastViewHosts = byHost
  st.views++
  const seen = new Set<string>()
  for (const n of st.nodes.values()) {
    const cn = byHost.get(n.hostname)
    if (cn !== undefined) seen.add(n.hostname)
    if (n.state === NodeState.Deleting) continue
    if (n.state === NodeState.Starting && n.instance.state !== InstanceState.Ready) continue
    if (cn === undefined) {
      if (n.state === NodeState.Starting) continue
      if (n.state !== NodeState.Error) st.log("warn", `${n.hostname} is no longer in the cluster`, { host: n.hostname })
      st.setState(n, NodeState.Error, now)
      continue
    }
    // The batch system says Starting while the node is still joining.
    const s = cn.state === NodeState.Starting ? (n.state === NodeState.Starting ? NodeState.Starting : NodeState.Idle) : cn.state
    st.setState(n, s, cn.since ?? now)
    n.jobs = cn.jobs
    if (cn.num_proc > 0) n.num_proc = cn.num_proc
    n.extra_attributes = cn.extra_attributes
  }
  const phys: Array<WorkerNode> = []
  const unc: Array<WorkerNode> = []
  const prev = new Map<string, WorkerNode>()
  for (const p of st.physical) prev.set(p.hostname, p)
  for (const p of st.unclaimed) prev.set(p.hostname, p)
  for (const cn of view.nodes) {
    if (seen.has(cn.hostname)) continue
    const old = prev.get(cn.hostname)
    const same = old !== undefined && old.state === cn.state
    // an unchanged node keeps its record (never mutated: a new view makes new ones)
    const rec: WorkerNode =
      same && old.jobs === cn.jobs && old.num_proc === cn.num_proc && old.extra_attributes === cn.extra_attributes
        ? old
        : {
            hostname: cn.hostname,
            type: "physical",
            state: cn.state,
            jobs: cn.jobs,
            num_proc: cn.num_proc,
            time_in_current_state: 0,
            state_start_time: same ? old.state_start_time : cn.since ?? now,
            instance: null,
            extra_attributes: cn.extra_attributes
          }
    ;(ofUnrecoveredResource(st, cn.hostname) ? unc : phys).push(rec)
  }
  st.physical = phys
  st.unclaimed = unc
  // the previous view's job objects (and array) kept where nothing changed (queue-reuse.ts)
  st.queued = reuseJobs(st.queued, view.jobs)
}

const ofUnrecoveredResource = (st: EngineState, hostname: string): boolean => {
  for (const r of st.resources.values()) {
    const prefix = r.config.instance_name_prefix
    if (!r.recovered && typeof prefix === "string" && prefix !== "" && hostname.startsWith(prefix)) return true
  }
  return false
}

/**
 * The cluster poll: `refreshViewThen(then)` queries the batch system, applies
 * the view (or keeps the last one when the query fails) and runs `then()`
 * (a step polls every cluster poll interval: one continuation instead of a
 * zipRight and a suspend, and no Either per poll).
 */
/** Nodes of the last view that should still be there: physical ones and cloud nodes the engine did not take out. */
const expectedInView = (st: EngineState): number => {
  let k = st.physical.length
  for (const n of st.nodes.values()) if ((n.state === NodeState.Idle || n.state === NodeState.Busy) && st.lastViewHosts.has(n.hostname)) k++
  return k
}

export const makeViewPoller = (st: EngineState, cluster: ClusterService) => {
  let appliedView: ClusterView | null = null
  let appliedAt = -1
  let appliedRecovered = -1
  const refreshViewThen = <A>(then: () => Effect.Effect<A>): Effect.Effect<A> =>
    Effect.suspend(() => {
      const now = st.currentNow
      st.lastClusterPoll = now
      return Effect.matchEffect(cluster.query, {
        onFailure: (e) =>
          Effect.flatMap(cluster.status, (status) => {
            st.clusterStatus = status
            if (st.viewFresh) st.log("error", `cannot query the batch system (${e.op}): ${e.message}; keeping the last view`)
            st.viewFresh = false
            return then()
          }),
        onSuccess: (view) =>
          Effect.flatMap(cluster.status, (status) => {
            st.clusterStatus = status
            if (st.viewGuard.check(view, expectedInView(st)) === "suspect") {
              if (st.viewGuard.suspectPolls() === 1)
                st.log("warn", `the batch system's view lost every node (${expectedInView(st)} expected): keeping the last view until it is confirmed`)
              st.viewFresh = false
              return then()
            }
            st.viewFresh = true
            st.viewSinceProvision = true
            // The very view applied last time, and nothing changed here since (a
            // simulated cluster answers an unchanged world with the same object):
            // applying it again would change nothing.
            if (view !== appliedView || st.effects !== appliedAt || st.recoveredCount() !== appliedRecovered) {
              applyView(st, view, now)
              appliedView = view
              appliedAt = st.effects
              appliedRecovered = st.recoveredCount()
            }
            return then()
          })
      })
    })
  const refreshView: Effect.Effect<void> = refreshViewThen(() => Effect.void)
  return { refreshViewThen, refreshView }
}
