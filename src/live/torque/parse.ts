/**
 * Parsers for Torque and Maui command output and the mapping of SPEC §3
 * ("Cluster view mapping (Torque)") onto the engine's ClusterView. Every
 * parser is total: it returns Either<value, ParseError> and never throws.
 */
import { Either, Schema } from "effect"
import type { ClusterNode, ClusterView } from "../../engine/services.ts"
import { JobState, NodeState, type Job } from "../../model/types.ts"
import {
  checkInput,
  decodeWith,
  intOrNull,
  lines,
  Many,
  NonEmptyText,
  nonEmptyOrNull,
  parseDuration,
  parseError,
  ParseError,
  readXml,
  readXmlAs,
  Rest,
  simpleFields,
  XmlElement,
  type Reader,
  XmlText
} from "../parsing.ts"
import { elementShape, many, one, textShape, type RootShape } from "../xml-fast.ts"

export { ParseError } from "../parsing.ts"

// ---------------------------------------------------------------- ids

/** "0/13.host" → "0/13"; "673175[19].server" → "673175[19]"; "13.host" → "13". */
export const shortJobId = (id: string): string => {
  const t = id.trim()
  const slash = t.indexOf("/")
  const head = slash >= 0 ? t.slice(0, slash + 1) : ""
  const rest = slash >= 0 ? t.slice(slash + 1) : t
  const dot = rest.indexOf(".")
  return head + (dot >= 0 ? rest.slice(0, dot) : rest)
}

/**
 * The `<jobs>` of a node: "0/1.h, 1/1.h" and Torque 6's "0-3/1.h" or
 * "0,3/1.h" (several slots of one job) → short ids, one per slot group.
 */
export const parseNodeJobs = (s: string): ReadonlyArray<string> => {
  const out: Array<string> = []
  const re = /((?:\d+(?:-\d+)?)(?:,\d+(?:-\d+)?)*)\/([^,\s]+)|([^,\s/]+)/g
  for (const m of s.matchAll(re)) {
    if (m[1] !== undefined) {
      const job = shortJobId(m[2])
      for (const slots of m[1].split(",")) out.push(`${slots}/${job}`)
    } else if (m[3] !== undefined) {
      out.push(shortJobId(m[3]))
    }
  }
  return out
}

/** `<status>` of pbsnodes: "k=v,k=v,..." where a value may itself hold commas. */
export const parseStatus = (s: string): Record<string, string> => {
  const out: Record<string, string> = {}
  let last: string | null = null
  for (const seg of s.split(",")) {
    const eq = seg.indexOf("=")
    if (eq > 0) {
      last = seg.slice(0, eq).trim()
      if (last === "__proto__") {
        last = null
        continue
      }
      out[last] = seg.slice(eq + 1)
    } else if (last !== null) {
      out[last] += "," + seg
    }
  }
  return out
}

// ---------------------------------------------------------------- pbsnodes -x

export interface PbsNode {
  readonly name: string
  /** The state string as printed, e.g. "job-exclusive" or "down,offline,MOM-list-not-sent". */
  readonly state: string
  readonly np: number
  readonly properties: ReadonlyArray<string>
  readonly ntype: string | null
  /** Short ids per slot: "0/13". */
  readonly jobs: ReadonlyArray<string>
  /** The key=value pairs of `<status>`. */
  readonly status: Readonly<Record<string, string>>
  /** Other simple children (gpus, note, mom_service_port, ...). */
  readonly other: Readonly<Record<string, string>>
}

const RawPbsNode = Schema.Struct(
  {
    name: NonEmptyText,
    state: XmlText,
    np: Schema.optional(XmlText),
    properties: Schema.optional(XmlText),
    ntype: Schema.optional(XmlText),
    jobs: Schema.optional(XmlText),
    status: Schema.optional(XmlText)
  },
  Rest
)

const RawPbsnodes = Schema.Struct({
  Data: XmlElement(Schema.Struct({ Node: Many(RawPbsNode) }, Rest))
})

const PBSNODES = "pbsnodes -x"
const NODE_KNOWN = new Set(["name", "state", "np", "properties", "ntype", "jobs", "status"])

/** `pbsnodes -x`. Empty output (no nodes) is an empty list. */
export const parsePbsnodes = (xml: string): Either.Either<ReadonlyArray<PbsNode>, ParseError> =>
  Either.gen(function* () {
    const text = yield* checkInput(PBSNODES, xml)
    if (text.trim() === "") return []
    const raw = yield* readXml(PBSNODES, text, new Set(["Data.Node"]))
    const doc = yield* decodeWith(RawPbsnodes, PBSNODES)(raw)
    const data = doc.Data as { readonly Node?: ReadonlyArray<typeof RawPbsNode.Type> }
    const out: Array<PbsNode> = []
    for (const [i, n] of (data.Node ?? []).entries()) {
      const np = n.np === undefined || n.np.trim() === "" ? 0 : intOrNull(n.np)
      if (np === null || np < 0) return yield* parseError(PBSNODES, `Data.Node[${i}].np: expected a non-negative integer, got ${JSON.stringify(n.np)}`)
      out.push({
        name: n.name.trim(),
        state: n.state.trim(),
        np,
        properties: (n.properties ?? "")
          .split(",")
          .map((p) => p.trim())
          .filter((p) => p !== ""),
        ntype: nonEmptyOrNull(n.ntype),
        jobs: parseNodeJobs(n.jobs ?? ""),
        status: parseStatus(n.status ?? ""),
        other: simpleFields(n, NODE_KNOWN)
      })
    }
    return out
  })

// ---------------------------------------------------------------- qstat -x -t

export interface TorqueJob {
  /** Full id, e.g. "665199.superserver.stanford.edu". */
  readonly id: string
  /** Id as Maui and the API show it: "665199", "673175[19]". */
  readonly shortId: string
  readonly name: string | null
  readonly owner: string | null
  readonly queue: string | null
  /** Torque state letter: Q, R, C, E, H, W, T, S. */
  readonly state: string
  readonly account: string | null
  readonly requestedCores: number
  /** 0 = may spread anywhere. */
  readonly coresPerNode: number
  readonly property: string | null
  readonly walltime: string | null
  readonly mem: string | null
  /** ctime, seconds since the epoch as a string. */
  readonly creationTime: string | null
  readonly nodes: string | null
  readonly extra: Readonly<Record<string, string>>
}

export interface CoreRequest {
  readonly requestedCores: number
  readonly coresPerNode: number
  readonly property: string | null
}

/**
 * `Resource_List.nodes`: `N:ppn=M[:prop]`, `N:prop`, `host:ppn=M`, and
 * `+`-joined chunks (cores add up; cores_per_node is the largest ppn).
 * `ncpus` gives the cores per node when the spec names no ppn.
 */
export const parseNodesSpec = (spec: string, ncpus: number | null = null): CoreRequest => {
  let cores = 0
  let perNode = 0
  let property: string | null = null
  let anyPpn = false
  const chunks = spec
    .split("+")
    .map((c) => c.trim())
    .filter((c) => c !== "")
  for (const chunk of chunks) {
    const [first, ...rest] = chunk.split(":").map((p) => p.trim())
    const count = /^\d{1,9}$/.test(first) ? Math.max(1, Number(first)) : 1
    let ppn: number | null = null
    for (const part of rest) {
      const ppnMatch = /^ppn=(\d{1,9})$/i.exec(part)
      if (ppnMatch) ppn = Math.max(1, Number(ppnMatch[1]))
      else if (part !== "" && !part.includes("=") && property === null) property = part
    }
    if (ppn !== null) anyPpn = true
    const per = ppn ?? ncpus ?? 1
    cores += count * per
    perNode = Math.max(perNode, per)
  }
  if (chunks.length === 0) return { requestedCores: ncpus ?? 1, coresPerNode: ncpus ?? 1, property: null }
  if (!anyPpn && ncpus !== null) perNode = Math.max(1, ncpus)
  return { requestedCores: Math.max(1, cores), coresPerNode: Math.max(1, perNode), property }
}

const RawResourceList = Schema.Struct(
  {
    nodes: Schema.optional(XmlText),
    ncpus: Schema.optional(XmlText),
    procs: Schema.optional(XmlText),
    walltime: Schema.optional(XmlText),
    mem: Schema.optional(XmlText)
  },
  Rest
)

const RawTorqueJob = Schema.Struct(
  {
    Job_Id: NonEmptyText,
    Job_Name: Schema.optional(XmlText),
    Job_Owner: Schema.optional(XmlText),
    job_state: NonEmptyText,
    queue: Schema.optional(XmlText),
    Account_Name: Schema.optional(XmlText),
    ctime: Schema.optional(XmlText),
    Resource_List: Schema.optional(XmlElement(RawResourceList))
  },
  Rest
)

const RawQstat = Schema.Struct({
  Data: XmlElement(Schema.Struct({ Job: Many(RawTorqueJob) }, Rest))
})

const QSTAT = "qstat -x"
/** Kept for display; Variable_List is left out on purpose (it can carry a user's secrets with qsub -V). */
const JOB_EXTRA = ["submit_host", "submit_args", "exec_host", "job_array_request", "job_array_id", "Priority", "qtime", "etime"]

/** The elements of `qstat -x` that parseQstat reads (RawQstat's), for the fast XML reader. */
export const QSTAT_DOC: RootShape = {
  root: "Data",
  shape: elementShape(
    {
      Job: many(
        elementShape({
          Job_Id: one(textShape(true), true),
          Job_Name: one(textShape()),
          Job_Owner: one(textShape()),
          job_state: one(textShape(true), true),
          queue: one(textShape()),
          Account_Name: one(textShape()),
          ctime: one(textShape()),
          Resource_List: one(
            elementShape(
              { nodes: one(textShape()), ncpus: one(textShape()), procs: one(textShape()), walltime: one(textShape()), mem: one(textShape()) },
              { emptyOk: true }
            )
          ),
          ...Object.fromEntries(JOB_EXTRA.map((k) => [k, one(textShape())]))
        })
      )
    },
    { emptyOk: true }
  )
}

const coreRequest = (rl: typeof RawResourceList.Type | undefined): CoreRequest => {
  const ncpus = intOrNull(rl?.ncpus)
  const nodes = nonEmptyOrNull(rl?.nodes)
  if (nodes !== null) return parseNodesSpec(nodes, ncpus !== null && ncpus > 0 ? ncpus : null)
  if (ncpus !== null && ncpus > 0) return { requestedCores: ncpus, coresPerNode: ncpus, property: null }
  const procs = intOrNull(rl?.procs)
  // procs=N asks for N cores anywhere.
  if (procs !== null && procs > 0) return { requestedCores: procs, coresPerNode: 0, property: null }
  return { requestedCores: 1, coresPerNode: 1, property: null }
}

/**
 * `qstat -x -t` (all jobs, array jobs expanded). Empty output (no jobs) is an
 * empty list. `reader` "full" skips the fast XML reader (same result; tests).
 */
export const parseQstat = (xml: string, reader: Reader = "fast"): Either.Either<ReadonlyArray<TorqueJob>, ParseError> =>
  Either.gen(function* () {
    const text = yield* checkInput(QSTAT, xml)
    if (text.trim() === "") return []
    const doc = yield* readXmlAs(QSTAT, text, QSTAT_DOC, RawQstat, reader)
    const data = doc.Data as { readonly Job?: ReadonlyArray<typeof RawTorqueJob.Type> }
    return (data.Job ?? []).map((j): TorqueJob => {
      const rl = j.Resource_List as typeof RawResourceList.Type | undefined
      const req = coreRequest(rl)
      const extra: Record<string, string> = {}
      for (const k of JOB_EXTRA) {
        const v = (j as Record<string, unknown>)[k]
        if (typeof v === "string") extra[k] = v
      }
      const id = j.Job_Id.trim()
      return {
        id,
        shortId: shortJobId(id),
        name: nonEmptyOrNull(j.Job_Name),
        owner: nonEmptyOrNull(j.Job_Owner),
        queue: nonEmptyOrNull(j.queue),
        state: j.job_state.trim(),
        account: nonEmptyOrNull(j.Account_Name),
        requestedCores: req.requestedCores,
        coresPerNode: req.coresPerNode,
        property: req.property,
        walltime: nonEmptyOrNull(rl?.walltime),
        mem: nonEmptyOrNull(rl?.mem),
        creationTime: nonEmptyOrNull(j.ctime),
        nodes: nonEmptyOrNull(rl?.nodes),
        extra
      }
    })
  })

// ---------------------------------------------------------------- checknode

export interface CheckNode {
  /** The node named in the header, when there is one. */
  readonly host: string | null
  /** Maui's state in lower case: idle, busy, running, drained, draining, down, ...; "gone" when Maui does not know the node. */
  readonly state: string
  /** Seconds in the current state, when Maui printed it. */
  readonly secondsInState: number | null
  /** The JobList line. */
  readonly jobs: ReadonlyArray<string>
}

const CHECKNODE = "checknode"

/**
 * `checknode HOST` (stdout, or stdout and stderr together). Accepts the
 * classic Maui header `checking node X` and the Moab-era `node X`.
 */
export const parseCheckNode = (text: string): Either.Either<CheckNode, ParseError> =>
  Either.gen(function* () {
    const t = yield* checkInput(CHECKNODE, text)
    const gone = /cannot locate node\s+'?([^'\s]*)'?/i.exec(t)
    if (gone) return { host: nonEmptyOrNull(gone[1]), state: "gone", secondsInState: null, jobs: [] }
    let host: string | null = null
    let state: string | null = null
    let seconds: number | null = null
    let jobs: ReadonlyArray<string> = []
    for (const line of lines(t)) {
      const h = /^\s*(?:checking\s+)?node\s+(\S+)\s*$/i.exec(line)
      if (h && host === null) host = h[1]
      const s = /^\s*State:\s*([A-Za-z][A-Za-z-]*)\s*(?:\(\s*in current state for\s+([-\d:]+)\s*\))?/i.exec(line)
      if (s && state === null) {
        state = s[1].toLowerCase()
        seconds = s[2] === undefined ? null : parseDuration(s[2])
      }
      const j = /^\s*JobList:\s*(.*)$/i.exec(line)
      if (j) {
        jobs = j[1]
          .split(/[,\s]+/)
          .map((x) => x.trim())
          .filter((x) => x !== "" && x.toLowerCase() !== "[none]")
      }
    }
    if (state === null) return yield* parseError(CHECKNODE, "no 'State:' line in checknode output")
    return { host, state, secondsInState: seconds, jobs }
  })

// ---------------------------------------------------------------- diagnose -p

export interface JobPriority {
  readonly jobId: string
  readonly priority: number
  /** The priority carried Maui's `*` mark (system priority set on the job). */
  readonly system: boolean
}

const DIAGNOSE = "diagnose -p"
const NOT_JOBS = new Set(["job", "weights", "totals", "percent"])

/**
 * `diagnose -p`. Columns are read by whitespace (documentation copies have
 * them collapsed); a job row is an id followed by a numeric priority.
 * Empty output is an empty list; other output must carry Maui's header.
 */
export const parseDiagnoseP = (text: string): Either.Either<ReadonlyArray<JobPriority>, ParseError> =>
  Either.gen(function* () {
    const t = yield* checkInput(DIAGNOSE, text)
    if (t.trim() === "") return []
    if (!/diagnosing job priority/i.test(t)) return yield* parseError(DIAGNOSE, "not diagnose -p output (no 'diagnosing job priority' header)")
    const out: Array<JobPriority> = []
    for (const line of lines(t)) {
      const items = line.trim().split(/\s+/)
      if (items.length < 2 || NOT_JOBS.has(items[0].toLowerCase())) continue
      const m = /^(-?\d{1,15}(?:\.\d{1,15})?)(\*?)$/.exec(items[1])
      if (m === null) continue
      out.push({ jobId: items[0], priority: Number(m[1]), system: m[2] === "*" })
    }
    return out
  })

/** Job id → priority, for torqueView. */
export const priorityMap = (ps: ReadonlyArray<JobPriority>): ReadonlyMap<string, number> =>
  new Map(ps.map((p) => [p.jobId, p.priority]))

// ---------------------------------------------------------------- showres -n

export interface NodeReservation {
  readonly node: string
  /** Job or User (standing reservations). */
  readonly type: string
  readonly reservationId: string
  readonly jobState: string
  readonly task: number
  readonly start: string
  readonly duration: string
  readonly startTime: string
}

const SHOWRES = "showres -n"

/**
 * `showres -n`, whole or filtered through grep (the classic template is
 * `showres -n | grep HOST`): reservations grouped by node, in output order.
 */
export const parseShowres = (text: string): Either.Either<ReadonlyMap<string, ReadonlyArray<NodeReservation>>, ParseError> =>
  Either.gen(function* () {
    const t = yield* checkInput(SHOWRES, text)
    const byNode = new Map<string, Array<NodeReservation>>()
    for (const [i, line] of lines(t).entries()) {
      const s = line.trim()
      if (s === "" || /^reservations on\b/i.test(s) || /^NodeName\s/i.test(s) || /^\d+\s+nodes?\s+reserved/i.test(s) || /^no reservations/i.test(s)) {
        continue
      }
      const items = s.split(/\s+/)
      if (items.length < 7 || !/^\d{1,9}$/.test(items[4])) {
        return yield* parseError(SHOWRES, `line ${i + 1} is not a reservation row: ${JSON.stringify(s.slice(0, 120))}`)
      }
      const r: NodeReservation = {
        node: items[0],
        type: items[1],
        reservationId: items[2],
        jobState: items[3],
        task: Number(items[4]),
        start: items[5],
        duration: items[6],
        startTime: items.slice(7).join(" ")
      }
      const list = byNode.get(r.node)
      if (list) list.push(r)
      else byNode.set(r.node, [r])
    }
    return byNode as ReadonlyMap<string, ReadonlyArray<NodeReservation>>
  })

// ---------------------------------------------------------------- the view

const BUSY_PBS = ["job-exclusive", "job-sharing", "busy", "reserve"]

/**
 * SPEC §3 mapping of one node. Without a checknode answer the pbsnodes state
 * decides alone (offline → Holding, since drained cannot be confirmed).
 */
export const torqueNodeState = (node: PbsNode, maui: CheckNode | undefined): NodeState => {
  const pbs = node.state.toLowerCase()
  const pbsStates = pbs.split(",").map((s) => s.trim())
  if (pbs.includes("mom-list-not-sent")) return NodeState.Starting
  if (pbsStates.includes("offline")) return maui?.state === "drained" ? NodeState.Held : NodeState.Holding
  const m = maui?.state
  if (m !== undefined && m.includes("down")) return NodeState.Error
  if (m === "busy" || m === "running") return NodeState.Busy
  // Maui can lag behind pbs_server: a node listing jobs is not idle.
  if (m === "idle") return node.jobs.length > 0 ? NodeState.Busy : NodeState.Idle
  if (m === "drained") return NodeState.Held
  if (m === "draining") return NodeState.Holding
  if (pbsStates.includes("down") || pbsStates.some((s) => s.includes("unknown"))) return NodeState.Error
  if (node.jobs.length > 0 || pbsStates.some((s) => BUSY_PBS.includes(s))) return NodeState.Busy
  return NodeState.Idle
}

const uniq = (xs: ReadonlyArray<string>) => [...new Set(xs)]

/** Array parents ("12[]") are left out of the queue when their sub-jobs are listed too. */
const isCoveredArrayParent = (j: TorqueJob, all: ReadonlyArray<TorqueJob>) =>
  j.shortId.endsWith("[]") && all.some((o) => o !== j && o.shortId.startsWith(j.shortId.slice(0, -1)))

export const torqueJob = (j: TorqueJob, priority: number | null): Job => ({
  jobid: j.shortId,
  name: j.name,
  owner: j.owner,
  queue: j.queue,
  account: j.account,
  property: j.property,
  priority,
  state: j.state === "Q" ? JobState.Queued : j.state === "R" ? JobState.Running : JobState.Other,
  requested_cores: j.requestedCores,
  cores_per_node: j.coresPerNode,
  requested_mem: j.mem,
  requested_walltime: j.walltime,
  creation_time: j.creationTime,
  extra_attributes: { id: j.id, ...(j.nodes === null ? {} : { nodes: j.nodes }), ...j.extra }
})

/**
 * The cluster view of SPEC §3 for Torque/Maui: nodes from pbsnodes with
 * Maui's checknode state, and the queued (state Q) jobs of the monitored
 * queues (empty list = all) with their diagnose -p priority (null = not yet
 * eligible). Priorities are looked up by short id, then by full id.
 */
export const torqueView = (
  nodes: ReadonlyArray<PbsNode>,
  checknodeByHost: ReadonlyMap<string, CheckNode>,
  jobs: ReadonlyArray<TorqueJob>,
  priorities: ReadonlyMap<string, number>,
  queueToMonitor: ReadonlyArray<string>
): ClusterView => {
  const clusterNodes = nodes.map((n): ClusterNode => {
    const maui = checknodeByHost.get(n.name)
    const jobIds = uniq(n.jobs)
    return {
      hostname: n.name,
      state: torqueNodeState(n, maui),
      jobs: jobIds.length > 0 ? jobIds.join(",") : null,
      num_proc: n.np,
      extra_attributes: {
        pbs_state: n.state,
        properties: n.properties.join(","),
        ...(n.ntype === null ? {} : { ntype: n.ntype }),
        ...n.other,
        status: { ...n.status },
        ...(maui === undefined ? {} : { maui_state: maui.state, maui_seconds_in_state: maui.secondsInState })
      }
    }
  })
  const monitored = new Set(queueToMonitor)
  const queued = jobs
    .filter((j) => j.state === "Q")
    .filter((j) => monitored.size === 0 || (j.queue !== null && monitored.has(j.queue)))
    .filter((j) => !isCoveredArrayParent(j, jobs))
    .map((j) => torqueJob(j, priorities.get(j.shortId) ?? priorities.get(j.id) ?? null))
  return { nodes: clusterNodes, jobs: queued }
}
