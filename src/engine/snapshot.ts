/** What the API and the dashboard see of the engine's state (api.ts `Snapshot`). */
import { redactSecrets } from "../model/config.ts"
import type { CloudResourceView, Job, WorkerNode } from "../model/types.ts"
import { timeInState, type ServerStatus, type Snapshot } from "./api.ts"
import type { EngineState } from "./state.ts"

/** What the snapshot needs of shadow mode (dry-run.ts `Shadow`). */
export interface ShadowView {
  readonly isWouldBe: (name: string | null) => boolean
}

const nodeView = (n: WorkerNode, now: number): WorkerNode => ({
  ...n,
  time_in_current_state: timeInState(now, n.state_start_time),
  instance: n.instance === null ? null : { ...n.instance }
})

/** The snapshot's `status`, alone (EngineApi.status: GET /server/status builds no snapshot); `dryRun`: shadow mode. */
export const serverStatus = (st: EngineState, dryRun = false): ServerStatus => ({ auto_mode: st.autoMode, cluster: { ...st.clusterStatus }, dry_run: dryRun })

/**
 * `shadow` (shadow mode): /server/status says `dry_run: true`, and the
 * would-be nodes are not in `nodes` nor in the resources' `worker_nodes`
 * (they exist nowhere but in the engine): they are in `would_be`.
 */
export const makeSnapshot = (st: EngineState, shadow?: ShadowView) => {
  // The queue sorted for display, kept until the next view replaces `queued`:
  // sorting 100,000 jobs on every API request was most of its latency (bench/api).
  let sortedOf: ReadonlyArray<Job> | null = null
  let sorted: ReadonlyArray<Job> = []
  const sortedQueue = (): ReadonlyArray<Job> => {
    if (sortedOf !== st.queued) {
      sorted = [...st.queued].sort((a, b) => (b.priority ?? -Infinity) - (a.priority ?? -Infinity))
      sortedOf = st.queued
    }
    return sorted
  }

  return (now: number): Snapshot => {
    let cloudNodes = [...st.nodes.values()].map((n) => nodeView(n, now))
    let wouldBe: Array<WorkerNode> | null = null
    if (shadow !== undefined) {
      wouldBe = cloudNodes.filter((n) => shadow.isWouldBe(n.instance!.uuid))
      cloudNodes = cloudNodes.filter((n) => !shadow.isWouldBe(n.instance!.uuid))
    }
    const all = [...st.physical.map((n) => nodeView(n, now)), ...cloudNodes]
    const jobs = sortedQueue()
    const limit = st.settings.queuedJobNumberToDisplay
    const res: Array<CloudResourceView> = [...st.resources.values()].map((r) => {
      const wn = cloudNodes.filter((n) => n.instance!.cloud_resource === r.name)
      return {
        name: r.name,
        type: r.type,
        priority: r.priority,
        flag: st.flagOf(r),
        min_num: r.min,
        max_num: r.max,
        current_num: wn.length,
        cores_per_node: r.coresPerNode,
        reservation_queue: r.reservation.queue,
        reservation_account: r.reservation.account,
        reservation_property: r.reservation.property,
        proposed_allocation: st.lastDecision?.provision.get(r.name) ?? null,
        config: redactSecrets(r.config) as Record<string, unknown>,
        worker_nodes: wn
      }
    })
    const { counters } = st
    return {
      time: now,
      nodes: all,
      jobs: limit < 1 ? [...jobs] : jobs.slice(0, limit),
      resources: res,
      status: serverStatus(st, shadow !== undefined),
      ...(wouldBe !== null ? { would_be: wouldBe } : {}),
      policy: st.policy.name,
      queues: st.tasks.stats(),
      backoff: [...st.resources.values()].map((r) => ({
        resource: r.name,
        until: r.backoffUntil > now ? r.backoffUntil : 0,
        failures: r.failures,
        invalid: r.invalid
      })),
      counters: { boots: { ...counters.boots }, boot_failures: { ...counters.boot_failures }, destroys: { ...counters.destroys }, spot_interruptions: { ...counters.spot_interruptions }, cycles: counters.cycles }
    }
  }
}
