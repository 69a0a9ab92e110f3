/**
 * Why queued jobs get no node (docs/architecture.md, "Decisions and reason
 * codes"). After the policy's pass, and at the same pace while auto mode is
 * off, the eligible queued jobs are looked at:
 *
 * - a job no configured resource can ever run (its reservation admits it
 *   nowhere, more cores per node than offered, more nodes than `max`):
 *   `refuse` / `no_matching_resource`, grouped by that cause;
 * - a job some resource has room for now (every job the policy provisions
 *   for is one): in auto mode that is the policy's choice (its own words:
 *   `plan`), with auto mode off `auto_mode_off`;
 * - a job every resource that could run it refuses: `refuse` in each of them,
 *   with its reason (`at_max`, `frozen`, `draining`, `backoff`).
 *
 * A job a resource refuses that one of its starting nodes (or boots asked
 * for) can take is not named: those nodes are for the first such jobs in the
 * queue, as far as their cores go (issue 17: a job whose node was booting was
 * named in the at_max refusal).
 *
 * Jobs on a resource whose node size or instances are not known yet are not
 * explained. It only reads the state: no log line, no bookkeeping but its pace.
 */
import { canFit, mayUse, type AllocResource } from "../../model/allocator.ts"
import type { Job } from "../../model/types.ts"
import { JOBS_NAMED, type JobDecision, type NoMatch, type ResourceDecision } from "../decisions.ts"
import type { EngineState, ResState } from "../state.ts"
import { fullReason, refusal } from "./refuse.ts"
import { runSteps, SLICE_JOBS, type Steps } from "../steps.ts"

/** What the policy may provision from: recovered resources not backing off, with their effective limits. */
export const allocResources = (st: EngineState, now: number): Array<AllocResource> => {
  const out: Array<AllocResource> = []
  for (const r of st.resources.values()) {
    if (!r.recovered || r.backoffUntil > now || r.invalid !== null) continue
    out.push({
      name: r.name,
      priority: r.priority,
      min: r.min,
      max: r.max,
      current: st.countsOf(r.name).total + r.inflight,
      coresPerNode: r.coresPerNode,
      reservation: r.reservation,
      flag: st.flagOf(r)
    })
  }
  return out
}

/** While auto mode is off: an explanation is due (a fresh view, `auto_provision_interval` since the last). */
export const explainDue = (st: EngineState, now: number): boolean =>
  !st.autoMode && st.viewFresh && now - st.lastExplain >= st.settings.autoProvisionInterval

/** Jobs named by a decision: the first JOBS_NAMED and how many in all. */
class Named {
  readonly jobs: Array<string> = []
  total = 0
  cores = 0
  nodes = 0
  /** The job `queue[i]` of `cores` cores (read only while fewer than JOBS_NAMED are named). */
  add(queue: ReadonlyArray<Job>, i: number, cores: number, nodes = 0): void {
    if (this.jobs.length < JOBS_NAMED) this.jobs.push(queue[i].jobid)
    this.total++
    this.cores += cores
    this.nodes = Math.max(this.nodes, nodes)
  }
}

/** Nodes of `perNode` cores a job of `cores` cores, `cpn` per node (0: spread), needs. */
const nodesOn = (cores: number, cpn: number, perNode: number): number => Math.ceil(cores / (cpn > 0 ? cpn : perNode))

/**
 * Explains the queue at `now` (jobs named in queue order). `refused`:
 * resources the pass already refused (not again). The jobs the policy's
 * proposal names are not refusals: a resource it proposes a node in has room
 * for them (or is in `refused`).
 */
export const explainQueue = (st: EngineState, now: number, refused: ReadonlySet<string>, out: Array<ResourceDecision | JobDecision>): void =>
  runSteps(explainQueueSteps(st, now, refused, out))

/** explainQueue in slices (steps.ts): the engine lets the daemon's event loop in between them. */
export function* explainQueueSteps(
  st: EngineState,
  now: number,
  refused: ReadonlySet<string>,
  out: Array<ResourceDecision | JobDecision>
): Steps<void> {
  st.lastExplain = now
  const resources = [...st.resources.values()]
  const room = new Map<string, AllocResource>()
  for (const a of allocResources(st, now)) room.set(a.name, a)
  // What happens to a job depends only on its shape (kind, cores, cores per
  // node): worked out once per shape, not per job (100,000 queued jobs have
  // few shapes; bench/engine-cycle), and a job is read only to be named.
  const { inputShape, shapes } = st.eligibleQueue()
  const queued = st.queued
  const outcomes: Array<Outcome | undefined> = []
  const noMatch = new Map<NoMatch, Named>()
  const autoOff = new Named()
  const blocked = new Map<ResState, Named>()
  // Cores of the nodes booting in each refusing resource not yet given to a job (filled when first needed).
  const booting = new Map<ResState, { cores: number; nodes: number }>()
  const bootingIn = (r: ResState) => {
    let b = booting.get(r)
    if (b === undefined) {
      const nodes = (st.nodes.counts.get(r.name)?.starting ?? 0) + r.inflight
      booting.set(r, (b = { cores: nodes * r.coresPerNode, nodes }))
    }
    return b
  }
  // Per refused shape, once no booting node takes its jobs (nor will: their
  // cores only go): the refusals its jobs are named in, with the nodes each needs there.
  const blockedIn: Array<ReadonlyArray<readonly [Named, number]> | undefined> = []
  for (let i = 0; i < inputShape.length; i++) {
    if ((i + 1) % SLICE_JOBS === 0) yield
    const sid = inputShape[i]
    if (sid < 0) continue
    const shape = shapes[sid]
    let o = outcomes[sid]
    if (o === undefined) o = outcomes[sid] = outcome(shape.job, resources, room)
    switch (o.kind) {
      case "unknown":
        break
      case "no_match": {
        let g = noMatch.get(o.match)
        if (g === undefined) noMatch.set(o.match, (g = new Named()))
        g.add(queued, i, shape.cores)
        break
      }
      case "room":
        if (!st.autoMode) autoOff.add(queued, i, shape.cores)
        break
      case "refused": {
        let groups = blockedIn[sid]
        if (groups === undefined) {
          const taken = o.by.find((r) => {
            const b = bootingIn(r)
            return b.nodes >= nodesOn(shape.cores, shape.cpn, r.coresPerNode) && b.cores >= shape.cores
          })
          if (taken !== undefined) {
            bootingIn(taken).cores -= shape.cores
            break
          }
          groups = blockedIn[sid] = o.by
            .filter((r) => !refused.has(r.name))
            .map((r) => {
              let g = blocked.get(r)
              if (g === undefined) blocked.set(r, (g = new Named()))
              return [g, nodesOn(shape.cores, shape.cpn, r.coresPerNode)] as const
            })
        }
        // (indexed: a for-of here allocated an iterator and its results per queued job, ~10 MB a pass at 100,000 jobs)
        for (let k = 0; k < groups.length; k++) groups[k][0].add(queued, i, shape.cores, groups[k][1])
      }
    }
  }
  // (one decision per cause: shapes with the same cause share it)
  const merged = new Map<string, { match: NoMatch; jobs: Array<string>; total: number }>()
  for (const [match, named] of noMatch) {
    const key = JSON.stringify(match)
    const m = merged.get(key)
    if (m === undefined) merged.set(key, { match, jobs: [...named.jobs], total: named.total })
    else {
      for (const j of named.jobs) if (m.jobs.length < JOBS_NAMED) m.jobs.push(j)
      m.total += named.total
    }
  }
  for (const { match, jobs, total } of merged.values()) out.push({ kind: "refuse", resource: null, reason: "no_matching_resource", match, jobs, jobsTotal: total })
  if (autoOff.total > 0) out.push({ kind: "refuse", resource: null, reason: "auto_mode_off", jobs: autoOff.jobs, jobsTotal: autoOff.total })
  for (const [r, named] of blocked) {
    // The fewest nodes these jobs need here: their cores, and the widest job.
    const count = Math.max(Math.ceil(named.cores / r.coresPerNode), named.nodes)
    out.push(refusal(r, count, "policy", r.backoffUntil > now ? "backoff" : fullReason(r), { named: named.jobs, total: named.total }))
  }
}

type Outcome =
  | { readonly kind: "unknown" }
  | { readonly kind: "no_match"; readonly match: NoMatch }
  | { readonly kind: "room" }
  | { readonly kind: "refused"; readonly by: ReadonlyArray<ResState> }

const UNKNOWN: Outcome = { kind: "unknown" }
const ROOM: Outcome = { kind: "room" }

/** Where a job of this shape stands: no resource can ever run it, one has room now, or all that could refuse. */
const outcome = (job: Job, resources: ReadonlyArray<ResState>, room: ReadonlyMap<string, AllocResource>): Outcome => {
  const rs = resources.filter((r) => mayUse(job, r))
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
    const nodes = nodesOn(job.requested_cores, job.cores_per_node, per)
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
  if (unknown) return UNKNOWN
  if (!fits)
    return {
      kind: "no_match",
      match:
        rs.length === 0
          ? { why: "reservation", queue: job.queue, account: job.account, property: job.property }
          : largest >= 0
            ? { why: "size", cores: size.cores, nodes: size.nodes, largest }
            : { why: "cores_per_node", needs: job.cores_per_node, offered }
    }
  return hasRoom ? ROOM : { kind: "refused", by: refusing }
}
