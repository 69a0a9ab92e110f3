/**
 * Parsers for Slurm's command output (`squeue --json`, `sinfo --json` of
 * Slurm 21.08–22.05 and the `{set, infinite, number}` numbers of later
 * releases; `scontrol show ... -o` one-line records) and the mapping of
 * SPEC §3 onto the engine's ClusterView. Every parser is total: it returns
 * Either<value, ParseError> and never throws.
 *
 * Slurm 22.05 facts this relies on (checked on a real 22.05.8):
 * - `squeue --json` and `sinfo --json` ignore every filter (-t, -p, -j):
 *   they list all jobs (finished ones too) and all nodes; filter here.
 * - drain is a flag (`state: "idle", state_flags: ["DRAIN"]`), not a state;
 *   later releases print `state: ["IDLE", "DRAIN"]`.
 * - `sinfo --json` has no jobs per node: they come from the running jobs'
 *   `nodes` host lists in `squeue --json`.
 * - `cpus_per_task` is null in 22.05's JSON even with `-c`; the job's
 *   `minimum_cpus_per_node` still carries it.
 */
import { Either, Schema } from "effect"
import type { ClusterNode, ClusterView } from "../../engine/services.ts"
import { JobState, NodeState, type Job } from "../../model/types.ts"
import { checkInput, decodeWith, parseError, ParseError, type Reader } from "../parsing.ts"
import { expandHostlist } from "./hostlist.ts"

export { ParseError } from "../parsing.ts"

// ---------------------------------------------------------------- JSON helpers

const readJson = (source: string, text: string): Either.Either<unknown, ParseError> => {
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (e) {
    return parseError(source, `malformed JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
}

/** Slurm's numbers: plain, null, or (OpenAPI v0.0.39+, and some 21.08 fields) `{set, infinite, number}`. */
const NumberObject = Schema.Struct({
  set: Schema.optional(Schema.Boolean),
  infinite: Schema.optional(Schema.Boolean),
  number: Schema.optional(Schema.NullOr(Schema.Number))
})
const SlurmNumber = Schema.optional(Schema.Union(Schema.Number, Schema.Null, NumberObject))
type SlurmNumber = Schema.Schema.Type<typeof SlurmNumber>

/** A number that is set and finite, else null (unset, infinite or garbage). */
export const slurmNumber = (v: SlurmNumber): number | null => {
  if (v === undefined || v === null) return null
  if (typeof v === "number") return Number.isFinite(v) ? v : null
  if (v.infinite === true || v.set === false || v.number === undefined || v.number === null) return null
  return Number.isFinite(v.number) ? v.number : null
}
const isInfinite = (v: SlurmNumber): boolean => typeof v === "object" && v !== null && v.infinite === true

const Text = Schema.optional(Schema.NullOr(Schema.String))
/** A state: "idle" (22.05) or ["IDLE", "DRAIN"] (23.02+). */
const StateWords = Schema.Union(Schema.String, Schema.Array(Schema.String))
/** Features: "a,b" (22.05) or ["a", "b"] (later). */
const Features = Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(Schema.String))))

const ErrorEntry = Schema.Union(
  Schema.Struct({
    error: Schema.optional(Schema.String),
    description: Schema.optional(Schema.String),
    source: Schema.optional(Schema.String),
    errno: Schema.optional(Schema.Number),
    error_number: Schema.optional(Schema.Number)
  }),
  Schema.String
)

const text = (s: string | null | undefined): string | null => (s === undefined || s === null || s.trim() === "" ? null : s.trim())

const featureList = (f: string | ReadonlyArray<string> | null | undefined): ReadonlyArray<string> =>
  (f === undefined || f === null ? [] : typeof f === "string" ? f.split(",") : f).map((s) => s.trim()).filter((s) => s !== "")

const words = (s: string | ReadonlyArray<string>): ReadonlyArray<string> =>
  (typeof s === "string" ? s.split("+") : s).map((w) => w.trim().toUpperCase()).filter((w) => w !== "")

const reportedErrors = (source: string, errors: ReadonlyArray<typeof ErrorEntry.Type> | undefined) => {
  if (errors === undefined || errors.length === 0) return Either.right(undefined)
  const msgs = errors.map((e) =>
    typeof e === "string"
      ? e
      : [e.source, e.error, e.description].filter((x) => x !== undefined && x !== "").join(": ") || `errno ${e.errno ?? e.error_number ?? "?"}`
  )
  return parseError(source, `Slurm reported errors: ${msgs.join("; ").slice(0, 500)}`)
}

// ---------------------------------------------------------------- squeue --json

export interface SlurmJob {
  readonly id: string
  readonly name: string | null
  readonly user: string | null
  readonly account: string | null
  /** The job's partitions (a job may be submitted to several: "a,b"). */
  readonly partitions: ReadonlyArray<string>
  /** PENDING, RUNNING, COMPLETING, COMPLETED, ... (upper case; the first word of the state). */
  readonly state: string
  /** Further state words of releases that print a list (e.g. REQUEUED). */
  readonly stateFlags: ReadonlyArray<string>
  readonly reason: string | null
  readonly priority: number | null
  readonly nodeCount: number | null
  /** Largest node count asked for (0/null: not given). */
  readonly maxNodes: number | null
  readonly cpus: number | null
  readonly tasks: number | null
  readonly tasksPerNode: number | null
  readonly cpusPerTask: number | null
  readonly minCpusPerNode: number | null
  /** The --constraint expression, e.g. "gpu" or "a100&fast". */
  readonly features: string | null
  /** Minutes; null = none or unlimited. */
  readonly timeLimit: number | null
  readonly submitTime: number | null
  /** Hosts the job runs on (expanded). */
  readonly nodes: ReadonlyArray<string>
  readonly memPerNode: number | null
  readonly memPerCpu: number | null
  readonly reservation: string | null
  readonly qos: string | null
}

export const RawJob = Schema.Struct({
  job_id: Schema.Union(Schema.Number, NumberObject),
  job_state: StateWords,
  name: Text,
  user_name: Text,
  account: Text,
  partition: Text,
  state_reason: Text,
  priority: SlurmNumber,
  node_count: SlurmNumber,
  max_nodes: SlurmNumber,
  cpus: SlurmNumber,
  tasks: SlurmNumber,
  tasks_per_node: SlurmNumber,
  cpus_per_task: SlurmNumber,
  minimum_cpus_per_node: SlurmNumber,
  features: Text,
  time_limit: SlurmNumber,
  submit_time: SlurmNumber,
  nodes: Text,
  memory_per_node: SlurmNumber,
  memory_per_cpu: SlurmNumber,
  resv_name: Text,
  qos: Text
})

const RawSqueue = Schema.Struct({
  jobs: Schema.Array(RawJob),
  errors: Schema.optional(Schema.Array(ErrorEntry))
})

const SQUEUE = "squeue --json"

// The hand check of the job records (#19): Schema's decoding of 100,000 jobs
// costs seconds of CPU. A document whose every job field already has a type
// RawJob accepts is used as it is (RawJob would return the same values);
// anything else — a wrong type, an array where an object belongs, Slurm's own
// errors — goes through the Schema, whose error names the bad field.

/** RawJob's fields by kind; squeueFieldKinds in the tests keeps them equal to RawJob's. */
export const SQUEUE_TEXT_FIELDS = ["name", "user_name", "account", "partition", "state_reason", "features", "nodes", "resv_name", "qos"] as const
export const SQUEUE_NUMBER_FIELDS = [
  "priority",
  "node_count",
  "max_nodes",
  "cpus",
  "tasks",
  "tasks_per_node",
  "cpus_per_task",
  "minimum_cpus_per_node",
  "time_limit",
  "submit_time",
  "memory_per_node",
  "memory_per_cpu"
] as const

const isPlainObject = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)
const isNumberObject = (v: unknown): boolean =>
  isPlainObject(v) &&
  (v.set === undefined || typeof v.set === "boolean") &&
  (v.infinite === undefined || typeof v.infinite === "boolean") &&
  (v.number === undefined || v.number === null || typeof v.number === "number")

const isPlainJob = (j: unknown): boolean => {
  if (!isPlainObject(j)) return false
  if (!(typeof j.job_id === "number" || isNumberObject(j.job_id))) return false
  const st = j.job_state
  if (!(typeof st === "string" || (Array.isArray(st) && st.every((w) => typeof w === "string")))) return false
  for (const k of SQUEUE_TEXT_FIELDS) {
    const v = j[k]
    if (!(v === undefined || v === null || typeof v === "string")) return false
  }
  for (const k of SQUEUE_NUMBER_FIELDS) {
    const v = j[k]
    if (!(v === undefined || v === null || typeof v === "number" || isNumberObject(v))) return false
  }
  return true
}

/** A document RawSqueue would decode to itself (for the fields it has) and with no reported errors. */
const isPlainSqueue = (raw: unknown): raw is typeof RawSqueue.Type =>
  isPlainObject(raw) &&
  Array.isArray(raw.jobs) &&
  (raw.errors === undefined || (Array.isArray(raw.errors) && raw.errors.length === 0)) &&
  raw.jobs.every(isPlainJob)

/**
 * `squeue --json`: every job Slurm still knows (all states; 22.05 ignores
 * filters). `reader` "full" decodes every document with the Schema (same
 * result; tests).
 */
export const parseSqueueJson = (out: unknown, reader: Reader = "fast"): Either.Either<ReadonlyArray<SlurmJob>, ParseError> =>
  Either.gen(function* () {
    const input = yield* checkInput(SQUEUE, out)
    if (input.trim() === "") return yield* parseError(SQUEUE, "empty output (expected a JSON document with a jobs list)")
    const raw = yield* readJson(SQUEUE, input)
    const doc = reader === "fast" && isPlainSqueue(raw) ? raw : yield* decodeWith(RawSqueue, SQUEUE)(raw)
    yield* reportedErrors(SQUEUE, doc.errors)
    const jobs: Array<SlurmJob> = []
    for (const [i, j] of doc.jobs.entries()) {
      const id = typeof j.job_id === "number" ? j.job_id : slurmNumber(j.job_id)
      if (id === null || !Number.isSafeInteger(id) || id < 0) {
        return yield* parseError(SQUEUE, `jobs[${i}].job_id: expected a non-negative integer, got ${JSON.stringify(j.job_id)}`)
      }
      const state = words(j.job_state)
      if (state.length === 0) return yield* parseError(SQUEUE, `jobs[${i}].job_state: is empty`)
      const nodes = expandHostlist(j.nodes ?? "")
      if (Either.isLeft(nodes)) return yield* parseError(SQUEUE, `jobs[${i}].nodes: ${nodes.left.message}`)
      jobs.push({
        id: String(id),
        name: text(j.name),
        user: text(j.user_name),
        account: text(j.account),
        partitions: featureList(j.partition),
        state: state[0],
        stateFlags: state.slice(1),
        reason: text(j.state_reason),
        priority: slurmNumber(j.priority),
        nodeCount: slurmNumber(j.node_count),
        maxNodes: slurmNumber(j.max_nodes),
        cpus: slurmNumber(j.cpus),
        tasks: slurmNumber(j.tasks),
        tasksPerNode: slurmNumber(j.tasks_per_node),
        cpusPerTask: slurmNumber(j.cpus_per_task),
        minCpusPerNode: slurmNumber(j.minimum_cpus_per_node),
        features: text(j.features),
        timeLimit: isInfinite(j.time_limit) ? null : slurmNumber(j.time_limit),
        submitTime: slurmNumber(j.submit_time),
        nodes: nodes.right,
        memPerNode: slurmNumber(j.memory_per_node),
        memPerCpu: slurmNumber(j.memory_per_cpu),
        reservation: text(j.resv_name),
        qos: text(j.qos)
      })
    }
    return jobs
  })

// ---------------------------------------------------------------- sinfo --json

export interface SlurmNode {
  readonly name: string
  /** IDLE, ALLOCATED, MIXED, DOWN, FUTURE, UNKNOWN, ERROR (upper case). */
  readonly state: string
  /** DRAIN, NOT_RESPONDING, COMPLETING, CLOUD, POWERED_DOWN, DYNAMIC_NORM, ... (upper case). */
  readonly flags: ReadonlyArray<string>
  readonly cpus: number | null
  readonly allocCpus: number | null
  readonly realMemory: number | null
  readonly features: ReadonlyArray<string>
  readonly partitions: ReadonlyArray<string>
  readonly reason: string | null
  readonly reasonChangedAt: number | null
  /** Seconds since the epoch the node was last busy (0/null: never). */
  readonly lastBusy: number | null
  readonly address: string | null
  readonly hostname: string | null
}

const RawNode = Schema.Struct({
  name: Schema.String.pipe(Schema.filter((s) => s.trim() !== "", { message: () => "expected a non-empty node name" })),
  state: StateWords,
  state_flags: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  cpus: SlurmNumber,
  alloc_cpus: SlurmNumber,
  real_memory: SlurmNumber,
  features: Features,
  active_features: Features,
  partitions: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  reason: Text,
  reason_changed_at: SlurmNumber,
  last_busy: SlurmNumber,
  address: Text,
  hostname: Text
})

const RawSinfo = Schema.Struct({
  nodes: Schema.Array(RawNode),
  errors: Schema.optional(Schema.Array(ErrorEntry))
})

const SINFO = "sinfo --json"

/** `sinfo --json`: every node (22.05 ignores filters; FUTURE nodes are not listed). */
export const parseSinfoJson = (out: unknown): Either.Either<ReadonlyArray<SlurmNode>, ParseError> =>
  Either.gen(function* () {
    const input = yield* checkInput(SINFO, out)
    if (input.trim() === "") return yield* parseError(SINFO, "empty output (expected a JSON document with a nodes list)")
    const raw = yield* readJson(SINFO, input)
    const doc = yield* decodeWith(RawSinfo, SINFO)(raw)
    yield* reportedErrors(SINFO, doc.errors)
    const seen = new Set<string>()
    const nodes: Array<SlurmNode> = []
    for (const [i, n] of doc.nodes.entries()) {
      const w = words(n.state)
      if (w.length === 0) return yield* parseError(SINFO, `nodes[${i}].state: is empty`)
      const name = n.name.trim()
      // sinfo prints a node once per partition in some releases
      if (seen.has(name)) continue
      seen.add(name)
      nodes.push({
        name,
        state: w[0],
        flags: [...new Set([...w.slice(1), ...(n.state_flags ?? []).map((f) => f.trim().toUpperCase())])].filter((f) => f !== ""),
        cpus: slurmNumber(n.cpus),
        allocCpus: slurmNumber(n.alloc_cpus),
        realMemory: slurmNumber(n.real_memory),
        features: featureList(n.active_features ?? n.features),
        partitions: (n.partitions ?? []).map((p) => p.trim()).filter((p) => p !== ""),
        reason: text(n.reason),
        reasonChangedAt: slurmNumber(n.reason_changed_at),
        lastBusy: slurmNumber(n.last_busy),
        address: text(n.address),
        hostname: text(n.hostname)
      })
    }
    return nodes
  })

// ---------------------------------------------------------------- scontrol show ... -o

/** Keys of `scontrol show` records: `NodeName`, `CPUs/Task`, `AllocNode:Sid`, `ReqB:S:C:T`. */
const KEY = /^([A-Za-z][A-Za-z0-9_]*(?:[:/][A-Za-z0-9_]+)*)=(.*)$/s

/**
 * `scontrol show {node,job,partition,reservation} -o`: one record per line
 * of `Key=Value` pairs. Values may contain blanks (`OS=Linux 6.1 #1 SMP`,
 * `Reason=Not responding [slurm@...]`): a word that does not start a new
 * `Key=` belongs to the value before it. "X not found" lines and blank lines
 * are skipped.
 */
export const parseScontrolRecords = (out: unknown, source = "scontrol show -o"): Either.Either<ReadonlyArray<Readonly<Record<string, string>>>, ParseError> =>
  Either.gen(function* () {
    const input = yield* checkInput(source, out)
    const records: Array<Record<string, string>> = []
    for (const [ln, line0] of input.split("\n").entries()) {
      const line = line0.replace(/\r$/, "")
      if (line.trim() === "" || /^No \w+ in the system$/i.test(line.trim()) || / not found$/i.test(line.trim())) continue
      const rec: Record<string, string> = Object.create(null)
      let last: string | null = null
      for (const word of line.trim().split(/\s+/)) {
        const m = KEY.exec(word)
        if (m !== null) {
          last = m[1]
          rec[last] = m[2]
        } else if (last !== null) {
          rec[last] = rec[last] === "" ? word : `${rec[last]} ${word}`
        } else {
          return yield* parseError(source, `line ${ln + 1}: expected Key=Value pairs, got ${JSON.stringify(line.slice(0, 120))}`)
        }
      }
      records.push({ ...rec })
    }
    return records
  })

/** A node's state as `scontrol show node -o` prints it: `IDLE+DRAIN+DYNAMIC_NORM` → base and flags. */
export const splitNodeState = (s: string): { readonly state: string; readonly flags: ReadonlyArray<string> } => {
  const w = words(s.replace(/[*~#!%$@^-]+$/, ""))
  return { state: w[0] ?? "UNKNOWN", flags: w.slice(1) }
}

// ---------------------------------------------------------------- node mapping (SPEC §3)

/** Jobs in these states hold a node. */
export const ACTIVE_JOB_STATES: ReadonlySet<string> = new Set(["RUNNING", "COMPLETING", "SUSPENDED", "CONFIGURING", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"])

/** A CLOUD node of Slurm's power saving that is switched off: no machine, not a worker node. */
export const isPoweredOff = (n: Pick<SlurmNode, "flags">, jobs: number): boolean =>
  jobs === 0 && (n.flags.includes("POWERED_DOWN") || n.flags.includes("POWERING_DOWN")) && !n.flags.includes("POWERING_UP")

/**
 * SPEC §3 for Slurm: IDLE → Idle, ALLOCATED/MIXED (or jobs, or COMPLETING) →
 * Busy, DRAIN with jobs → Holding, DRAIN without → Held (drained),
 * DOWN/NOT_RESPONDING/FAIL → Error, FUTURE/UNKNOWN/POWERING_UP → Starting
 * (not registered yet). A state word Slurm does not document → Error.
 */
export const slurmNodeState = (state: string, flags: ReadonlyArray<string>, jobs: number): NodeState => {
  const base = state.toUpperCase()
  const f = new Set(flags.map((x) => x.toUpperCase()))
  if (base === "DOWN" || base === "ERROR" || f.has("NOT_RESPONDING") || f.has("FAIL") || f.has("FAILING")) return NodeState.Error
  if (base === "FUTURE" || base === "UNKNOWN" || f.has("POWERING_UP")) return jobs > 0 ? NodeState.Busy : NodeState.Starting
  const busy = base === "ALLOCATED" || base === "MIXED" || f.has("COMPLETING") || jobs > 0
  if (f.has("DRAIN")) return busy ? NodeState.Holding : NodeState.Held
  if (busy) return NodeState.Busy
  if (base === "IDLE") return NodeState.Idle
  return NodeState.Error
}

/** Short ids of the jobs on each host (running, completing, suspended, ...). */
export const jobsByHost = (jobs: ReadonlyArray<SlurmJob>): ReadonlyMap<string, ReadonlyArray<string>> => {
  const m = new Map<string, Array<string>>()
  for (const j of jobs) {
    if (!ACTIVE_JOB_STATES.has(j.state)) continue
    for (const h of j.nodes) {
      const l = m.get(h)
      if (l === undefined) m.set(h, [j.id])
      else l.push(j.id)
    }
  }
  return m
}

export const clusterNode = (n: SlurmNode, jobs: ReadonlyArray<string>): ClusterNode => {
  const state = slurmNodeState(n.state, n.flags, jobs.length)
  return {
    hostname: n.name,
    state,
    jobs: jobs.length > 0 ? jobs.join(",") : null,
    num_proc: n.cpus ?? 0,
    extra_attributes: {
      slurm_state: [n.state, ...n.flags].join("+"),
      features: n.features.join(","),
      partitions: n.partitions.join(","),
      ...(n.reason !== null ? { reason: n.reason } : {}),
      ...(n.address !== null ? { address: n.address } : {}),
      ...(n.allocCpus !== null ? { alloc_cpus: n.allocCpus } : {}),
      ...(n.realMemory !== null ? { real_memory: n.realMemory } : {})
    },
    // Slurm knows since when an idle node has been idle: its last busy time.
    ...(state === NodeState.Idle && n.lastBusy !== null && n.lastBusy > 0 ? { since: n.lastBusy } : {})
  }
}

// ---------------------------------------------------------------- job mapping (SPEC §3)

/** Pending reasons that more nodes cannot cure: the job is not eligible and is not provisioned for. */
const NOT_ELIGIBLE = new Set([
  "JobHeldUser",
  "JobHeldAdmin",
  "Dependency",
  "DependencyNeverSatisfied",
  "BeginTime",
  "JobArrayTaskLimit",
  "PartitionDown",
  "PartitionInactive",
  "PartitionTimeLimit",
  "InvalidAccount",
  "InvalidQOS",
  "AccountingPolicy",
  "Licenses",
  "Reservation",
  "ReservationDeleted",
  "DeadLine",
  "SystemFailure",
  "JobLaunchFailure",
  "NonZeroExitCode",
  "OutOfMemory",
  "Prolog",
  "MaxRequeue"
])
const NOT_ELIGIBLE_PREFIX = /^(Assoc(Grp|Max)|QOS(Grp|Max|Min|Job|Resource|Time|UsageThreshold)|Max(Cpu|Node|Mem|Gres|BB|License))/

/** Whether more nodes could let this pending job start (held, dependent, over a limit: no). */
export const isEligible = (j: SlurmJob): boolean =>
  j.priority !== 0 && (j.reason === null || !(NOT_ELIGIBLE.has(j.reason) || NOT_ELIGIBLE_PREFIX.test(j.reason)))

export interface CoreRequest {
  readonly requestedCores: number
  /** 0 = the tasks may spread anywhere. */
  readonly coresPerNode: number
}

const pos = (n: number | null): number | null => (n !== null && Number.isFinite(n) && n > 0 ? Math.floor(n) : null)

/**
 * Cores asked for and how many of them per node:
 * --ntasks-per-node × --cpus-per-task when given; else an exact node count
 * (-N N) spreads the CPUs evenly; else --cpus-per-task (seen in 22.05 as the
 * minimum CPUs per node) per node when above 1; else anywhere (0).
 */
export const coreRequest = (j: SlurmJob): CoreRequest => {
  const nodes = pos(j.nodeCount) ?? 1
  const cpt = pos(j.cpusPerTask) ?? 1
  const cpus = pos(j.cpus) ?? Math.max(pos(j.tasks) ?? 1, 1) * cpt
  const tpn = pos(j.tasksPerNode)
  if (tpn !== null) {
    const per = tpn * cpt
    return { requestedCores: Math.max(cpus, nodes * per), coresPerNode: per }
  }
  const maxNodes = pos(j.maxNodes)
  if (maxNodes !== null && maxNodes === nodes) {
    const per = Math.max(Math.ceil(cpus / nodes), pos(j.minCpusPerNode) ?? 1)
    return { requestedCores: Math.max(cpus, nodes * per), coresPerNode: per }
  }
  const minPer = pos(j.minCpusPerNode)
  if (minPer !== null && minPer > 1) return { requestedCores: cpus, coresPerNode: Math.min(minPer, cpus) }
  return { requestedCores: cpus, coresPerNode: 0 }
}

/** Minutes → "HH:MM:SS" (hours may exceed 24), as Torque prints walltimes. */
export const walltime = (minutes: number | null): string | null => {
  if (minutes === null || !Number.isFinite(minutes) || minutes < 0) return null
  const m = Math.floor(minutes)
  const two = (n: number) => String(n).padStart(2, "0")
  return `${two(Math.floor(m / 60))}:${two(m % 60)}:00`
}

/** The partition a job is counted for: its first monitored one (all monitored when the list is empty). */
export const monitoredPartition = (j: SlurmJob, queues: ReadonlyArray<string>): string | null => {
  if (j.partitions.length === 0) return queues.length === 0 ? "" : null
  if (queues.length === 0) return j.partitions[0]
  return j.partitions.find((p) => queues.includes(p)) ?? null
}

/** A pending Slurm job as the engine's queued job (priority null = not eligible). */
export const queuedJob = (j: SlurmJob, partition: string | null): Job => {
  const req = coreRequest(j)
  return {
    jobid: j.id,
    name: j.name,
    owner: j.user,
    queue: partition === "" ? null : partition,
    account: j.account,
    property: j.features,
    priority: isEligible(j) ? (j.priority ?? 0) : null,
    state: JobState.Queued,
    requested_cores: req.requestedCores,
    cores_per_node: req.coresPerNode,
    requested_mem: j.memPerNode !== null && j.memPerNode > 0 ? `${j.memPerNode}M` : j.memPerCpu !== null && j.memPerCpu > 0 ? `${j.memPerCpu}M/cpu` : null,
    requested_walltime: walltime(j.timeLimit),
    creation_time: j.submitTime !== null && j.submitTime > 0 ? String(j.submitTime) : null,
    extra_attributes: {
      partition: j.partitions.join(","),
      ...(j.reason !== null ? { reason: j.reason } : {}),
      ...(j.nodeCount !== null ? { node_count: j.nodeCount } : {}),
      ...(j.reservation !== null ? { reservation: j.reservation } : {}),
      ...(j.qos !== null ? { qos: j.qos } : {})
    }
  }
}

/**
 * The cluster view: nodes (powered-off CLOUD nodes left out: they are no
 * machines) with their jobs, and the PENDING jobs of the monitored partitions.
 */
export const slurmView = (nodes: ReadonlyArray<SlurmNode>, jobs: ReadonlyArray<SlurmJob>, queues: ReadonlyArray<string>): ClusterView => {
  const byHost = jobsByHost(jobs)
  const out: Array<ClusterNode> = []
  for (const n of nodes) {
    const js = byHost.get(n.name) ?? []
    if (isPoweredOff(n, js.length)) continue
    out.push(clusterNode(n, js))
  }
  const queued: Array<Job> = []
  for (const j of jobs) {
    if (j.state !== "PENDING") continue
    const p = monitoredPartition(j, queues)
    if (p === null) continue
    queued.push(queuedJob(j, p))
  }
  return { nodes: out, jobs: queued }
}
