/**
 * Wire types of the REST API contract (../shared/seed/restapi.md) and the
 * numeric state codes of SPEC §1. The engine keeps these same records in its
 * state, so the API only has to serialise what the engine holds.
 */
import { Schema } from "effect"

// ---------------------------------------------------------------- state codes

export const NodeState = {
  Inexistent: 0,
  Starting: 1,
  Idle: 2,
  Busy: 3,
  Error: 4,
  Deleting: 5,
  Holding: 6,
  Held: 7
} as const
export type NodeState = (typeof NodeState)[keyof typeof NodeState]
export const NodeStateNames = [
  "Inexistent",
  "Starting",
  "Idle",
  "Busy",
  "Error",
  "Deleting",
  "Holding",
  "Held"
] as const

export const InstanceState = {
  Inexistent: 0,
  Pending: 1,
  Starting: 2,
  Active: 3,
  Ready: 4,
  Deleting: 5,
  Error: 6,
  Unknown: 7
} as const
export type InstanceState = (typeof InstanceState)[keyof typeof InstanceState]
export const InstanceStateNames = [
  "Inexistent",
  "Pending",
  "Starting",
  "Active",
  "Ready",
  "Deleting",
  "Error",
  "Unknown"
] as const

export const JobState = { Queued: 0, Running: 1, Other: 2 } as const
export type JobState = (typeof JobState)[keyof typeof JobState]

export const ResourceFlag = { Normal: 0, Frozen: 1, Draining: 2, Drained: 3 } as const
export type ResourceFlag = (typeof ResourceFlag)[keyof typeof ResourceFlag]
export const ResourceFlagNames = ["Normal", "Frozen", "Draining", "Drained"] as const

const code = (max: number) => Schema.Int.pipe(Schema.between(0, max))
export const NodeStateSchema = code(7) as unknown as Schema.Schema<NodeState, number>
export const InstanceStateSchema = code(7) as unknown as Schema.Schema<InstanceState, number>
export const JobStateSchema = code(2) as unknown as Schema.Schema<JobState, number>
export const ResourceFlagSchema = code(3) as unknown as Schema.Schema<ResourceFlag, number>

const NullOr = <S extends Schema.Schema.Any>(s: S) => Schema.NullOr(s)
/** Free-form extra attributes as the batch system reported them. */
export const ExtraAttributes = NullOr(Schema.Record({ key: Schema.String, value: Schema.Unknown }))

// ---------------------------------------------------------------- instance

/** What the engine does about a cloud failure (engine/services.ts `errorClass`, docs/clouds.md "Error classes"). */
export const CloudErrorClassSchema = Schema.Literal("auth", "quota", "capacity", "throttle", "invalid", "transient")

/**
 * Why the cloud put an instance in Error, when it says (OpenStack: the
 * server's `fault`), with the class of that failure: a server Nova's
 * scheduler could place nowhere ("No valid host was found") is `capacity`.
 */
export const InstanceFault = Schema.Struct({ class: CloudErrorClassSchema, message: Schema.String })
export type InstanceFault = typeof InstanceFault.Type

export const Instance = Schema.Struct({
  uuid: NullOr(Schema.String),
  instance_name: NullOr(Schema.String),
  cloud_resource: Schema.String,
  state: InstanceStateSchema,
  dns_name: NullOr(Schema.String),
  ip: NullOr(Schema.String),
  vcpu_number: Schema.Number,
  creation_time: Schema.Number,
  last_update_time: Schema.Number,
  last_task_result: Schema.Number,
  tasked: Schema.Boolean,
  availability_zone: NullOr(Schema.String),
  subnet_id: NullOr(Schema.String),
  security_groups: NullOr(Schema.Array(Schema.String)),
  image_uuid: NullOr(Schema.String),
  flavor: NullOr(Schema.String),
  key_name: NullOr(Schema.String),
  spot_id: NullOr(Schema.String),
  spot_state: NullOr(Schema.String),
  spot_price: Schema.Number,
  /** Set only on an instance in Error whose cloud said why. */
  fault: Schema.optional(InstanceFault)
})
export type Instance = typeof Instance.Type

export const emptyInstance = (resource: string, now: number): Instance => ({
  uuid: null,
  instance_name: null,
  cloud_resource: resource,
  state: InstanceState.Pending,
  dns_name: null,
  ip: null,
  vcpu_number: 0,
  creation_time: now,
  last_update_time: now,
  last_task_result: -1,
  tasked: false,
  availability_zone: null,
  subnet_id: null,
  security_groups: null,
  image_uuid: null,
  flavor: null,
  key_name: null,
  spot_id: null,
  spot_state: null,
  spot_price: 0
})

// ---------------------------------------------------------------- worker node

export const WorkerNode = Schema.Struct({
  hostname: Schema.String,
  /** "physical" for nodes the scaler did not start; otherwise the cloud type. */
  type: Schema.String,
  state: NodeStateSchema,
  /** Job ids as the batch system lists them, comma separated ("0/13,1/14"), or null. */
  jobs: NullOr(Schema.String),
  num_proc: Schema.Number,
  time_in_current_state: Schema.Number,
  state_start_time: Schema.Number,
  instance: NullOr(Instance),
  extra_attributes: ExtraAttributes
})
export type WorkerNode = typeof WorkerNode.Type

export const isPhysical = (n: Pick<WorkerNode, "type" | "instance">): boolean =>
  // (the length test first: toLowerCase makes a string, and this runs for every node at every step)
  n.instance === null || (n.type.length === 8 && n.type.toLowerCase() === "physical")

export const jobList = (jobs: string | null): ReadonlyArray<string> =>
  jobs === null || jobs.trim() === ""
    ? []
    : jobs
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s.length > 0)

export const hasJobs = (n: Pick<WorkerNode, "jobs">): boolean => n.jobs !== null && n.jobs.trim() !== ""

// ---------------------------------------------------------------- job

export const Job = Schema.Struct({
  jobid: Schema.String,
  name: NullOr(Schema.String),
  owner: NullOr(Schema.String),
  queue: NullOr(Schema.String),
  account: NullOr(Schema.String),
  property: NullOr(Schema.String),
  /** null = not yet eligible (no priority from the scheduler): not provisioned for. The API shows it as NO_PRIORITY. */
  priority: NullOr(Schema.Number),
  state: JobStateSchema,
  requested_cores: Schema.Number,
  /** 0 = may spread anywhere. */
  cores_per_node: Schema.Number,
  requested_mem: NullOr(Schema.String),
  requested_walltime: NullOr(Schema.String),
  /** Seconds since the epoch, as a string (the classic API's spelling). */
  creation_time: NullOr(Schema.String),
  extra_attributes: ExtraAttributes
})
export type Job = typeof Job.Type

/** How the REST API spells a job without a priority (the first version's default); `plan` reads it back as null. */
export const NO_PRIORITY = -1

export const makeJob = (j: Partial<Job> & Pick<Job, "jobid">): Job => ({
  name: null,
  owner: null,
  queue: null,
  account: null,
  property: null,
  priority: 0,
  state: JobState.Queued,
  requested_cores: 1,
  cores_per_node: 1,
  requested_mem: null,
  requested_walltime: null,
  creation_time: null,
  extra_attributes: null,
  ...j
})

// ---------------------------------------------------------------- resource

export const CloudResourceView = Schema.Struct({
  name: Schema.String,
  type: Schema.String,
  priority: Schema.Number,
  flag: ResourceFlagSchema,
  min_num: Schema.Number,
  max_num: Schema.Number,
  current_num: Schema.Number,
  cores_per_node: Schema.Number,
  reservation_queue: NullOr(Schema.String),
  reservation_account: NullOr(Schema.String),
  reservation_property: NullOr(Schema.String),
  proposed_allocation: NullOr(Schema.Unknown),
  config: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  worker_nodes: Schema.Array(WorkerNode)
})
export type CloudResourceView = typeof CloudResourceView.Type

/** A reservation of a resource: what its nodes are restricted to. */
export interface Reservation {
  readonly queue: string | null
  readonly account: string | null
  readonly property: string | null
}
