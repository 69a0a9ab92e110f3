/**
 * The invariants of SPEC §6, checked over the event log (the ground truth of
 * DESIGN.md): one function per invariant, each returning the violations it
 * finds with their time and the log lines that show them. They read only the
 * log, the scenario (limits, settings) and, for leaks, the engine's final
 * snapshot; docs/testing.md says what each one proves and where it is lenient.
 *
 * Operator actions are not world events: the harness that applies them
 * (src/sim/harness.ts) writes an `operator` line per action with the engine's
 * answer: `{t, ev: "operator", op, target, ok, status?, error?}` plus `max`
 * (the frozen count after a freeze), `waiting` (cloud tasks waiting for a
 * worker just before a drain) and `on` (auto mode). A `restart` line resets
 * what the operator changed (freeze, drain, auto mode): the scaler keeps no
 * database, so a restarted engine starts from its configuration.
 */
import { engineSettings } from "../model/config.ts"
import type { Reservation } from "../model/types.ts"
import type { SimScenario } from "./run.ts"

// ---------------------------------------------------------------- types

/** One parsed event-log line. */
export interface Ev {
  readonly t: number
  readonly ev: string
  readonly [k: string]: any
}

export type InvariantName = "max" | "no-destroy-kill" | "physical" | "no-leak" | "min" | "provision" | "no-crash" | "no-job-lost" | "spot-hold"

export interface Violation {
  readonly invariant: InvariantName
  /** Seconds from the start at which the invariant was broken. */
  readonly t: number
  readonly message: string
  /** The log lines (JSON) that show it. */
  readonly evidence: ReadonlyArray<string>
}

export interface ResourceFacts {
  readonly name: string
  readonly cfgMin: number
  readonly cfgMax: number
  readonly cores: number
  readonly reservation: Reservation
  readonly apiErrorRate: number
  readonly quota: number | null
  readonly destroyTime: number
}

/** What the checks need to know of the scenario. */
export interface InvariantContext {
  readonly autoMode: boolean
  readonly maxLaunchTime: number
  readonly clusterPoll: number
  readonly cloudPoll: number
  readonly provisionInterval: number
  readonly workers: number
  readonly apiLatency: number
  readonly schedulerCycle: number
  readonly resources: ReadonlyMap<string, ResourceFacts>
  readonly physical: ReadonlyMap<string, { readonly cores: number; readonly properties: ReadonlyArray<string> }>
  /** Requested walltime of each job (null = none). */
  readonly walltime: ReadonlyMap<string, number | null>
  /** queue_to_monitor (empty = all queues). */
  readonly monitored: ReadonlyArray<string>
}

/** The cloud nodes the engine tracks at the end of the run (from its last snapshot). */
export interface FinalState {
  readonly nodes: ReadonlyArray<{ readonly hostname: string; readonly instance: string | null; readonly resource: string }>
}

export const invariantContext = (s: SimScenario): InvariantContext => {
  const st = engineSettings(s.config)
  const resources = new Map<string, ResourceFacts>()
  for (const [name, rc] of Object.entries(s.config.cloud)) {
    const w = s.world.resources.find((r) => r.name === name)
    resources.set(name, {
      name,
      cfgMin: rc.quantity.min,
      cfgMax: rc.quantity.max,
      cores: w?.cores ?? 0,
      reservation: rc.reservation,
      apiErrorRate: w?.apiErrorRate ?? 0,
      quota: w?.quota ?? null,
      destroyTime: w?.destroyTime ?? 0
    })
  }
  return {
    autoMode: st.autoMode,
    maxLaunchTime: st.maxLaunchTime,
    clusterPoll: st.clusterPollerInterval,
    cloudPoll: st.cloudPollerInterval,
    provisionInterval: st.autoProvisionInterval,
    workers: st.workers,
    apiLatency: s.apiLatency ?? 1,
    schedulerCycle: s.world.schedulerCycle,
    resources,
    physical: new Map(s.world.physical.map((p) => [p.hostname, { cores: p.cores, properties: p.properties ?? [] }])),
    walltime: new Map(s.world.jobs.map((j) => [j.id, j.walltime])),
    monitored: st.queueToMonitor
  }
}

/**
 * How much of a run a liveness check actually judged: seconds (summed over
 * jobs, or resources) during which the clock ran, and the seconds excused,
 * by reason. A check that is always excused proves nothing; the soak prints these.
 */
export interface Coverage {
  judged: number
  readonly excused: Record<string, number>
}
export const emptyCoverage = (): Coverage => ({ judged: 0, excused: {} })
export const addCoverage = (into: Coverage, c: Coverage): void => {
  into.judged += c.judged
  for (const [k, v] of Object.entries(c.excused)) into.excused[k] = (into.excused[k] ?? 0) + v
}

/** Accumulates the time each subject spends judged or in an excuse (constant between sweep points). */
class Tally {
  private readonly last = new Map<string, { t: number; why: string | null }>()
  constructor(private readonly cov: Coverage | undefined) {}
  mark(subject: string, t: number, why: string | null) {
    if (this.cov === undefined) return
    const prev = this.last.get(subject)
    if (prev !== undefined) {
      const dt = t - prev.t
      if (prev.why === null) this.cov.judged += dt
      else this.cov.excused[prev.why] = (this.cov.excused[prev.why] ?? 0) + dt
    }
    this.last.set(subject, { t, why })
  }
  stop(subject: string, t: number) {
    this.mark(subject, t, null)
    this.last.delete(subject)
  }
}

export const parseEvents = (lines: ReadonlyArray<string>): Array<Ev> => lines.map((l) => JSON.parse(l) as Ev)

const line = (e: Ev) => JSON.stringify(e)
const r3 = (x: number) => Math.round(x * 1000) / 1000

// ---------------------------------------------------------------- time allowances

/** The engine's longest backoff after failed boots (src/engine/state.ts BACKOFF_CAP). */
export const BACKOFF_CAP = 600

/**
 * The longest a cloud task can wait for a worker: every tracked node has at
 * most one task in flight and every boot is one task, so at most about
 * 2 × Σ max + a few tasks are ahead of a new one; each takes the API latency.
 */
export const queueAllowance = (c: InvariantContext): number => {
  let sumMax = 0
  for (const r of c.resources.values()) sumMax += r.cfgMax
  return c.apiLatency * (Math.ceil((2 * sumMax + c.resources.size + 2) / Math.max(1, c.workers)) + 2)
}

/** SPEC §6.5: a job that fits gets a node within auto_provision_interval + one cluster poll (+ task, view and scheduler latencies). */
export const provisionDeadline = (c: InvariantContext): number =>
  c.provisionInterval + c.clusterPoll + c.schedulerCycle + queueAllowance(c) + 3 * c.apiLatency

/** SPEC §6.5: min within max_launch_time (+ a poll of each kind, the destroy time of a retired node, task latencies). */
export const minDeadline = (c: InvariantContext, r: ResourceFacts): number =>
  c.maxLaunchTime + c.clusterPoll + c.cloudPoll + r.destroyTime + 2 * queueAllowance(c) + 4 * c.apiLatency

/** After a refused boot the engine may back off a resource this long. */
export const backoffLead = (c: InvariantContext): number => BACKOFF_CAP + queueAllowance(c) + c.clusterPoll + c.apiLatency

/** How long the engine may still count an instance that is gone (until its next refresh says so). */
const forgetGrace = (c: InvariantContext): number => c.cloudPoll + c.clusterPoll + queueAllowance(c) + 2 * c.apiLatency

/** SPEC §6.4: an instance nobody tracks is destroyed within max_launch_time + one cloud poll (+ recovery after a disturbance). */
export const leakGrace = (c: InvariantContext): number => c.maxLaunchTime + c.cloudPoll + c.clusterPoll + queueAllowance(c) + 2 * c.apiLatency

/** After a fault touching a resource, how long its minimum is not judged. */
const healthLead = (c: InvariantContext): number => backoffLead(c)

// ---------------------------------------------------------------- 1. never above max

type Limit = { kind: "normal" } | { kind: "frozen"; max: number } | { kind: "draining"; graceUntil: number; graceLeft: number }

/**
 * SPEC §6.1: a resource never has more than max instances (booted and not
 * gone, Starting and Deleting included). The bound is the configured max;
 * after a freeze it is the frozen count the engine reported (itself checked:
 * not above the configured max, not below the instances alive then, since
 * the engine counts every instance it tracks plus boots in flight); after a drain it is 0 for new decisions: a
 * boot is allowed only if it was already waiting for a worker when the drain
 * came (at most `waiting` of them, within the time those tasks take). Restore
 * and a restart bring the configured max back. Checked at every boot, the
 * only event that adds an instance.
 */
export const checkMaxInstances = (events: ReadonlyArray<Ev>, c: InvariantContext): Array<Violation> => {
  const out: Array<Violation> = []
  const alive = new Map<string, Map<string, Ev>>() // resource → instance → boot line
  const resOf = new Map<string, string>()
  const limit = new Map<string, Limit>()
  const lastOp = new Map<string, Ev>()
  for (const r of c.resources.keys()) alive.set(r, new Map())
  for (const e of events) {
    switch (e.ev) {
      case "boot": {
        const r = e.resource as string
        resOf.set(e.instance, r)
        const set = alive.get(r) ?? new Map<string, Ev>()
        alive.set(r, set)
        set.set(e.instance, e)
        const facts = c.resources.get(r)
        const lim = limit.get(r) ?? { kind: "normal" }
        const ev = [...set.values()].map(line)
        const op = lastOp.get(r)
        if (op !== undefined) ev.push(line(op))
        if (lim.kind === "draining") {
          if (e.t <= lim.graceUntil && lim.graceLeft > 0) lim.graceLeft--
          else out.push({ invariant: "max", t: e.t, message: `boot of ${e.instance} in ${r} while it is drained (max 0)`, evidence: [line(e), ...(op ? [line(op)] : [])] })
        } else {
          const bound = lim.kind === "frozen" ? lim.max : (facts?.cfgMax ?? 0)
          if (set.size > bound)
            out.push({
              invariant: "max",
              t: e.t,
              message: `${r} has ${set.size} instance(s) after booting ${e.instance}, above its ${lim.kind === "frozen" ? "frozen count" : "max"} of ${bound}`,
              evidence: ev
            })
        }
        break
      }
      case "gone": {
        const r = resOf.get(e.instance)
        if (r !== undefined) alive.get(r)?.delete(e.instance)
        break
      }
      case "restart":
        limit.clear()
        break
      case "operator": {
        if (e.ok !== true || typeof e.target !== "string" || !c.resources.has(e.target)) break
        const r = e.target
        const facts = c.resources.get(r)!
        if (e.op === "freeze") {
          lastOp.set(r, e)
          const max = typeof e.max === "number" ? e.max : facts.cfgMax
          const set = alive.get(r) ?? new Map<string, Ev>()
          if (max > facts.cfgMax)
            out.push({ invariant: "max", t: e.t, message: `freeze of ${r} set its max to ${max}, above the configured ${facts.cfgMax}`, evidence: [line(e)] })
          else if (set.size > max)
            // The engine counts every instance it tracks (Deleting included) plus boots in flight: never fewer than are alive.
            out.push({
              invariant: "max",
              t: e.t,
              message: `freeze of ${r} set its max to ${max} while it has ${set.size} instance(s): the engine miscounted them`,
              evidence: [line(e), ...[...set.values()].map(line)]
            })
          limit.set(r, { kind: "frozen", max })
        } else if (e.op === "restore") {
          lastOp.set(r, e)
          limit.set(r, { kind: "normal" })
        } else if (e.op === "drain") {
          lastOp.set(r, e)
          const waiting = typeof e.waiting === "number" ? e.waiting : 0
          const rounds = Math.ceil(waiting / Math.max(1, c.workers)) + 1
          limit.set(r, { kind: "draining", graceUntil: r3(e.t + rounds * c.apiLatency), graceLeft: waiting })
        }
        break
      }
    }
  }
  return out
}

// ---------------------------------------------------------------- 2. no running job killed by a destroy

/**
 * SPEC §6.2: a busy node is killed only by an instance death (cause
 * `crash`), a spot interruption (`interruption`) or an operator's vacate
 * (`vacate`); never by the scaler's destroy (`destroy`). An interruption
 * kill must come with the `interrupted` line of its host, at the end of the
 * notice of a `spot_interruption` fault naming that instance (at + warning).
 */
export const checkNoDestroyKill = (events: ReadonlyArray<Ev>): Array<Violation> => {
  const out: Array<Violation> = []
  const lastTerminate = new Map<string, Ev>()
  /** Instance → the spot_interruption fault that gave it notice. */
  const noticed = new Map<string, Ev>()
  /** Host → its `interrupted` line. */
  const interrupted = new Map<string, Ev>()
  for (const e of events) {
    if (e.ev === "terminate" && typeof e.host === "string") lastTerminate.set(e.host, e)
    if (e.ev === "fault" && e.kind === "spot_interruption") for (const id of (e.instances as Array<string>) ?? []) noticed.set(id, e)
    if (e.ev === "interrupted") {
      const f = noticed.get(e.instance)
      if (f === undefined || r3(f.t + f.warning) !== e.t)
        out.push({
          invariant: "no-destroy-kill",
          t: e.t,
          message: `instance ${e.instance} was interrupted without a notice ${f === undefined ? "" : `${f.warning} s `}before`,
          evidence: [...(f ? [line(f)] : []), line(e)]
        })
      if (typeof e.host === "string") interrupted.set(e.host, e)
    }
    if (e.ev !== "killed") continue
    if (e.cause === "destroy") {
      const term = lastTerminate.get(e.host)
      out.push({
        invariant: "no-destroy-kill",
        t: e.t,
        message: `job ${e.job} was killed on ${e.host} because the scaler destroyed its instance`,
        evidence: [...(term ? [line(term)] : []), line(e)]
      })
    } else if (e.cause === "interruption") {
      const i = interrupted.get(e.host)
      if (i === undefined || i.t !== e.t)
        out.push({
          invariant: "no-destroy-kill",
          t: e.t,
          message: `job ${e.job} was killed on ${e.host} by an interruption the cloud did not make there`,
          evidence: [...(i ? [line(i)] : []), line(e)]
        })
    } else if (e.cause !== "crash" && e.cause !== "vacate")
      out.push({ invariant: "no-destroy-kill", t: e.t, message: `job ${e.job} was killed on ${e.host} (cause ${e.cause})`, evidence: [line(e)] })
  }
  return out
}

// ---------------------------------------------------------------- 2a. a spot interruption notice holds the node

/** How long the engine may take to hold a node after its spot instance's notice: a cloud poll, its refresh task, a step, the hold task. */
export const spotHoldAllowance = (c: InvariantContext): number =>
  c.cloudPoll + c.clusterPoll + c.schedulerCycle + 2 * queueAllowance(c) + 3 * c.apiLatency

/**
 * After the cloud's interruption notice for a spot instance, its node (if it
 * joined the batch system and is online) is held within `spotHoldAllowance`
 * (the engine saw the notice at its next cloud poll), unless it left the
 * batch system or its instance ended first. Not judged across a restart, an
 * outage of the resource, a batch-system failure, or with API errors.
 */
export const checkSpotHold = (events: ReadonlyArray<Ev>, c: InvariantContext): Array<Violation> => {
  const out: Array<Violation> = []
  const allowance = spotHoldAllowance(c)
  const hostOf = new Map<string, string>()
  const resOf = new Map<string, string>()
  const offline = new Set<string>()
  const pending = new Map<string, { fault: Ev; resource: string; instance: string }>() // host → notice not yet answered by a hold
  let disturbedUntil = -Infinity
  const outageUntil = new Map<string, number>()
  const due = (t: number) => {
    for (const [h, p] of pending) {
      const deadline = r3(p.fault.t + allowance)
      if (t <= deadline) continue
      pending.delete(h)
      if (deadline <= disturbedUntil || deadline <= (outageUntil.get(p.resource) ?? -Infinity)) continue
      if ((c.resources.get(p.resource)?.apiErrorRate ?? 0) > 0) continue
      out.push({
        invariant: "spot-hold",
        t: deadline,
        message: `${h} was not held within ${r3(allowance)} s of its spot instance's interruption notice (${p.instance})`,
        evidence: [line(p.fault)]
      })
    }
  }
  for (const e of events) {
    due(e.t)
    switch (e.ev) {
      case "boot":
        resOf.set(e.instance, e.resource)
        break
      case "join":
        hostOf.set(e.instance, e.host)
        break
      case "hold":
        offline.add(e.host)
        pending.delete(e.host)
        break
      case "unhold":
        offline.delete(e.host)
        break
      case "leave":
        pending.delete(e.host)
        break
      case "terminate":
      case "interrupted":
        if (typeof e.host === "string") pending.delete(e.host)
        break
      case "restart":
        disturbedUntil = Math.max(disturbedUntil, e.t + allowance)
        break
      case "fault":
        if (e.kind === "batch_failure") disturbedUntil = Math.max(disturbedUntil, e.t + e.duration + allowance)
        else if (e.kind === "outage") outageUntil.set(e.resource, Math.max(outageUntil.get(e.resource) ?? -Infinity, e.t + e.duration + allowance))
        else if (e.kind === "spot_interruption")
          for (const id of (e.instances as Array<string>) ?? []) {
            const h = hostOf.get(id)
            const r = resOf.get(id)
            if (h !== undefined && r !== undefined && !offline.has(h)) pending.set(h, { fault: e, resource: r, instance: id })
          }
        break
    }
  }
  return out
}

// ---------------------------------------------------------------- 2b. no job lost

/**
 * No job is lost: a job ends only by a `finish` or a `killed` line, and a
 * killed one is either counted as killed or put back in the queue (a
 * `resubmit` line right after its kill). A node never leaves the batch
 * system, nor its instance goes, with a job still running there (the job
 * would vanish without a line). The `end` line's summary counts every job:
 * submitted = finished + (killed − resubmitted) + still running + still queued.
 */
export const checkNoJobLost = (events: ReadonlyArray<Ev>): Array<Violation> => {
  const out: Array<Violation> = []
  const state = new Map<string, "queued" | "running" | "finished" | "killed">()
  const onHost = new Map<string, Set<string>>()
  const hostOf = new Map<string, string>() // instance → host
  const lastKill = new Map<string, Ev>()
  const free = (job: string) => {
    for (const s of onHost.values()) s.delete(job)
  }
  const lost = (e: Ev, host: string, what: string) => {
    const jobs = onHost.get(host)
    if (jobs === undefined || jobs.size === 0) return
    out.push({ invariant: "no-job-lost", t: e.t, message: `${what} with job(s) ${[...jobs].join(", ")} still running there: they were lost`, evidence: [line(e)] })
    for (const j of jobs) state.set(j, "killed")
    jobs.clear()
  }
  for (const e of events) {
    switch (e.ev) {
      case "submit":
        state.set(e.job, "queued")
        break
      case "start":
        state.set(e.job, "running")
        for (const h of e.hosts as Array<string>) {
          let s = onHost.get(h)
          if (s === undefined) onHost.set(h, (s = new Set()))
          s.add(e.job)
        }
        break
      case "finish":
        state.set(e.job, "finished")
        free(e.job)
        break
      case "killed":
        state.set(e.job, "killed")
        lastKill.set(e.job, e)
        free(e.job)
        break
      case "resubmit": {
        const k = lastKill.get(e.job)
        if (k === undefined || k.t !== e.t || state.get(e.job) !== "killed")
          out.push({ invariant: "no-job-lost", t: e.t, message: `job ${e.job} was resubmitted without being killed just before`, evidence: [...(k ? [line(k)] : []), line(e)] })
        state.set(e.job, "queued")
        break
      }
      case "join":
        if (typeof e.instance === "string") hostOf.set(e.instance, e.host)
        break
      case "leave":
        lost(e, e.host, `${e.host} left the batch system`)
        break
      case "gone": {
        const h = hostOf.get(e.instance)
        if (h !== undefined) lost(e, h, `instance ${e.instance} of ${h} is gone`)
        break
      }
      case "end": {
        const s = e.summary?.jobs
        if (s === undefined) break
        let finished = 0, killed = 0, open = 0
        for (const v of state.values()) {
          if (v === "finished") finished++
          else if (v === "killed") killed++
          else open++
        }
        const counted = s.finished + s.killed - (s.resubmitted ?? 0)
        if (s.finished !== finished || s.killed - (s.resubmitted ?? 0) !== killed || s.submitted !== counted + open)
          out.push({
            invariant: "no-job-lost",
            t: e.t,
            message: `the summary does not count every job: ${s.submitted} submitted, ${s.finished} finished, ${s.killed} killed, ${s.resubmitted ?? 0} resubmitted; the log has ${finished} finished, ${killed} killed for good, ${open} queued or running`,
            evidence: [line(e)]
          })
        break
      }
    }
  }
  return out
}

// ---------------------------------------------------------------- 3. physical nodes untouched

/** SPEC §6.3: no `touch_physical` line, and no hold/unhold/leave/terminate/kill on a physical host. */
export const checkPhysicalUntouched = (events: ReadonlyArray<Ev>, c?: InvariantContext): Array<Violation> => {
  const out: Array<Violation> = []
  const physical = new Set<string>(c ? [...c.physical.keys()] : [])
  for (const e of events) {
    if (e.ev === "physical") physical.add(e.host)
    else if (e.ev === "touch_physical")
      out.push({ invariant: "physical", t: e.t, message: `physical node ${e.host} was touched (${e.op})`, evidence: [line(e)] })
    else if ((e.ev === "hold" || e.ev === "unhold" || e.ev === "leave" || e.ev === "terminate") && physical.has(e.host))
      out.push({ invariant: "physical", t: e.t, message: `physical node ${e.host}: ${e.ev}`, evidence: [line(e)] })
    else if (e.ev === "killed" && e.cause !== "crash" && physical.has(e.host))
      out.push({ invariant: "physical", t: e.t, message: `job ${e.job} on physical node ${e.host} was killed (${e.cause})`, evidence: [line(e)] })
  }
  return out
}

// ---------------------------------------------------------------- 4. no leaked instance

/**
 * When the run ended, the last disturbance (restart, batch-system failure,
 * outage of the resource) that could keep the engine from seeing an instance.
 */
const disturbances = (events: ReadonlyArray<Ev>) => {
  let global = -Infinity
  const perResource = new Map<string, number>()
  for (const e of events) {
    if (e.ev === "restart") global = Math.max(global, e.t)
    if (e.ev === "fault" && e.kind === "batch_failure") global = Math.max(global, e.t + e.duration)
    if (e.ev === "fault" && e.kind === "outage") perResource.set(e.resource, Math.max(perResource.get(e.resource) ?? -Infinity, e.t + e.duration))
  }
  return (resource: string) => Math.max(global, perResource.get(resource) ?? -Infinity)
}

/**
 * SPEC §6.4: at the end of the run (after the drain period) every instance
 * that was booted is gone, being destroyed (terminated), or tracked as a node
 * by the engine (`final`, from its last snapshot). An untracked one is a leak
 * once it is older than max_launch_time + one cloud poll and no disturbance
 * (restart, outage of its resource, batch-system failure) happened within
 * that time before the end; a resource with random API errors gets the same
 * allowance after a restart (its listing can fail a few times).
 */
export const checkNoLeak = (events: ReadonlyArray<Ev>, c: InvariantContext, final: FinalState | null): Array<Violation> => {
  const end = events.find((e) => e.ev === "end")
  if (end === undefined || final === null) return []
  const grace = leakGrace(c)
  const lastDisturbance = disturbances(events)
  const tracked = new Set(final.nodes.flatMap((n) => (n.instance !== null ? [n.instance] : [])))
  const boots = new Map<string, Ev>()
  const terminated = new Set<string>()
  for (const e of events) {
    if (e.ev === "boot") boots.set(e.instance, e)
    else if (e.ev === "terminate") terminated.add(e.instance)
    else if (e.ev === "gone") boots.delete(e.instance)
  }
  const out: Array<Violation> = []
  for (const [id, b] of boots) {
    if (terminated.has(id) || tracked.has(id)) continue
    const since = Math.max(b.t, lastDisturbance(b.resource))
    if (end.t - since <= grace) continue
    out.push({
      invariant: "no-leak",
      t: end.t,
      message: `instance ${id} (${b.name}) of ${b.resource} is still running at the end and the engine does not track it`,
      evidence: [line(b), ...events.filter((e) => (e.ev === "active" || e.ev === "join" || e.ev === "leave") && (e.instance === id || e.host === b.name)).map(line)]
    })
  }
  return out
}

// ---------------------------------------------------------------- the world as the log tells it (for 5a, 5b)

interface MInst {
  readonly id: string
  readonly resource: string
  readonly cores: number
  joined: boolean
  host: string | null
  terminated: boolean
  gone: boolean
  goneAt: number
}
interface MNode {
  readonly host: string
  readonly cores: number
  free: number
  online: boolean
  down: boolean
  readonly physical: boolean
  readonly reservation: Reservation
  readonly properties: ReadonlyArray<string>
  readonly jobs: Map<string, number>
}
interface MJob {
  readonly id: string
  readonly submit: Ev
  readonly cores: number
  readonly cpn: number
  readonly queue: string | null
  readonly account: string | null
  readonly property: string | null
  state: "queued" | "running" | "ended"
  hosts: Array<string>
}

const NO_RES: Reservation = { queue: null, account: null, property: null }

/**
 * Replays the log into a model of the world (instances, batch nodes, jobs)
 * and of what the operator set (limits, auto mode), plus health timers.
 * `run` calls `at(t)` once per distinct time, after every change at t, and
 * also at the times health timers expire, so the state is constant between calls.
 */
class LogWorld {
  readonly inst = new Map<string, MInst>()
  readonly nodes = new Map<string, MNode>() // insertion order = the simulated scheduler's order
  readonly jobs = new Map<string, MJob>()
  auto: boolean
  readonly limit = new Map<string, Limit>()
  readonly outages: Array<{ resource: string; until: number }> = []
  readonly batch: Array<number> = [] // end times of batch failures
  /** Resource → until when it is not judged for min (faults, failed boots, boots killed before they joined). */
  readonly unhealthyUntil = new Map<string, number>()
  /** Resource → until when the engine may be backing off from it (refused boots). */
  readonly backoffUntil = new Map<string, number>()
  private readonly timers: Array<number> = []

  constructor(private readonly c: InvariantContext) {
    this.auto = c.autoMode
    for (const [host, p] of c.physical) this.addPhysical(host, p.cores)
    this.timer(0) // the clocks start with the run, not with its first event
  }

  private timer(t: number) {
    this.timers.push(r3(t))
  }

  private addPhysical(host: string, cores: number) {
    if (this.nodes.has(host)) return
    this.nodes.set(host, {
      host,
      cores,
      free: cores,
      online: true,
      down: false,
      physical: true,
      reservation: NO_RES,
      properties: this.c.physical.get(host)?.properties ?? [],
      jobs: new Map()
    })
  }

  private unhealthy(resource: string | null, until: number) {
    const names = resource === null ? [...this.c.resources.keys()] : [resource]
    for (const r of names) this.unhealthyUntil.set(r, Math.max(this.unhealthyUntil.get(r) ?? -Infinity, until))
    this.timer(until)
  }

  private release(j: MJob) {
    for (const h of j.hosts) {
      const n = this.nodes.get(h)
      const cores = n?.jobs.get(j.id)
      if (n !== undefined && cores !== undefined) {
        n.jobs.delete(j.id)
        n.free += cores
      }
    }
    j.state = "ended"
  }

  apply(e: Ev) {
    const lead = healthLead(this.c)
    switch (e.ev) {
      case "physical":
        this.addPhysical(e.host, e.cores)
        return
      case "submit":
        this.jobs.set(e.job, {
          id: e.job,
          submit: e,
          cores: e.cores,
          cpn: e.cpn,
          queue: e.queue ?? null,
          account: e.account ?? null,
          property: e.property ?? null,
          state: "queued",
          hosts: []
        })
        return
      case "start": {
        const j = this.jobs.get(e.job)
        if (j === undefined) return
        j.state = "running"
        j.hosts = e.hosts
        ;(e.hosts as Array<string>).forEach((h, i) => {
          const n = this.nodes.get(h)
          const cores = (e.per_host as Array<number> | undefined)?.[i] ?? 0
          if (n !== undefined) {
            n.free -= cores
            n.jobs.set(j.id, cores)
          }
        })
        return
      }
      case "finish":
      case "killed": {
        const j = this.jobs.get(e.job)
        if (j !== undefined) this.release(j)
        return
      }
      case "resubmit": {
        const j = this.jobs.get(e.job)
        if (j !== undefined) {
          j.state = "queued"
          j.hosts = []
        }
        return
      }
      case "interrupted": {
        const i = this.inst.get(e.instance)
        if (i === undefined) return
        i.terminated = true
        if (i.host !== null) {
          const n = this.nodes.get(i.host)
          if (n !== undefined) n.down = true
        }
        return
      }
      case "boot":
        this.inst.set(e.instance, {
          id: e.instance,
          resource: e.resource,
          cores: e.cores ?? this.c.resources.get(e.resource)?.cores ?? 0,
          joined: false,
          host: null,
          terminated: false,
          gone: false,
          goneAt: Infinity
        })
        return
      case "boot_failed":
        this.unhealthy(e.resource, e.t + lead)
        if (e.instance === undefined) {
          const until = e.t + backoffLead(this.c)
          this.backoffUntil.set(e.resource, Math.max(this.backoffUntil.get(e.resource) ?? -Infinity, until))
          this.timer(until)
        }
        return
      case "join": {
        const i = this.inst.get(e.instance)
        if (i === undefined) return
        i.joined = true
        i.host = e.host
        const facts = this.c.resources.get(i.resource)
        const reservation = facts?.reservation ?? NO_RES
        this.nodes.set(e.host, {
          host: e.host,
          cores: i.cores,
          free: i.cores,
          online: true,
          down: false,
          physical: false,
          reservation,
          properties: reservation.property !== null ? [reservation.property] : [],
          jobs: new Map()
        })
        return
      }
      case "hold":
      case "unhold": {
        const n = this.nodes.get(e.host)
        if (n !== undefined) n.online = e.ev === "unhold"
        return
      }
      case "leave":
        this.nodes.delete(e.host)
        return
      case "terminate": {
        const i = this.inst.get(e.instance)
        if (i === undefined) return
        i.terminated = true
        if (!i.joined) this.unhealthy(i.resource, e.t + lead) // killed before it joined: a slow or failing cloud (or an operator)
        if (i.host !== null) {
          const n = this.nodes.get(i.host)
          if (n !== undefined) n.down = true
        }
        return
      }
      case "gone": {
        const i = this.inst.get(e.instance)
        if (i === undefined) return
        i.gone = true
        i.goneAt = e.t
        this.timer(e.t + forgetGrace(this.c))
        return
      }
      case "fault":
        switch (e.kind) {
          case "outage":
            this.outages.push({ resource: e.resource, until: r3(e.t + e.duration) })
            this.timer(e.t + e.duration)
            this.unhealthy(e.resource, e.t + e.duration + lead)
            return
          case "slow_boots":
            this.unhealthy(e.resource, e.t + e.duration + lead)
            return
          case "batch_failure":
            this.batch.push(r3(e.t + e.duration))
            this.timer(e.t + e.duration)
            this.unhealthy(null, e.t + e.duration + lead)
            return
          case "spot_interruption":
            // the notice: the engine holds those nodes (not usable), the cloud ends them after `warning` s
            for (const id of (e.instances as Array<string>) ?? []) {
              const i = this.inst.get(id)
              if (i !== undefined) this.unhealthy(i.resource, e.t + (e.warning ?? 0) + lead)
            }
            return
          case "instance_death":
            for (const id of (e.instances as Array<string>) ?? []) {
              const i = this.inst.get(id)
              if (i === undefined) continue
              this.unhealthy(i.resource, e.t + lead)
              if (i.host !== null) {
                const n = this.nodes.get(i.host)
                if (n !== undefined) n.down = true
              }
            }
            return
        }
        return
      case "restart":
        this.limit.clear()
        this.auto = this.c.autoMode
        this.unhealthy(null, e.t + lead)
        return
      case "operator":
        if (e.ok !== true) return
        if (e.op === "auto") this.auto = e.on === true
        else if (typeof e.target === "string" && this.c.resources.has(e.target)) {
          if (e.op === "freeze") this.limit.set(e.target, { kind: "frozen", max: typeof e.max === "number" ? e.max : 0 })
          else if (e.op === "restore") this.limit.set(e.target, { kind: "normal" })
          else if (e.op === "drain") this.limit.set(e.target, { kind: "draining", graceUntil: e.t, graceLeft: 0 })
        }
        return
    }
  }

  // ---------------------------------------------- derived state

  batchFailing(t: number) {
    return this.batch.some((until) => until > t)
  }
  outageOn(resource: string, t: number) {
    return this.outages.some((o) => o.resource === resource && o.until > t)
  }
  anyStarting(): boolean {
    for (const i of this.inst.values()) if (!i.joined && !i.terminated && !i.gone) return true
    return false
  }
  starting(resource: string): number {
    let k = 0
    for (const i of this.inst.values()) if (i.resource === resource && !i.joined && !i.terminated && !i.gone) k++
    return k
  }
  /** Nodes in the cluster: joined and not being destroyed. */
  live(resource: string): number {
    let k = 0
    for (const i of this.inst.values()) if (i.resource === resource && i.joined && !i.terminated && !i.gone) k++
    return k
  }
  /** Instances not gone (what the cloud's quota counts). */
  alive(resource: string): number {
    let k = 0
    for (const i of this.inst.values()) if (i.resource === resource && !i.gone) k++
    return k
  }
  /** Instances the engine may still count: not gone, or gone so recently that it may not know yet. */
  counted(resource: string, t: number): number {
    const g = forgetGrace(this.c)
    let k = 0
    for (const i of this.inst.values()) if (i.resource === resource && (!i.gone || t - i.goneAt < g)) k++
    return k
  }
  effectiveMin(resource: string): number {
    const lim = this.limit.get(resource) ?? { kind: "normal" }
    if (lim.kind === "frozen") return lim.max
    if (lim.kind === "draining") return 0
    return this.c.resources.get(resource)?.cfgMin ?? 0
  }
  mode(resource: string): Limit["kind"] {
    return (this.limit.get(resource) ?? { kind: "normal" }).kind
  }

  /** The next health timer strictly after t (or Infinity). */
  nextTimer(t: number): number {
    let best = Infinity
    for (const x of this.timers) if (x > t && x < best) best = x
    return best
  }
  dropTimersUpTo(t: number) {
    for (let i = this.timers.length - 1; i >= 0; i--) if (this.timers[i] <= t) this.timers.splice(i, 1)
  }
}

/** Drives a LogWorld over the log; `at(t, w)` sees the state that holds from t until the next call. */
const sweep = (events: ReadonlyArray<Ev>, c: InvariantContext, at: (t: number, w: LogWorld, applied: ReadonlyArray<Ev>) => void): { end: number | null } => {
  const w = new LogWorld(c)
  let i = 0
  let end: number | null = null
  while (i < events.length) {
    const tEvent = events[i].t
    const tTimer = w.nextTimer(-Infinity)
    if (tTimer < tEvent) {
      w.dropTimersUpTo(tTimer)
      at(tTimer, w, [])
      continue
    }
    const batch: Array<Ev> = []
    while (i < events.length && events[i].t === tEvent) {
      const e = events[i++]
      if (e.ev === "end") end = e.t
      w.apply(e)
      batch.push(e)
    }
    w.dropTimersUpTo(tEvent)
    at(tEvent, w, batch)
    if (end !== null) break
  }
  return { end }
}

// ---------------------------------------------------------------- 5a. min reached

/**
 * SPEC §6.5 (first half): in auto mode with a healthy cloud, each resource
 * has at least its min nodes in the cluster (joined and not being destroyed)
 * within max_launch_time (plus the allowances of `minDeadline`).
 *
 * Judged only while the resource is healthy: auto mode on, no random API
 * errors configured for it (failed refreshes are not in the log), and no
 * fault touching it, failed or refused boot, or boot destroyed before it
 * joined (a slow cloud) within the backoff lead before. The clock starts when
 * it is healthy, below min and has no instance starting (the engine waits for
 * those before it boots the difference). The effective min follows freeze
 * (the frozen count), drain (0) and restore.
 */
export const checkMinReached = (events: ReadonlyArray<Ev>, c: InvariantContext, coverage?: Coverage): Array<Violation> => {
  const out: Array<Violation> = []
  const tally = new Tally(coverage)
  const since = new Map<string, number>()
  const reported = new Set<string>()
  const check = (t: number, w: LogWorld) => {
    for (const [r, s] of since) {
      const facts = c.resources.get(r)!
      const d = minDeadline(c, facts)
      if (t - s > d && !reported.has(r)) {
        reported.add(r)
        out.push({
          invariant: "min",
          t: r3(s + d),
          message: `${r} stayed below its min of ${w.effectiveMin(r)} (live ${w.live(r)}) from ${s} s for more than ${r3(d)} s with a healthy cloud`,
          evidence: events.filter((e) => e.t >= s && e.t <= s + d && (e.resource === r || (e.ev === "operator" && e.target === r))).slice(0, 20).map(line)
        })
      }
    }
  }
  sweep(events, c, (t, w, applied) => {
    check(t, w)
    for (const [r, facts] of c.resources) {
      const why =
        w.live(r) >= w.effectiveMin(r)
          ? "at min"
          : !w.auto
            ? "auto mode off"
            : facts.apiErrorRate > 0
              ? "random API errors"
              : w.outageOn(r, t) || w.batchFailing(t) || (w.unhealthyUntil.get(r) ?? -Infinity) > t
                ? "fault or failed boot"
                : !since.has(r) && w.starting(r) > 0
                  ? "instance starting"
                  : null
      if (why !== null) since.delete(r)
      else if (!since.has(r)) since.set(r, t)
      if (why === "at min") tally.stop(r, t)
      else tally.mark(r, t, why)
    }
    if (applied.some((e) => e.ev === "end")) for (const r of c.resources.keys()) tally.stop(r, t)
  })
  return out
}

// ---------------------------------------------------------------- 5b. queued jobs get nodes

const mayUseRes = (j: MJob, res: Reservation): boolean =>
  (res.account === null || j.account === res.account) && (res.queue === null || j.queue === res.queue) && (j.property === null || j.property === res.property)

const nodeTakes = (n: MNode, j: MJob): boolean => {
  if (!n.online || n.down) return false
  const r = n.reservation
  if (r.queue !== null && r.queue !== j.queue) return false
  if (r.account !== null && r.account !== j.account) return false
  if (j.property !== null && !n.properties.includes(j.property)) return false
  return true
}

/**
 * Whether a batch scheduler could start the job on the cores free now: a
 * spread job needs that many free cores on nodes that take it; a job with
 * cores per node needs k − 1 distinct nodes with that many free and one more
 * with the remainder. Any placement counts, not only the simulated
 * scheduler's single first-fit pass (which misses some that Maui or Slurm
 * would find): a policy may rightly count such cores as capacity.
 */
const placeableNow = (w: LogWorld, j: MJob): boolean => {
  if (j.cpn <= 0) {
    let free = 0
    for (const n of w.nodes.values()) if (n.free > 0 && nodeTakes(n, j)) free += n.free
    return free >= j.cores
  }
  const k = Math.ceil(j.cores / j.cpn)
  const rem = j.cores - (k - 1) * j.cpn
  let big = 0
  let small = 0
  for (const n of w.nodes.values()) {
    if (!nodeTakes(n, j)) continue
    if (n.free >= j.cpn) big++
    else if (n.free >= rem) small++
  }
  return big >= k || (big >= k - 1 && small >= 1)
}

/** A running job with a walltime on a node the job could use: a policy may count its cores as soon free. */
const soonFreeFor = (w: LogWorld, c: InvariantContext, j: MJob): boolean => {
  for (const n of w.nodes.values()) {
    if (n.jobs.size === 0 || !nodeTakes({ ...n, online: true }, j)) continue
    for (const id of n.jobs.keys()) if ((c.walltime.get(id) ?? null) !== null) return true
  }
  return false
}

/** A resource the job fits in now, healthy, with room for the nodes it needs (by configured max, quota, backoff). */
const fitsHealthy = (w: LogWorld, c: InvariantContext, j: MJob, t: number): boolean => {
  for (const [r, f] of c.resources) {
    if (!mayUseRes(j, f.reservation) || f.cores <= 0 || j.cpn > f.cores) continue
    if (f.apiErrorRate > 0 || w.outageOn(r, t) || (w.backoffUntil.get(r) ?? -Infinity) > t || w.mode(r) !== "normal") continue
    const need = j.cpn > 0 ? Math.ceil(j.cores / j.cpn) : Math.ceil(j.cores / f.cores)
    if (f.cfgMax - w.counted(r, t) < need) continue
    if (f.quota !== null && f.quota - w.alive(r) < need) continue
    return true
  }
  return false
}

/**
 * SPEC §6.5 (second half): a queued job that fits a resource gets a node
 * started within auto_provision_interval + one cluster poll (+ the
 * allowances of `provisionDeadline`).
 *
 * The clock runs only while the engine has no excuse, i.e. while all of
 * these hold: auto mode is on; the batch system answers; no instance is
 * starting anywhere (classic starts one wave at a time, and any policy may
 * count starting nodes as capacity); no placement on the cores free now could
 * start the job (see `placeableNow`); no job with a walltime runs on a node it
 * could use (soon-free capacity); and some resource it may use (reservation,
 * cores per node) is healthy (no random API errors, no outage, no refused
 * boot within the backoff lead), Normal (not frozen or draining) and has room
 * for the nodes it needs below its configured max and quota. A boot or a
 * refused boot in a resource the job may use restarts the clock; the job's
 * start ends it. Lenient on purpose: it proves liveness, not efficiency.
 */
export const checkJobsProvisioned = (events: ReadonlyArray<Ev>, c: InvariantContext, coverage?: Coverage): Array<Violation> => {
  const out: Array<Violation> = []
  const tally = new Tally(coverage)
  const deadline = provisionDeadline(c)
  const since = new Map<string, number>()
  const reported = new Set<string>()
  const check = (t: number, w: LogWorld) => {
    for (const [id, s] of since) {
      if (t - s <= deadline || reported.has(id)) continue
      reported.add(id)
      const j = w.jobs.get(id)
      out.push({
        invariant: "provision",
        t: r3(s + deadline),
        message: `job ${id} (${j?.cores} core(s), ${j?.cpn} per node, queue ${j?.queue}, account ${j?.account}, property ${j?.property}) fits a resource with room but no node was started for it from ${s} s for more than ${r3(deadline)} s`,
        evidence: [...(j ? [line(j.submit)] : []), ...events.filter((e) => e.t >= s && e.t <= s + deadline && (e.ev === "boot" || e.ev === "boot_failed" || e.ev === "operator" || e.ev === "restart" || e.ev === "fault")).slice(0, 20).map(line)]
      })
    }
  }
  sweep(events, c, (t, w, applied) => {
    check(t, w)
    const touched = applied.filter((e) => e.ev === "boot" || (e.ev === "boot_failed" && e.instance === undefined))
    const global = !w.auto ? "auto mode off" : w.batchFailing(t) ? "batch system failing" : w.anyStarting() ? "instance starting" : null
    const ended = applied.some((e) => e.ev === "end")
    for (const j of w.jobs.values()) {
      if (j.state !== "queued" || ended) {
        since.delete(j.id)
        tally.stop(j.id, t)
        continue
      }
      const why =
        global ??
        (c.monitored.length > 0 && (j.queue === null || !c.monitored.includes(j.queue))
          ? "queue not monitored"
          : placeableNow(w, j)
            ? "free cores can take it"
            : soonFreeFor(w, c, j)
              ? "walltime job on a usable node"
              : !fitsHealthy(w, c, j, t)
                ? "no healthy resource with room"
                : null)
      tally.mark(j.id, t, why)
      if (why !== null) {
        since.delete(j.id)
        continue
      }
      const acted = touched.some((e) => {
        const f = c.resources.get(e.resource)
        return f !== undefined && mayUseRes(j, f.reservation)
      })
      if (acted || !since.has(j.id)) since.set(j.id, t)
    }
  })
  return out
}

// ---------------------------------------------------------------- 6. no crash, no corrupted view

/**
 * SPEC §6.6: the run ended normally (an `end` line, no `crash` line written
 * by the harness when runScenario threw), and the engine's final view holds
 * no ghost: no tracked node whose instance was never booted or has been gone
 * longer than the engine needs to notice (one cloud poll and a task).
 */
export const checkNoCrash = (events: ReadonlyArray<Ev>, c?: InvariantContext, final?: FinalState | null): Array<Violation> => {
  const out: Array<Violation> = []
  for (const e of events)
    if (e.ev === "crash") out.push({ invariant: "no-crash", t: e.t, message: `the scaler crashed: ${String(e.error).split("\n")[0]}`, evidence: [line(e)] })
  const end = events.find((e) => e.ev === "end")
  if (end === undefined && out.length === 0) {
    const last = events[events.length - 1]
    out.push({ invariant: "no-crash", t: last?.t ?? 0, message: "the run did not end (no end line)", evidence: last ? [line(last)] : [] })
  }
  if (end === undefined || c === undefined || final == null) return out
  const booted = new Map<string, Ev>()
  const gone = new Map<string, Ev>()
  for (const e of events) {
    if (e.ev === "boot") booted.set(e.instance, e)
    if (e.ev === "gone") gone.set(e.instance, e)
  }
  const lastDisturbance = disturbances(events)
  const grace = forgetGrace(c) + c.cloudPoll
  for (const n of final.nodes) {
    if (n.instance === null) continue
    if (!booted.has(n.instance)) {
      out.push({ invariant: "no-crash", t: end.t, message: `the engine tracks ${n.hostname} (${n.instance}), an instance that was never booted`, evidence: [] })
      continue
    }
    const g = gone.get(n.instance)
    const facts = c.resources.get(n.resource)
    if (g === undefined || (facts !== undefined && facts.apiErrorRate > 0)) continue
    if (end.t - Math.max(g.t, lastDisturbance(n.resource)) > grace)
      out.push({ invariant: "no-crash", t: end.t, message: `the engine still tracks ${n.hostname} (${n.instance}), gone since ${g.t} s`, evidence: [line(booted.get(n.instance)!), line(g)] })
  }
  return out
}

// ---------------------------------------------------------------- all of them

export const INVARIANTS: ReadonlyArray<InvariantName> = ["max", "no-destroy-kill", "spot-hold", "no-job-lost", "physical", "no-leak", "min", "provision", "no-crash"]

/** Every invariant over one run's log. */
export const checkAll = (
  events: ReadonlyArray<Ev>,
  c: InvariantContext,
  final: FinalState | null,
  coverage?: { readonly min: Coverage; readonly provision: Coverage }
): Array<Violation> => [
  ...checkNoCrash(events, c, final),
  ...checkMaxInstances(events, c),
  ...checkNoDestroyKill(events),
  ...checkSpotHold(events, c),
  ...checkNoJobLost(events),
  ...checkPhysicalUntouched(events, c),
  ...checkNoLeak(events, c, final),
  ...checkMinReached(events, c, coverage?.min),
  ...checkJobsProvisioned(events, c, coverage?.provision)
]

export const formatViolation = (v: Violation): string =>
  `[${v.invariant}] t=${v.t}s ${v.message}${v.evidence.length > 0 ? "\n    " + v.evidence.join("\n    ") : ""}`
