/**
 * Why queued jobs get no node (docs/architecture.md, "Decisions and reason
 * codes"). After the policy's pass, and at the same pace while auto mode is
 * off, the eligible queued jobs that no proposal names are looked at:
 *
 * - a job no configured resource can ever run (its reservation admits it
 *   nowhere, more cores per node than offered, more nodes than `max`):
 *   `refuse` / `no_matching_resource`, grouped by that cause;
 * - a job some resource has room for now: in auto mode that is the policy's
 *   choice (its own words: `plan`), with auto mode off `auto_mode_off`;
 * - a job every resource that could run it refuses: `refuse` in each of them,
 *   with its reason (`at_max`, `frozen`, `draining`, `backoff`).
 *
 * Jobs on a resource whose node size or instances are not known yet are not
 * explained. It only reads the state: no log line, no bookkeeping but its pace.
 */
import { ByJobKind, canFit, eligibleJobs, mayUse, type AllocResource } from "../../model/allocator.ts"
import type { Job } from "../../model/types.ts"
import { JOBS_NAMED, type JobDecision, type NoMatch, type ResourceDecision } from "../decisions.ts"
import type { EngineState, ResState } from "../state.ts"
import { allocResources } from "./provision.ts"
import { fullReason, refusal } from "./refuse.ts"

/** While auto mode is off: an explanation is due (a fresh view, `auto_provision_interval` since the last). */
export const explainDue = (st: EngineState, now: number): boolean =>
  !st.autoMode && st.viewFresh && now - st.lastExplain >= st.settings.autoProvisionInterval

/** Jobs named by a decision: the first JOBS_NAMED and how many in all. */
class Named {
  readonly jobs: Array<string> = []
  total = 0
  cores = 0
  nodes = 0
  add(job: Job, nodes = 0): void {
    if (this.jobs.length < JOBS_NAMED) this.jobs.push(job.jobid)
    this.total++
    this.cores += job.requested_cores
    this.nodes = Math.max(this.nodes, nodes)
  }
}

const nodesOn = (job: Job, perNode: number): number => Math.ceil(job.requested_cores / (job.cores_per_node > 0 ? job.cores_per_node : perNode))

/**
 * Explains the queue at `now`. `served`: the jobs the policy's proposal names
 * (not explained); `refused`: resources the pass already refused (not again).
 */
export const explainQueue = (
  st: EngineState,
  now: number,
  served: ReadonlySet<string>,
  refused: ReadonlySet<string>,
  out: Array<ResourceDecision | JobDecision>
): void => {
  st.lastExplain = now
  const resources = [...st.resources.values()]
  const room = new Map<string, AllocResource>()
  for (const a of allocResources(st, now)) room.set(a.name, a)
  const usable = new ByJobKind((job) => resources.filter((r) => mayUse(job, r)))
  const noMatch = new Map<string, { match: NoMatch; named: Named }>()
  const autoOff = new Named()
  const blocked = new Map<ResState, Named>()
  for (const job of eligibleJobs(st.queued)) {
    if (served.has(job.jobid)) continue
    const rs = usable.get(job)
    let fits = false
    let unknown = false
    let hasRoom = false
    let offered = 0
    let largest = -1
    let size = { cores: 0, nodes: 0 }
    const refusing: Array<ResState> = []
    for (const r of rs) {
      const per = r.coresPerNode
      if (!(Number.isFinite(per) && per > 0)) {
        unknown = true
        continue
      }
      if (job.cores_per_node > per) {
        offered = Math.max(offered, per)
        continue
      }
      const nodes = nodesOn(job, per)
      if (nodes > r.cfgMax) {
        if (r.cfgMax > largest) {
          largest = r.cfgMax
          size = { cores: job.requested_cores, nodes }
        }
        continue
      }
      fits = true
      if (!r.recovered) unknown = true
      else {
        const a = room.get(r.name)
        if (a !== undefined && canFit(job, a, [])) hasRoom = true
        else refusing.push(r)
      }
    }
    if (unknown) continue
    if (!fits) {
      const match: NoMatch =
        rs.length === 0
          ? { why: "reservation", queue: job.queue, account: job.account, property: job.property }
          : largest >= 0
            ? { why: "size", cores: size.cores, nodes: size.nodes, largest }
            : { why: "cores_per_node", needs: job.cores_per_node, offered }
      const key = JSON.stringify(match)
      let g = noMatch.get(key)
      if (g === undefined) noMatch.set(key, (g = { match, named: new Named() }))
      g.named.add(job)
    } else if (hasRoom) {
      if (!st.autoMode) autoOff.add(job)
    } else {
      for (const r of refusing) {
        if (refused.has(r.name)) continue
        let g = blocked.get(r)
        if (g === undefined) blocked.set(r, (g = new Named()))
        g.add(job, nodesOn(job, r.coresPerNode))
      }
    }
  }
  for (const { match, named } of noMatch.values()) out.push({ kind: "refuse", resource: null, reason: "no_matching_resource", match, jobs: named.jobs, jobsTotal: named.total })
  if (autoOff.total > 0) out.push({ kind: "refuse", resource: null, reason: "auto_mode_off", jobs: autoOff.jobs, jobsTotal: autoOff.total })
  for (const [r, named] of blocked) {
    // The fewest nodes these jobs need here: their cores, and the widest job.
    const count = Math.max(Math.ceil(named.cores / r.coresPerNode), named.nodes)
    out.push(refusal(r, count, "policy", r.backoffUntil > now ? "backoff" : fullReason(r), { named: named.jobs, total: named.total }))
  }
}
