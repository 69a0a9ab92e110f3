/**
 * Parsers for Grid Engine command output and the mapping of SPEC §3 (SGE)
 * onto the engine's ClusterView. Every parser is total: it returns
 * Either<value, ParseError> and never throws.
 */
import { Either, Schema } from "effect"
import type { ClusterNode, ClusterView } from "../../engine/services.ts"
import { JobState, NodeState, type Job } from "../../model/types.ts"
import {
  checkInput,
  decodeWith,
  floatOrNull,
  intOrNull,
  lines,
  Many,
  NonEmptyText,
  nonEmptyOrNull,
  parseError,
  ParseError,
  readXml,
  readXmlAs,
  Rest,
  XmlElement,
  type Reader,
  XmlText
} from "../parsing.ts"
import { elementShape, many, namedShape, one, textShape, type RootShape } from "../xml-fast.ts"

export { ParseError } from "../parsing.ts"

// ---------------------------------------------------------------- qhost -q -j -xml

export interface QhostQueue {
  readonly name: string
  /** state_string, e.g. "", "d", "au", "E". */
  readonly state: string
  readonly slots: number | null
  readonly slotsUsed: number | null
  readonly values: Readonly<Record<string, string>>
}

export interface QhostJob {
  readonly id: string
  readonly values: Readonly<Record<string, string>>
}

export interface QhostHost {
  readonly name: string
  /** null when the execd never reported ("-"). */
  readonly numProc: number | null
  /** hostvalue elements: arch_string, load_avg, mem_total, ... */
  readonly values: Readonly<Record<string, string>>
  readonly queues: ReadonlyArray<QhostQueue>
  /** Distinct job ids running on the host, in output order. */
  readonly jobs: ReadonlyArray<string>
  /** One entry per job element (a job has one per task or PE slot group). */
  readonly jobEntries: ReadonlyArray<QhostJob>
}

const NamedValue = Schema.Struct({ "@_name": Schema.optional(Schema.String), "#text": Schema.optional(Schema.String) }, Rest)
const RawJobEl = Schema.Struct({ "@_name": NonEmptyText, jobvalue: Many(NamedValue) }, Rest)
const RawQueue = Schema.Struct({ "@_name": NonEmptyText, queuevalue: Many(NamedValue), job: Many(RawJobEl) }, Rest)
const RawHost = Schema.Struct(
  { "@_name": NonEmptyText, hostvalue: Many(NamedValue), queue: Many(RawQueue), job: Many(RawJobEl) },
  Rest
)
const RawQhost = Schema.Struct({ qhost: XmlElement(Schema.Struct({ host: Many(RawHost) }, Rest)) })

const QHOST = "qhost -xml"
const QHOST_ARRAYS = new Set([
  "qhost.host",
  "qhost.host.hostvalue",
  "qhost.host.queue",
  "qhost.host.queue.queuevalue",
  "qhost.host.queue.job",
  "qhost.host.queue.job.jobvalue",
  "qhost.host.job",
  "qhost.host.job.jobvalue"
])

const valuesOf = (vs: ReadonlyArray<typeof NamedValue.Type>): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const v of vs) {
    const k = v["@_name"]
    if (k !== undefined && k !== "__proto__") out[k] = (v["#text"] ?? "").trim()
  }
  return out
}

const jobOf = (j: typeof RawJobEl.Type): QhostJob => ({ id: j["@_name"].trim(), values: valuesOf(j.jobvalue) })

/** `qhost -q -j -xml` (also plain `qhost -xml`). The `global` pseudo-host is left out. */
export const parseQhost = (xml: string): Either.Either<ReadonlyArray<QhostHost>, ParseError> =>
  Either.gen(function* () {
    const text = yield* checkInput(QHOST, xml)
    if (text.trim() === "") return []
    const raw = yield* readXml(QHOST, text, QHOST_ARRAYS)
    const doc = yield* decodeWith(RawQhost, QHOST)(raw)
    const hosts = (doc.qhost as { readonly host?: ReadonlyArray<typeof RawHost.Type> }).host ?? []
    return hosts
      .filter((h) => h["@_name"].trim() !== "global")
      .map((h): QhostHost => {
        const values = valuesOf(h.hostvalue)
        // Jobs appear under the host (Grid Engine 6.2+) or inside its queues (older releases).
        const entries = [...h.job.map(jobOf), ...h.queue.flatMap((q) => q.job.map(jobOf))]
        return {
          name: h["@_name"].trim(),
          numProc: intOrNull(values["num_proc"]),
          values,
          queues: h.queue.map((q): QhostQueue => {
            const qv = valuesOf(q.queuevalue)
            return {
              name: q["@_name"].trim(),
              state: qv["state_string"] ?? "",
              slots: intOrNull(qv["slots"]),
              slotsUsed: intOrNull(qv["slots_used"]),
              values: qv
            }
          }),
          jobs: [...new Set(entries.map((e) => e.id))],
          jobEntries: entries
        }
      })
  })

// ---------------------------------------------------------------- qstat -xml -r

export interface SgeJob {
  readonly id: string
  readonly name: string | null
  readonly owner: string | null
  readonly project: string | null
  /** The job_list state attribute: "pending", "running", ... */
  readonly listState: string
  /** The state letters, e.g. "qw", "hqw", "r", "Eqw". */
  readonly state: string
  /** JAT_prio (normalised priority), null when absent. */
  readonly prio: number | null
  /** hard_req_queue (comma-joined when several). */
  readonly hardQueue: string | null
  /** The queue instance a running job is in. */
  readonly queueName: string | null
  readonly hRt: string | null
  readonly memFree: string | null
  readonly pe: { readonly name: string; readonly slots: number } | null
  readonly slots: number
  readonly tasks: string | null
  /** JB_submission_time or JAT_start_time as printed. */
  readonly submissionTime: string | null
  readonly startTime: string | null
  readonly hardRequests: Readonly<Record<string, string>>
}

const RawSgeJob = Schema.Struct(
  {
    "@_state": Schema.optional(Schema.String),
    JB_job_number: NonEmptyText,
    JAT_prio: Schema.optional(XmlText),
    JB_name: Schema.optional(XmlText),
    JB_owner: Schema.optional(XmlText),
    JB_project: Schema.optional(XmlText),
    state: Schema.optional(XmlText),
    JB_submission_time: Schema.optional(XmlText),
    JAT_start_time: Schema.optional(XmlText),
    queue_name: Schema.optional(XmlText),
    slots: Schema.optional(XmlText),
    tasks: Schema.optional(XmlText),
    requested_pe: Schema.optional(NamedValue),
    hard_request: Many(NamedValue),
    hard_req_queue: Many(XmlText)
  },
  Rest
)
const RawQueueList = Schema.Struct({ job_list: Many(RawSgeJob) }, Rest)
const RawJobInfo = Schema.Struct(
  {
    // -f output groups running jobs by queue instance; plain output lists them directly.
    queue_info: Schema.optional(XmlElement(Schema.Struct({ "Queue-List": Many(RawQueueList), job_list: Many(RawSgeJob) }, Rest))),
    job_info: Schema.optional(XmlElement(Schema.Struct({ job_list: Many(RawSgeJob) }, Rest))),
    job_list: Many(RawSgeJob)
  },
  Rest
)
const RawQstat = Schema.Struct({ job_info: XmlElement(RawJobInfo) })

const QSTAT = "qstat -xml -r"
/** The elements of `qstat -xml -r` that parseQstat reads (RawQstat's), for the fast XML reader. */
const SGE_JOB = elementShape(
  {
    JB_job_number: one(textShape(true), true),
    JAT_prio: one(textShape()),
    JB_name: one(textShape()),
    JB_owner: one(textShape()),
    JB_project: one(textShape()),
    state: one(textShape()),
    JB_submission_time: one(textShape()),
    JAT_start_time: one(textShape()),
    queue_name: one(textShape()),
    slots: one(textShape()),
    tasks: one(textShape()),
    requested_pe: one(namedShape),
    hard_request: many(namedShape),
    hard_req_queue: many(textShape())
  },
  { attrs: ["state"] }
)
export const QSTAT_DOC: RootShape = {
  root: "job_info",
  shape: elementShape(
    {
      queue_info: one(elementShape({ "Queue-List": many(elementShape({ job_list: many(SGE_JOB) })), job_list: many(SGE_JOB) }, { emptyOk: true })),
      job_info: one(elementShape({ job_list: many(SGE_JOB) }, { emptyOk: true })),
      job_list: many(SGE_JOB)
    },
    { emptyOk: true }
  )
}

const sgeJob = (j: typeof RawSgeJob.Type): Either.Either<SgeJob, string> => {
  const hard = valuesOf(j.hard_request)
  let pe: SgeJob["pe"] = null
  if (j.requested_pe !== undefined) {
    const name = nonEmptyOrNull(j.requested_pe["@_name"])
    const peSlots = intOrNull(j.requested_pe["#text"])
    if (name === null || peSlots === null || peSlots < 0) return Either.left(`requested_pe: expected a name and a slot count`)
    pe = { name, slots: peSlots }
  }
  const slots = j.slots === undefined || j.slots.trim() === "" ? 1 : intOrNull(j.slots)
  if (slots === null || slots < 0) return Either.left(`slots: expected a non-negative integer, got ${JSON.stringify(j.slots)}`)
  const queues = j.hard_req_queue.map((q) => q.trim()).filter((q) => q !== "")
  return Either.right({
    id: j.JB_job_number.trim(),
    name: nonEmptyOrNull(j.JB_name),
    owner: nonEmptyOrNull(j.JB_owner),
    project: nonEmptyOrNull(j.JB_project),
    listState: (j["@_state"] ?? "").trim(),
    state: (j.state ?? "").trim(),
    prio: floatOrNull(j.JAT_prio),
    hardQueue: queues.length > 0 ? queues.join(",") : null,
    queueName: nonEmptyOrNull(j.queue_name),
    hRt: hard["h_rt"] ?? null,
    memFree: hard["mem_free"] ?? null,
    pe,
    slots,
    tasks: nonEmptyOrNull(j.tasks),
    submissionTime: nonEmptyOrNull(j.JB_submission_time),
    startTime: nonEmptyOrNull(j.JAT_start_time),
    hardRequests: hard
  })
}

/**
 * `qstat -xml -r` (also `-f`): running jobs of the queue listing and the
 * pending jobs. `reader` "full" skips the fast XML reader (same result; tests).
 */
export const parseQstat = (xml: string, reader: Reader = "fast"): Either.Either<ReadonlyArray<SgeJob>, ParseError> =>
  Either.gen(function* () {
    const text = yield* checkInput(QSTAT, xml)
    if (text.trim() === "") return []
    const doc = yield* readXmlAs(QSTAT, text, QSTAT_DOC, RawQstat, reader)
    const info = doc.job_info as Partial<typeof RawJobInfo.Type>
    const qi = info.queue_info as
      | { readonly "Queue-List"?: ReadonlyArray<typeof RawQueueList.Type>; readonly job_list?: ReadonlyArray<typeof RawSgeJob.Type> }
      | undefined
    const ji = info.job_info as { readonly job_list?: ReadonlyArray<typeof RawSgeJob.Type> } | undefined
    const all = [
      ...(qi?.["Queue-List"] ?? []).flatMap((q) => q.job_list),
      ...(qi?.job_list ?? []),
      ...(info.job_list ?? []),
      ...(ji?.job_list ?? [])
    ]
    const out: Array<SgeJob> = []
    for (const [i, raw] of all.entries()) {
      const j = sgeJob(raw)
      if (Either.isLeft(j)) return yield* parseError(QSTAT, `job_list[${i}] (job ${raw.JB_job_number}): ${j.left}`)
      out.push(j.right)
    }
    return out
  })

// ---------------------------------------------------------------- qconf -spl / -sp

const QCONF_SPL = "qconf -spl"
const PE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/

/** `qconf -spl`: one parallel environment name per line. */
export const parseQconfSpl = (text: string): Either.Either<ReadonlyArray<string>, ParseError> =>
  Either.gen(function* () {
    const t = yield* checkInput(QCONF_SPL, text)
    const out: Array<string> = []
    for (const [i, line] of lines(t).entries()) {
      const s = line.trim()
      if (s === "") continue
      if (!PE_NAME.test(s)) return yield* parseError(QCONF_SPL, `line ${i + 1} is not a PE name: ${JSON.stringify(s.slice(0, 120))}`)
      out.push(s)
    }
    return out
  })

/** How a PE spreads its slots over hosts. */
export type AllocationRule =
  | { readonly _tag: "Spread" } // $round_robin, $fill_up: anywhere
  | { readonly _tag: "PeSlots" } // $pe_slots: all slots on one host
  | { readonly _tag: "Fixed"; readonly perHost: number } // a number of slots per host

export interface ParallelEnvironment {
  readonly name: string
  readonly slots: number | null
  /** allocation_rule as written. */
  readonly allocationRuleText: string
  readonly allocationRule: AllocationRule
  readonly values: Readonly<Record<string, string>>
}

export const parseAllocationRule = (s: string): AllocationRule | null => {
  const t = s.trim()
  if (t === "$round_robin" || t === "$fill_up") return { _tag: "Spread" }
  if (t === "$pe_slots") return { _tag: "PeSlots" }
  const n = intOrNull(t)
  return n !== null && n > 0 ? { _tag: "Fixed", perHost: n } : null
}

/** cores_per_node of a job asking for `slots` in a PE with this rule (0 = spread anywhere). */
export const coresPerNodeFor = (rule: AllocationRule, slots: number): number =>
  rule._tag === "Spread" ? 0 : rule._tag === "PeSlots" ? slots : rule.perHost

const QCONF_SP = "qconf -sp"

/** `qconf -sp NAME`: "key value" lines (a trailing backslash continues a line). */
export const parseQconfSp = (text: string): Either.Either<ParallelEnvironment, ParseError> =>
  Either.gen(function* () {
    const t = yield* checkInput(QCONF_SP, text)
    const values: Record<string, string> = {}
    const joined = t.replace(/\\\r?\n/g, " ")
    for (const [i, line] of lines(joined).entries()) {
      const s = line.trim()
      if (s === "" || s.startsWith("#")) continue
      const m = /^([A-Za-z_][A-Za-z0-9_]*)\s+(.*)$/.exec(s)
      if (m === null) return yield* parseError(QCONF_SP, `line ${i + 1} is not "key value": ${JSON.stringify(s.slice(0, 120))}`)
      if (m[1] !== "__proto__") values[m[1]] = m[2].trim()
    }
    const name = values["pe_name"]
    if (name === undefined) return yield* parseError(QCONF_SP, "no pe_name line")
    const ruleText = values["allocation_rule"]
    if (ruleText === undefined) return yield* parseError(QCONF_SP, `PE ${name}: no allocation_rule line`)
    const rule = parseAllocationRule(ruleText)
    if (rule === null) return yield* parseError(QCONF_SP, `PE ${name}: unknown allocation_rule ${JSON.stringify(ruleText)}`)
    return { name, slots: intOrNull(values["slots"]), allocationRuleText: ruleText, allocationRule: rule, values }
  })

// ---------------------------------------------------------------- the view

const stateOf = (host: QhostHost, monitored: ReadonlySet<string>, starting: boolean): NodeState => {
  const relevant = monitored.size === 0 ? host.queues : host.queues.filter((q) => monitored.has(q.name))
  const queues = relevant.length > 0 ? relevant : host.queues
  const states = queues.map((q) => q.state)
  const error = states.some((s) => s.includes("E"))
  const unknown = states.some((s) => s.includes("u"))
  if (error || (unknown && !starting)) return NodeState.Error
  if (unknown) return NodeState.Starting
  // Holding a host disables all of its queues (qmod -d *@host).
  if (states.length > 0 && states.every((s) => s.includes("d"))) return NodeState.Held
  return host.jobs.length > 0 ? NodeState.Busy : NodeState.Idle
}

/**
 * SPEC §3 (SGE) for one host: queue state `E`, or `u` unless the engine
 * still sees the host as Starting → Error (`u` while Starting stays
 * Starting); all queues `d` → Held; else Busy with jobs, Idle without.
 * Only the monitored queues count when the host has any of them.
 */
export const sgeNodeState = (host: QhostHost, queueToMonitor: ReadonlyArray<string>, starting: boolean): NodeState =>
  stateOf(host, new Set(queueToMonitor), starting)

/**
 * hard_req_queue "all.q@@cloud" → queue "all.q", account "@cloud" (the
 * classic SGE reservation puts an account's hosts in a host group).
 */
export const splitQueueRequest = (q: string | null): { readonly queue: string | null; readonly account: string | null } => {
  if (q === null) return { queue: null, account: null }
  const first = q.split(",")[0].trim()
  const at = first.indexOf("@")
  const queue = at >= 0 ? first.slice(0, at) : first
  const host = at >= 0 ? first.slice(at + 1) : ""
  return {
    queue: queue === "" || queue === "*" ? null : queue,
    account: host.startsWith("@") && host.length > 1 ? host : null
  }
}

/** "2018-10-09T18:47:05" (local time of the qmaster) or epoch seconds → epoch seconds as a string. */
export const sgeTime = (s: string | null): string | null => {
  if (s === null) return null
  if (/^\d+$/.test(s)) return s
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(s)) return null
  const ms = Date.parse(s)
  return Number.isFinite(ms) ? String(Math.floor(ms / 1000)) : null
}

/** Pending and neither held (h) nor in error (E): a job more nodes could help. */
export const isQueued = (j: SgeJob): boolean => j.listState === "pending" && !/[hE]/.test(j.state)

/**
 * A job's cores. A PE job asks for its PE slot count; cores per node follow
 * the PE's allocation rule. A PE whose rule is unknown counts as $pe_slots
 * (Grid Engine's default), so no nodes are started that the job cannot use.
 */
export const sgeCores = (j: SgeJob, peRules: ReadonlyMap<string, AllocationRule>) => {
  if (j.pe === null) return { requestedCores: Math.max(1, j.slots), coresPerNode: Math.max(1, j.slots) }
  const slots = Math.max(1, j.pe.slots)
  return { requestedCores: slots, coresPerNode: coresPerNodeFor(peRules.get(j.pe.name) ?? { _tag: "PeSlots" }, slots) }
}

export const sgeJobRecord = (j: SgeJob, peRules: ReadonlyMap<string, AllocationRule>): Job => {
  const { queue, account } = splitQueueRequest(j.hardQueue)
  const cores = sgeCores(j, peRules)
  return {
    jobid: j.id,
    name: j.name,
    owner: j.owner,
    queue,
    account,
    property: null,
    priority: j.prio,
    state: isQueued(j) ? JobState.Queued : j.listState === "running" ? JobState.Running : JobState.Other,
    requested_cores: cores.requestedCores,
    cores_per_node: cores.coresPerNode,
    requested_mem: j.memFree,
    requested_walltime: j.hRt,
    creation_time: sgeTime(j.submissionTime),
    extra_attributes: {
      state: j.state,
      ...(j.project === null ? {} : { project: j.project }),
      ...(j.hardQueue === null ? {} : { hard_req_queue: j.hardQueue }),
      ...(j.pe === null ? {} : { pe: j.pe.name, pe_slots: j.pe.slots }),
      ...(j.tasks === null ? {} : { tasks: j.tasks })
    }
  }
}

/**
 * The cluster view of SPEC §3 for SGE. `startingHosts` are the hosts the
 * engine still has as Starting (their `u` queues are not an error yet).
 */
export const sgeView = (
  hosts: ReadonlyArray<QhostHost>,
  jobs: ReadonlyArray<SgeJob>,
  peRules: ReadonlyMap<string, AllocationRule>,
  queueToMonitor: ReadonlyArray<string>,
  startingHosts: ReadonlySet<string> = new Set()
): ClusterView => {
  const monitored = new Set(queueToMonitor)
  const nodes = hosts.map(
    (h): ClusterNode => ({
      hostname: h.name,
      state: stateOf(h, monitored, startingHosts.has(h.name)),
      jobs: h.jobs.length > 0 ? h.jobs.join(",") : null,
      num_proc: h.numProc ?? 0,
      extra_attributes: {
        ...h.values,
        queues: Object.fromEntries(h.queues.map((q) => [q.name, q.state])),
        // The queues that can start a job here: an instance with slots on this
        // host (a reservation gives the others 0), neither disabled nor in error.
        // Policies count the host's free cores only for jobs of these queues.
        serves_queues: h.queues
          .filter((q) => (q.slots === null || q.slots > 0) && !/[dEu]/.test(q.state))
          .map((q) => q.name)
          .join(",")
      }
    })
  )
  const queued = jobs
    .filter(isQueued)
    .map((j) => sgeJobRecord(j, peRules))
    // A job that names no queue may run in any of them, the monitored ones included.
    .filter((j) => monitored.size === 0 || j.queue === null || monitored.has(j.queue))
  return { nodes, jobs: queued }
}
