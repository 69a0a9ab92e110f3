/**
 * The simulated world (DESIGN.md "The simulated world"): virtual time, a batch
 * system with a scheduler, a cloud whose boots take time and can fail, faults,
 * and the event log that every check reads. It knows nothing of the engine:
 * the engine sees it only through the SimCluster/SimCloud layers.
 */
import { billedSeconds, type Billing } from "../model/billing.ts"
import { InstanceState, type Reservation } from "../model/types.ts"
import { EventHeap, less } from "./heap.ts"
import { sample, type Distribution, type Rng } from "./random.ts"
import type { WorkloadJob } from "./workload.ts"

// ---------------------------------------------------------------- specification

export interface SimResourceSpec {
  readonly name: string
  /** vCPUs of each instance. */
  readonly cores: number
  /** Instance names start with this (the resource's instance_name_prefix). */
  readonly prefix: string
  /** Seconds from the boot request until the instance is Active. */
  readonly bootTime: Distribution
  /** Seconds from Active until the configuration checker says Ready. */
  readonly configTime: Distribution
  /** Probability that a boot ends with the instance in Error. */
  readonly bootFailureRate: number
  /** Instances the cloud lets exist at once (null = no quota). */
  readonly quota: number | null
  /** Probability that one cloud API call fails with a server error. */
  readonly apiErrorRate: number
  /** Seconds from a destroy request until the instance is gone. */
  readonly destroyTime: number
  /** Price per node-hour (null = not priced). */
  readonly price: number | null
  /**
   * Spot instances: the cloud may take them back (the `spot_interruption`
   * fault), and reports each with a spot request status code as EC2 does
   * (src/engine/spot.ts). Absent = on-demand.
   */
  readonly spot?: boolean
  /** How the price is billed (`cloud.<name>.billing`); absent/null: per second, no minimum. */
  readonly billing?: Billing | null
}

export interface SimPhysicalNode {
  readonly hostname: string
  readonly cores: number
  readonly properties?: ReadonlyArray<string>
}

export type FaultSpec =
  | { readonly kind: "outage"; readonly resource: string; readonly at: number; readonly duration: number }
  | { readonly kind: "slow_boots"; readonly resource: string; readonly at: number; readonly duration: number; readonly factor: number }
  | { readonly kind: "instance_death"; readonly at: number; readonly resource?: string | undefined; readonly count: number }
  | { readonly kind: "batch_failure"; readonly at: number; readonly duration: number; readonly mode: "fail" | "garbage" | "empty" }
  | { readonly kind: "restart"; readonly at: number }
  /**
   * The cloud takes `count` running spot instances back (of `resource`, or of
   * any spot resource): each gets the notice `marked-for-termination` at
   * `at`, and `warning` seconds later it is terminated with `code`
   * (instance-terminated-by-price, …), killing the jobs on it; with
   * `resubmit` the batch system puts those jobs back in the queue.
   */
  | {
      readonly kind: "spot_interruption"
      readonly at: number
      readonly resource?: string | undefined
      readonly count: number
      readonly warning: number
      readonly code: string
      readonly resubmit: boolean
    }

export interface WorldSpec {
  readonly physical: ReadonlyArray<SimPhysicalNode>
  readonly resources: ReadonlyArray<SimResourceSpec>
  readonly jobs: ReadonlyArray<WorkloadJob>
  readonly faults: ReadonlyArray<FaultSpec>
  /** Seconds between scheduler passes of the batch system. */
  readonly schedulerCycle: number
  /** Seconds after the workload is done (all jobs ended) until the run ends. */
  readonly drain: number
  /** Hard end (seconds from start), whatever remains. */
  readonly maxTime: number | null
}

// ---------------------------------------------------------------- internal state

export interface BNode {
  readonly hostname: string
  readonly cores: number
  free: number
  readonly jobs: Map<string, number> // job id → cores on this node
  /** Bumped whenever `jobs` changes (a cluster view reuses a node's entry while it stays). */
  jobsGen: number
  online: boolean
  down: boolean
  readonly physical: boolean
  readonly instanceId: string | null
  readonly resource: string | null
  readonly reservation: Reservation
  readonly properties: ReadonlyArray<string>
}

export interface BJob {
  readonly spec: WorkloadJob
  state: "pending" | "queued" | "running" | "done" | "killed"
  start: number
  /** host → cores on it */
  hosts: Array<[string, number]>
  cloudCores: number
  seq: number
}

export interface CInst {
  readonly id: string
  readonly name: string
  readonly resource: string
  state: InstanceState
  readonly created: number
  readonly cores: number
  readyAt: number
  gone: boolean
  goneAt: number
  /** The batch node it became, once joined. */
  host: string | null
  /** A spot instance's request status code once it differs from `fulfilled` (an interruption notice, then its end). */
  spotStatus: string | null
}

type WorldEvent =
  | { t: number; seq: number; kind: "submit"; job: BJob }
  | { t: number; seq: number; kind: "finish"; job: BJob; start: number }
  | { t: number; seq: number; kind: "schedule" }
  | { t: number; seq: number; kind: "inst_starting"; inst: CInst }
  | { t: number; seq: number; kind: "inst_active"; inst: CInst }
  | { t: number; seq: number; kind: "inst_error"; inst: CInst }
  | { t: number; seq: number; kind: "inst_gone"; inst: CInst }
  | { t: number; seq: number; kind: "fault"; fault: FaultSpec }
  | { t: number; seq: number; kind: "fault_end"; fault: FaultSpec }
  | { t: number; seq: number; kind: "reclaim"; inst: CInst; fault: Extract<FaultSpec, { kind: "spot_interruption" }> }

export type EventSink = (line: string) => void

const ms = (x: number) => Math.round(x * 1000) / 1000

export interface ResourceStats {
  boots: number
  failedBoots: number
  peakNodes: number
  /** Σ instance lifetime (boot → gone) in seconds. */
  nodeSeconds: number
  /** Σ billed seconds of those lifetimes under the resource's billing model (= nodeSeconds without one). */
  billedSeconds: number
  coreSeconds: number
  usefulCoreSeconds: number
  live: number
}

export class SimWorld {
  now = 0
  private seq = 0
  private readonly heap = new EventHeap<WorldEvent>()
  /**
   * The workload's submit events, sorted by (t, seq), consumed from `nextSubmit`
   * on: merged with the heap by the same order, so that the heap only holds
   * what is in flight (a year of trace is ~10⁵ submits: each pop would sift through them).
   */
  private readonly submits: Array<WorldEvent> = []
  private nextSubmit = 0
  readonly nodes = new Map<string, BNode>()
  readonly jobs = new Map<string, BJob>()
  /** Queued jobs in scheduling order (priority desc, then submit order). */
  private queue: Array<BJob> = []
  private queueSorted = true
  /**
   * Bumped whenever the queue's content or order may change (a sort changes
   * the order without a log line, so without a new `version`): with
   * `version` it says whether a cluster view is still current.
   */
  queueGen = 0
  readonly instances = new Map<string, CInst>()
  private readonly byName = new Map<string, CInst>()
  private instCounter = 0
  private scheduleAt: number | null = null
  private readonly res = new Map<string, SimResourceSpec>()
  readonly stats = new Map<string, ResourceStats>()
  private readonly outage = new Map<string, number>() // resource → active outage count
  private readonly slow = new Map<string, number>() // resource → boot-time factor
  /** empty: the node command prints nothing and exits 0 (pbsnodes -x, qhost -xml on a confused server). */
  batchMode: "ok" | "fail" | "garbage" | "empty" = "ok"
  /** Restart faults due; the runner consumes them. */
  readonly restarts: Array<number> = []
  // counters for the summary
  submitted = 0
  started = 0
  finished = 0
  killed = 0
  /** Killed jobs put back in the queue (a spot_interruption fault with `resubmit`). */
  resubmitted = 0
  /** Spot instances the cloud took back (terminated at the end of their notice). */
  reclaimed = 0
  private remaining: number
  lastJobEnd = 0
  readonly waits: Array<number> = []
  faultsInjected = 0

  constructor(
    readonly spec: WorldSpec,
    private readonly rng: Rng,
    private readonly emit: EventSink
  ) {
    for (const r of spec.resources) {
      this.res.set(r.name, r)
      this.stats.set(r.name, { boots: 0, failedBoots: 0, peakNodes: 0, nodeSeconds: 0, billedSeconds: 0, coreSeconds: 0, usefulCoreSeconds: 0, live: 0 })
    }
    this.bootRng = rng.fork("boots")
    this.apiRng = rng.fork("api")
    this.faultRng = rng.fork("faults")
    for (const p of spec.physical) {
      this.nodes.set(p.hostname, {
        hostname: p.hostname,
        cores: p.cores,
        free: p.cores,
        jobs: new Map(),
        jobsGen: 0,
        online: true,
        down: false,
        physical: true,
        instanceId: null,
        resource: null,
        reservation: { queue: null, account: null, property: null },
        properties: p.properties ?? []
      })
      this.log(`{"t":0,"ev":"physical","host":${JSON.stringify(p.hostname)},"cores":${p.cores}}`)
    }
    let seq = 0
    for (const j of spec.jobs) {
      const job: BJob = { spec: j, state: "pending", start: -1, hosts: [], cloudCores: 0, seq: seq++ }
      this.jobs.set(j.id, job)
      this.submits.push({ t: ms(j.submit), seq: this.seq++, kind: "submit", job })
    }
    this.submits.sort((a, b) => (less(a, b) ? -1 : less(b, a) ? 1 : 0))
    this.remaining = spec.jobs.length
    for (const f of spec.faults) this.push({ t: ms(f.at), seq: 0, kind: "fault", fault: f })
  }

  private readonly bootRng: Rng
  private readonly apiRng: Rng
  private readonly faultRng: Rng

  private push(e: WorldEvent) {
    e.seq = this.seq++
    this.heap.push(e)
  }

  /** Bumped by every change the engine could observe (every change writes a log line). */
  version = 0

  private log(line: string) {
    this.version++
    this.emit(line)
  }

  /** Time of the next world event, or Infinity. */
  nextEventTime(): number {
    return this.peekEvent()?.t ?? Infinity
  }

  /** The next world event: the heap's or the next submit, whichever comes first in (t, seq) order. */
  private peekEvent(): WorldEvent | undefined {
    const h = this.heap.peek()
    const s = this.nextSubmit < this.submits.length ? this.submits[this.nextSubmit] : undefined
    if (s === undefined) return h
    return h === undefined || less(s, h) ? s : h
  }

  /** All jobs have ended (finished or killed). */
  workloadDone(): boolean {
    return this.remaining === 0
  }

  resourceSpec(name: string): SimResourceSpec | undefined {
    return this.res.get(name)
  }

  /** Process every world event at exactly time `t` (the caller advanced `now` to it). */
  processEventsAt(t: number): void {
    this.now = t
    for (;;) {
      const e = this.peekEvent()
      if (e === undefined || e.t > t) break
      if (e === this.heap.peek()) this.heap.pop()
      else this.nextSubmit++
      this.handle(e)
    }
  }

  private handle(e: WorldEvent) {
    switch (e.kind) {
      case "submit": {
        const j = e.job
        j.state = "queued"
        this.queue.push(j)
        this.queueSorted = false
        this.queueGen++
        this.submitted++
        const s = j.spec
        this.log(
          `{"t":${this.now},"ev":"submit","job":${JSON.stringify(s.id)},"cores":${s.cores},"cpn":${s.cpn},"queue":${JSON.stringify(s.queue)},"account":${JSON.stringify(s.account)},"property":${JSON.stringify(s.property)},"runtime":${s.runtime}}`
        )
        this.wantSchedule()
        return
      }
      case "finish": {
        const j = e.job
        if (j.state !== "running" || j.start !== e.start) return // killed before its end
        this.release(j)
        j.state = "done"
        this.finished++
        this.remaining--
        this.lastJobEnd = this.now
        this.log(`{"t":${this.now},"ev":"finish","job":${JSON.stringify(j.spec.id)}}`)
        this.wantSchedule()
        return
      }
      case "schedule":
        this.scheduleAt = null
        this.schedule()
        return
      case "inst_starting":
        if (!e.inst.gone && e.inst.state === InstanceState.Pending) {
          e.inst.state = InstanceState.Starting
          this.version++
        }
        return
      case "inst_active": {
        const i = e.inst
        if (i.gone || (i.state !== InstanceState.Pending && i.state !== InstanceState.Starting)) return
        i.state = InstanceState.Active
        const r = this.res.get(i.resource)!
        i.readyAt = ms(this.now + Math.max(0, sample(r.configTime, this.bootRng)))
        this.log(`{"t":${this.now},"ev":"active","instance":${JSON.stringify(i.id)},"host":${JSON.stringify(i.name)}}`)
        return
      }
      case "inst_error": {
        const i = e.inst
        if (i.gone || i.state === InstanceState.Deleting) return
        i.state = InstanceState.Error
        this.stats.get(i.resource)!.failedBoots++
        this.log(`{"t":${this.now},"ev":"boot_failed","resource":${JSON.stringify(i.resource)},"reason":"instance error","instance":${JSON.stringify(i.id)}}`)
        return
      }
      case "inst_gone": {
        const i = e.inst
        if (i.gone) return
        this.retire(i)
        return
      }
      case "fault":
        this.startFault(e.fault)
        return
      case "fault_end":
        this.endFault(e.fault)
        return
      case "reclaim":
        this.reclaim(e.inst, e.fault)
        return
    }
  }

  // ------------------------------------------------------------ scheduler

  private wantSchedule() {
    if (this.scheduleAt !== null) return
    const c = this.spec.schedulerCycle
    const t = ms(Math.floor(this.now / c) * c + c)
    this.scheduleAt = t
    this.push({ t, seq: 0, kind: "schedule" })
  }

  private fits(n: BNode, j: WorkloadJob): boolean {
    if (!n.online || n.down) return false
    const r = n.reservation
    if (r.queue !== null && r.queue !== j.queue) return false
    if (r.account !== null && r.account !== j.account) return false
    if (j.property !== null && !n.properties.includes(j.property)) return false
    return true
  }

  /** First fit in priority order on online nodes; nothing is preempted. */
  private schedule() {
    if (!this.queueSorted) {
      this.queue.sort((a, b) => b.spec.priority - a.spec.priority || a.seq - b.seq)
      this.queueSorted = true
      this.queueGen++
    }
    let totalFree = 0
    for (const n of this.nodes.values()) if (n.online && !n.down) totalFree += n.free
    if (totalFree === 0 || this.queue.length === 0) return
    const keep: Array<BJob> = []
    // Shapes (cores, cores per node, queue, account, property) that found no
    // place in this pass: nodes only lose free cores while it runs, so a job
    // of the same shape finds none either. Without this, 100,000 queued jobs
    // whose cores are free only in pieces each scanned every node (80 s).
    const failed = new Set<string>()
    for (let qi = 0; qi < this.queue.length; qi++) {
      const j = this.queue[qi]
      if (j.state !== "queued") continue
      if (totalFree <= 0 || j.spec.cores > totalFree) {
        keep.push(j)
        continue
      }
      const s = j.spec
      const shape = `${s.cores}\u0000${s.cpn}\u0000${s.queue === null ? "-" : "q" + s.queue}\u0000${s.account === null ? "-" : "a" + s.account}\u0000${s.property === null ? "-" : "p" + s.property}`
      if (failed.has(shape)) {
        keep.push(j)
        continue
      }
      const placed = this.place(j.spec)
      if (placed === null) {
        failed.add(shape)
        keep.push(j)
        continue
      }
      totalFree -= j.spec.cores
      this.startJob(j, placed)
    }
    this.queue = keep
    this.queueGen++
  }

  private place(j: WorkloadJob): Array<[BNode, number]> | null {
    const out: Array<[BNode, number]> = []
    if (j.cpn <= 0) {
      let need = j.cores
      for (const n of this.nodes.values()) {
        if (n.free <= 0 || !this.fits(n, j)) continue
        const take = Math.min(n.free, need)
        out.push([n, take])
        need -= take
        if (need === 0) return out
      }
      return null
    }
    const k = Math.ceil(j.cores / j.cpn)
    let left = j.cores
    for (const n of this.nodes.values()) {
      const want = Math.min(j.cpn, left)
      if (n.free < want || !this.fits(n, j)) continue
      out.push([n, want])
      left -= want
      if (out.length === k) return out
    }
    return null
  }

  private startJob(j: BJob, placed: Array<[BNode, number]>) {
    j.state = "running"
    j.start = this.now
    j.hosts = placed.map(([n, c]) => [n.hostname, c])
    j.cloudCores = 0
    for (const [n, c] of placed) {
      n.free -= c
      n.jobs.set(j.spec.id, c)
      n.jobsGen++
      if (!n.physical) j.cloudCores += c
    }
    this.started++
    this.waits.push(this.now - j.spec.submit)
    this.log(`{"t":${this.now},"ev":"start","job":${JSON.stringify(j.spec.id)},"hosts":${JSON.stringify(j.hosts.map((h) => h[0]))},"per_host":${JSON.stringify(j.hosts.map((h) => h[1]))}}`)
    this.push({ t: ms(this.now + Math.max(0, j.spec.runtime)), seq: 0, kind: "finish", job: j, start: this.now })
  }

  private release(j: BJob) {
    for (const [h, c] of j.hosts) {
      const n = this.nodes.get(h)
      if (n !== undefined && n.jobs.delete(j.spec.id)) {
        n.free += c
        n.jobsGen++
      }
    }
    if (j.cloudCores > 0) {
      // useful core-seconds of the part that ran on cloud nodes, per resource
      for (const [h, c] of j.hosts) {
        const n = this.nodes.get(h)
        const res = n?.resource
        if (res != null) this.stats.get(res)!.usefulCoreSeconds += c * (this.now - j.start)
      }
    }
  }

  /**
   * Kill every job on a node (destroy, vacate, crash, a spot interruption);
   * with `resubmit` each goes back to the queue (a `resubmit` line) instead
   * of ending.
   */
  private killJobsOn(n: BNode, cause: "destroy" | "vacate" | "crash" | "interruption", resubmit = false) {
    for (const id of [...n.jobs.keys()]) {
      const j = this.jobs.get(id)
      if (j === undefined || j.state !== "running") continue
      this.release(j)
      j.state = "killed"
      this.killed++
      this.remaining--
      this.lastJobEnd = this.now
      this.log(`{"t":${this.now},"ev":"killed","job":${JSON.stringify(id)},"host":${JSON.stringify(n.hostname)},"cause":"${cause}"}`)
      if (resubmit) {
        j.state = "queued"
        j.hosts = []
        j.cloudCores = 0
        this.remaining++
        this.resubmitted++
        this.queue.push(j)
        this.queueSorted = false
        this.queueGen++
        this.log(`{"t":${this.now},"ev":"resubmit","job":${JSON.stringify(id)}}`)
      }
    }
    this.wantSchedule()
  }

  // ------------------------------------------------------------ batch system operations (SimCluster)

  /** Queued jobs (state Queued), scheduling order. */
  queuedJobs(): ReadonlyArray<BJob> {
    return this.queue
  }

  joinNode(hostname: string, cores: number, resource: string, reservation: Reservation, instanceName: string | null): string | null {
    const inst = instanceName !== null ? this.byName.get(instanceName) : undefined
    if (inst === undefined || inst.gone || (inst.state !== InstanceState.Active && inst.state !== InstanceState.Ready))
      return `no running machine answers as ${hostname}`
    const existing = this.nodes.get(hostname)
    if (existing !== undefined) return null
    this.nodes.set(hostname, {
      hostname,
      cores: inst.cores || cores,
      free: inst.cores || cores,
      jobs: new Map(),
      jobsGen: 0,
      online: true,
      down: false,
      physical: false,
      instanceId: inst.id,
      resource,
      reservation,
      properties: reservation.property !== null ? [reservation.property] : []
    })
    inst.host = hostname
    this.log(`{"t":${this.now},"ev":"join","host":${JSON.stringify(hostname)},"instance":${JSON.stringify(inst.id)}}`)
    this.wantSchedule()
    return null
  }

  /**
   * A machine of a live cloud joins the simulated batch system (issue 6: a
   * simulated batch system under a live cloud): the world does not own it,
   * so it only takes the node's word for its cores.
   */
  joinExternalNode(hostname: string, cores: number, resource: string, reservation: Reservation, instanceName: string | null): string | null {
    if (this.nodes.has(hostname)) return null
    if (!(cores > 0)) return `${hostname} has no cores to offer`
    // useful core-seconds of jobs on it are booked to its resource
    if (!this.stats.has(resource)) this.stats.set(resource, { boots: 0, failedBoots: 0, peakNodes: 0, nodeSeconds: 0, billedSeconds: 0, coreSeconds: 0, usefulCoreSeconds: 0, live: 0 })
    this.nodes.set(hostname, {
      hostname,
      cores,
      free: cores,
      jobs: new Map(),
      jobsGen: 0,
      online: true,
      down: false,
      physical: false,
      instanceId: null,
      resource,
      reservation,
      properties: reservation.property !== null ? [reservation.property] : []
    })
    this.log(`{"t":${this.now},"ev":"join","host":${JSON.stringify(hostname)},"instance":${JSON.stringify(instanceName)},"external":true}`)
    this.wantSchedule()
    return null
  }

  /**
   * The machine behind a node that joined with joinExternalNode went away
   * (the live cloud destroyed it, or it died): whatever runs there dies with
   * it. `gone` also takes it out of the batch system; otherwise it stays in
   * it, down, until it is removed.
   */
  loseExternalNode(hostname: string, cause: "destroy" | "crash", gone: boolean): void {
    const n = this.nodes.get(hostname)
    if (n === undefined || n.physical || n.instanceId !== null) return
    this.killJobsOn(n, cause)
    if (!n.down) {
      n.down = true
      this.log(`{"t":${this.now},"ev":"lost","host":${JSON.stringify(hostname)},"cause":"${cause}","external":true}`)
    }
    if (gone) {
      this.nodes.delete(hostname)
      this.log(`{"t":${this.now},"ev":"leave","host":${JSON.stringify(hostname)}}`)
    }
  }

  /** Remove a node from the batch system. Refused while jobs run on it. */
  removeNode(hostname: string): string | null {
    const n = this.nodes.get(hostname)
    if (n === undefined) return null
    if (n.physical) this.log(`{"t":${this.now},"ev":"touch_physical","host":${JSON.stringify(hostname)},"op":"remove"}`)
    if (n.jobs.size > 0) return `${hostname} still runs ${n.jobs.size} job(s)`
    this.nodes.delete(hostname)
    this.log(`{"t":${this.now},"ev":"leave","host":${JSON.stringify(hostname)}}`)
    return null
  }

  holdNode(hostname: string): string | null {
    const n = this.nodes.get(hostname)
    if (n === undefined) return `unknown node ${hostname}`
    if (n.physical) this.log(`{"t":${this.now},"ev":"touch_physical","host":${JSON.stringify(hostname)},"op":"hold"}`)
    if (n.online) {
      n.online = false
      this.log(`{"t":${this.now},"ev":"hold","host":${JSON.stringify(hostname)}}`)
    }
    return null
  }

  unholdNode(hostname: string): string | null {
    const n = this.nodes.get(hostname)
    if (n === undefined) return `unknown node ${hostname}`
    if (n.physical) this.log(`{"t":${this.now},"ev":"touch_physical","host":${JSON.stringify(hostname)},"op":"unhold"}`)
    if (!n.online) {
      n.online = true
      this.log(`{"t":${this.now},"ev":"unhold","host":${JSON.stringify(hostname)}}`)
      this.wantSchedule()
    }
    return null
  }

  vacateNode(hostname: string): string | null {
    const n = this.nodes.get(hostname)
    if (n === undefined) return `unknown node ${hostname}`
    if (n.physical) this.log(`{"t":${this.now},"ev":"touch_physical","host":${JSON.stringify(hostname)},"op":"vacate"}`)
    this.killJobsOn(n, "vacate")
    return null
  }

  // ------------------------------------------------------------ cloud operations (SimCloud)

  private apiFails(resource: string): boolean {
    if ((this.outage.get(resource) ?? 0) > 0) return true
    const r = this.res.get(resource)
    return r !== undefined && r.apiErrorRate > 0 && this.apiRng.next() < r.apiErrorRate
  }

  /** Boot one instance; a string is the cloud's refusal, with its kind. */
  boot(resource: string): CInst | { kind: "capacity" | "quota" | "api" | "notfound"; message: string } {
    const r = this.res.get(resource)
    if (r === undefined) return { kind: "notfound", message: `no such resource ${resource}` }
    if ((this.outage.get(resource) ?? 0) > 0) return this.bootRefused(resource, "api", "cloud outage: the API is not answering")
    if (r.apiErrorRate > 0 && this.apiRng.next() < r.apiErrorRate) return this.bootRefused(resource, "api", "API error (500)")
    if (r.quota !== null && this.stats.get(resource)!.live >= r.quota)
      return this.bootRefused(resource, "quota", `quota of ${r.quota} instances reached`)
    const n = ++this.instCounter
    const id = `i-${n.toString(16).padStart(8, "0")}`
    const name = `${r.prefix}-${n.toString().padStart(5, "0")}`
    const inst: CInst = {
      id,
      name,
      resource,
      state: InstanceState.Pending,
      created: this.now,
      cores: r.cores,
      readyAt: Infinity,
      gone: false,
      goneAt: 0,
      host: null,
      spotStatus: null
    }
    this.instances.set(id, inst)
    this.byName.set(name, inst)
    const st = this.stats.get(resource)!
    st.boots++
    st.live++
    st.peakNodes = Math.max(st.peakNodes, st.live)
    const factor = this.slow.get(resource) ?? 1
    const bt = Math.max(1, sample(r.bootTime, this.bootRng) * factor)
    const fails = r.bootFailureRate > 0 && this.bootRng.next() < r.bootFailureRate
    this.push({ t: ms(this.now + Math.min(5, bt / 4)), seq: 0, kind: "inst_starting", inst })
    this.push({ t: ms(this.now + bt), seq: 0, kind: fails ? "inst_error" : "inst_active", inst })
    this.log(`{"t":${this.now},"ev":"boot","resource":${JSON.stringify(resource)},"instance":"${id}","name":"${name}","cores":${r.cores}}`)
    return inst
  }

  private bootRefused(resource: string, kind: "quota" | "api" | "capacity", message: string) {
    this.stats.get(resource)!.failedBoots++
    this.log(`{"t":${this.now},"ev":"boot_failed","resource":${JSON.stringify(resource)},"reason":${JSON.stringify(message)}}`)
    return { kind, message }
  }

  /** The instance as the cloud sees it now; an API failure is a string. */
  describe(id: string, resource: string): CInst | "gone" | { kind: "api"; message: string } {
    if (this.apiFails(resource)) return { kind: "api", message: "API error (500)" }
    const i = this.instances.get(id)
    if (i === undefined || i.gone) return "gone"
    return i
  }

  list(resource: string): ReadonlyArray<CInst> | { kind: "api"; message: string } {
    if (this.apiFails(resource)) return { kind: "api", message: "API error (500)" }
    const out: Array<CInst> = []
    for (const i of this.instances.values()) if (i.resource === resource && !i.gone) out.push(i)
    return out
  }

  destroy(id: string, resource: string): null | { kind: "api"; message: string } {
    if (this.apiFails(resource)) return { kind: "api", message: "API error (500)" }
    const i = this.instances.get(id)
    if (i === undefined || i.gone || i.state === InstanceState.Deleting) return null
    i.state = InstanceState.Deleting
    const host = i.host
    this.log(`{"t":${this.now},"ev":"terminate","instance":"${i.id}","host":${JSON.stringify(host)}}`)
    if (host !== null) {
      const n = this.nodes.get(host)
      if (n !== undefined) {
        // The machine is going away: whatever runs there dies with it.
        this.killJobsOn(n, "destroy")
        n.down = true
      }
    }
    const r = this.res.get(resource)!
    this.push({ t: ms(this.now + r.destroyTime), seq: 0, kind: "inst_gone", inst: i })
    return null
  }

  /** The instance is gone from the cloud: its paid time ends. */
  private retire(i: CInst) {
    i.gone = true
    i.goneAt = this.now
    i.state = InstanceState.Inexistent
    const st = this.stats.get(i.resource)!
    st.live--
    st.nodeSeconds += this.now - i.created
    st.billedSeconds += billedSeconds(this.now - i.created, this.resourceSpec(i.resource)?.billing)
    st.coreSeconds += (this.now - i.created) * i.cores
    this.instances.delete(i.id)
    this.byName.delete(i.name)
    this.log(`{"t":${this.now},"ev":"gone","instance":"${i.id}"}`)
  }

  /** The checker's view: the VM finished its configuration. */
  isReady(id: string): boolean {
    const i = this.instances.get(id)
    return i !== undefined && !i.gone && (i.state === InstanceState.Active || i.state === InstanceState.Ready) && this.now >= i.readyAt
  }

  // ------------------------------------------------------------ faults

  private startFault(f: FaultSpec) {
    this.faultsInjected++
    switch (f.kind) {
      case "outage":
        this.outage.set(f.resource, (this.outage.get(f.resource) ?? 0) + 1)
        this.log(`{"t":${this.now},"ev":"fault","kind":"outage","resource":${JSON.stringify(f.resource)},"duration":${f.duration}}`)
        this.push({ t: ms(this.now + f.duration), seq: 0, kind: "fault_end", fault: f })
        return
      case "slow_boots":
        this.slow.set(f.resource, f.factor)
        this.log(`{"t":${this.now},"ev":"fault","kind":"slow_boots","resource":${JSON.stringify(f.resource)},"duration":${f.duration},"factor":${f.factor}}`)
        this.push({ t: ms(this.now + f.duration), seq: 0, kind: "fault_end", fault: f })
        return
      case "batch_failure":
        this.batchMode = f.mode
        this.log(`{"t":${this.now},"ev":"fault","kind":"batch_failure","mode":"${f.mode}","duration":${f.duration}}`)
        this.push({ t: ms(this.now + f.duration), seq: 0, kind: "fault_end", fault: f })
        return
      case "restart":
        this.restarts.push(this.now)
        return
      case "spot_interruption": {
        const alive = [...this.instances.values()].filter(
          (i) =>
            !i.gone &&
            i.spotStatus === null &&
            this.res.get(i.resource)?.spot === true &&
            (f.resource === undefined || i.resource === f.resource) &&
            (i.state === InstanceState.Active || i.state === InstanceState.Ready)
        )
        const victims: Array<CInst> = []
        for (let k = 0; k < f.count && alive.length > 0; k++) victims.push(alive.splice(this.faultRng.int(0, alive.length - 1), 1)[0])
        this.log(
          `{"t":${this.now},"ev":"fault","kind":"spot_interruption","instances":${JSON.stringify(victims.map((v) => v.id))},"warning":${f.warning},"code":${JSON.stringify(f.code)}}`
        )
        for (const i of victims) {
          i.spotStatus = "marked-for-termination"
          this.push({ t: ms(this.now + f.warning), seq: 0, kind: "reclaim", inst: i, fault: f })
        }
        return
      }
      case "instance_death": {
        const alive = [...this.instances.values()].filter(
          (i) => !i.gone && (f.resource === undefined || i.resource === f.resource) && (i.state === InstanceState.Active || i.state === InstanceState.Ready)
        )
        const victims: Array<CInst> = []
        for (let k = 0; k < f.count && alive.length > 0; k++) victims.push(alive.splice(this.faultRng.int(0, alive.length - 1), 1)[0])
        this.log(`{"t":${this.now},"ev":"fault","kind":"instance_death","instances":${JSON.stringify(victims.map((v) => v.id))}}`)
        for (const i of victims) {
          i.state = InstanceState.Error
          if (i.host !== null) {
            const n = this.nodes.get(i.host)
            if (n !== undefined) {
              this.killJobsOn(n, "crash")
              n.down = true
            }
          }
        }
        return
      }
    }
  }

  /**
   * The end of a spot interruption's notice: the cloud terminates the
   * instance (unless the scaler destroyed it first); the jobs on its node die
   * with it (or go back to the queue) and the node is down until removed.
   */
  private reclaim(i: CInst, f: Extract<FaultSpec, { kind: "spot_interruption" }>) {
    if (i.gone) return
    i.spotStatus = f.code
    this.reclaimed++
    this.log(`{"t":${this.now},"ev":"interrupted","instance":"${i.id}","host":${JSON.stringify(i.host)},"code":${JSON.stringify(f.code)}}`)
    if (i.host !== null) {
      const n = this.nodes.get(i.host)
      if (n !== undefined) {
        this.killJobsOn(n, "interruption", f.resubmit)
        n.down = true
      }
    }
    this.retire(i)
  }

  private endFault(f: FaultSpec) {
    switch (f.kind) {
      case "outage":
        this.outage.set(f.resource, (this.outage.get(f.resource) ?? 1) - 1)
        break
      case "slow_boots":
        this.slow.delete(f.resource)
        break
      case "batch_failure":
        this.batchMode = "ok"
        break
      default:
        return
    }
    this.log(`{"t":${this.now},"ev":"fault_end","kind":"${f.kind}"}`)
  }

  /** Close the books at the end of the run: instances still alive are paid until now. */
  closeBooks(): void {
    for (const i of this.instances.values()) {
      if (i.gone) continue
      const st = this.stats.get(i.resource)!
      st.nodeSeconds += this.now - i.created
      st.billedSeconds += billedSeconds(this.now - i.created, this.resourceSpec(i.resource)?.billing)
      st.coreSeconds += (this.now - i.created) * i.cores
    }
    for (const j of this.jobs.values()) {
      if (j.state !== "running" || j.cloudCores === 0) continue
      for (const [h, c] of j.hosts) {
        const res = this.nodes.get(h)?.resource
        if (res != null) this.stats.get(res)!.usefulCoreSeconds += c * (this.now - j.start)
      }
    }
  }
}
