/**
 * An in-memory EngineApi for tests and demos of the HTTP layer. It holds
 * nodes, jobs and resources and applies the operator-action state rules of
 * SPEC §5, so the REST API's status codes come from real decisions, not stubs.
 * Its config deliberately contains secrets: the HTTP layer must remove them.
 */
import { Effect } from "effect"
import { ActionError, type EngineApi, type Snapshot } from "../../engine/api.ts"
import {
  type CloudResourceView,
  emptyInstance,
  hasJobs,
  type Instance,
  InstanceState,
  isPhysical,
  type Job,
  makeJob,
  NodeState,
  ResourceFlag,
  type WorkerNode
} from "../../model/types.ts"

interface FakeResource {
  name: string
  type: string
  priority: number
  cores_per_node: number
  configured: { min: number; max: number }
  min: number
  max: number
  flag: "normal" | "frozen" | "draining"
  reservation: { queue: string | null; account: string | null; property: string | null }
  config: Record<string, unknown>
}

export interface FakeEngine extends EngineApi {
  /** Nodes as held now (mutable, for tests that arrange a situation). */
  readonly nodes: Array<WorkerNode>
  readonly jobs: Array<Job>
  /** Makes the next operator action fail: with an ActionError of this status, or with a defect. */
  readonly failNext: (failure: { status: 400 | 404 | 500; message: string } | "defect") => void
  /** Operator actions applied, for assertions ("hold cw-vm-d05e..."). */
  readonly log: ReadonlyArray<string>
  readonly setNodeState: (hostname: string, state: WorkerNode["state"]) => void
}

export const FAKE_TIME = 1443598314

const instance = (resource: string, over: Partial<Instance>): Instance => ({
  ...emptyInstance(resource, FAKE_TIME - 3600),
  state: InstanceState.Ready,
  vcpu_number: 1,
  availability_zone: "sa",
  security_groups: ["dc-dynamic_cluster_wn-vgg7h5udejdb"],
  image_uuid: "1b66d8cd-7d10-413a-ae06-3b61560e788a",
  flavor: "m1.small",
  key_name: "ersakey",
  ...over
})

const node = (over: Partial<WorkerNode> & Pick<WorkerNode, "hostname" | "state">): WorkerNode => ({
  type: "openstack",
  jobs: null,
  num_proc: 1,
  time_in_current_state: 0,
  state_start_time: FAKE_TIME - 600,
  instance: null,
  extra_attributes: null,
  ...over
})

/** The secrets the HTTP layer must never show (values are unique so a test can grep the raw body). */
export const FAKE_SECRETS = [
  "os-password-SECRET-1",
  "aws-secret-key-SECRET-2",
  "admin-token-SECRET-3",
  "app-cred-SECRET-4",
  "nested-token-SECRET-5"
] as const

const fakeConfig = () => ({
  "dynamic-cluster": {
    auto_mode: true,
    "admin-server": { port: 8001, host: "127.0.0.1", token: FAKE_SECRETS[2], token_for_reads: false },
    cluster_poller_interval: 10,
    cloud_poller_interval: 20,
    max_idle_time: 600,
    max_down_time: 480,
    max_launch_time: 1200,
    worker_number: 2
  },
  cluster: {
    type: "torque",
    config: { queue_to_monitor: ["default"], queued_job_number_to_display: 30, qstat_command: "/usr/bin/qstat -x -t" }
  },
  cloud: {
    "os-res": {
      type: "openstack",
      priority: 1,
      quantity: { min: 1, max: 3 },
      reservation: { queue: null, account: null, property: null },
      config: {
        auth_url: "https://keystone.example.org:5000/v3/",
        username: "blah",
        password: FAKE_SECRETS[0],
        application_credential_secret: FAKE_SECRETS[3],
        project: "blah",
        flavor: "m1.small"
      }
    },
    "aws-res": {
      type: "aws",
      priority: 2,
      quantity: { min: 0, max: 4 },
      reservation: { queue: "gpu", account: null, property: null },
      config: { access_key_id: "AKIAEXAMPLE", secret_access_key: FAKE_SECRETS[1], region_name: "ap-southeast-2" }
    }
  },
  plugins: { graphite: { arguments: { hostname: "localhost", port: 2003, prefix: "dc", api_token: FAKE_SECRETS[4] } } },
  logging: { log_level: 3 }
})

export const makeFakeEngine = (): FakeEngine => {
  const config = fakeConfig()
  let autoMode = true
  let pendingFailure: { status: 400 | 404 | 500; message: string } | "defect" | null = null
  let launched = 0
  const log: Array<string> = []

  const resources: Array<FakeResource> = Object.entries(config.cloud).map(([name, r]) => ({
    name,
    type: r.type,
    priority: r.priority,
    cores_per_node: r.type === "aws" ? 2 : 1,
    configured: { ...r.quantity },
    min: r.quantity.min,
    max: r.quantity.max,
    flag: "normal",
    reservation: { ...r.reservation },
    config: { ...r.config }
  }))

  const nodes: Array<WorkerNode> = [
    node({
      hostname: "cw-vm-d05e.sa.nectar.org.au",
      state: NodeState.Idle,
      instance: instance("os-res", {
        uuid: "7a0b2efe-0eda-42f4-9ad3-ac779be1b2cf",
        instance_name: "dynamicwn-Mmp2O3y1",
        dns_name: "cw-vm-d05e.sa.nectar.org.au",
        ip: "130.220.208.94"
      }),
      extra_attributes: { ntype: "cluster", mom_service_port: "15002", mom_manager_port: "15003", status: "state=free" }
    }),
    node({
      hostname: "cw-vm-d0eb.sa.nectar.org.au",
      state: NodeState.Busy,
      jobs: "0/13",
      instance: instance("os-res", {
        uuid: "cb689e42-915f-4c98-8491-c7c26db117f3",
        instance_name: "dynamicwn-9AJPBEdx",
        dns_name: "cw-vm-d0eb.sa.nectar.org.au",
        ip: "130.220.208.235"
      })
    }),
    node({
      hostname: "cw-vm-held.sa.nectar.org.au",
      state: NodeState.Held,
      instance: instance("os-res", { uuid: "0c5d", instance_name: "dynamicwn-HeLd", dns_name: "cw-vm-held.sa.nectar.org.au" })
    }),
    node({
      hostname: "ip-10-0-0-5.ec2.internal",
      type: "aws",
      state: NodeState.Starting,
      num_proc: 2,
      instance: instance("aws-res", { uuid: "i-0abc", instance_name: "dynamicwn-aws1", state: InstanceState.Starting, vcpu_number: 2 })
    }),
    node({
      hostname: "ip-10-0-0-9.ec2.internal",
      type: "aws",
      state: NodeState.Error,
      num_proc: 2,
      instance: instance("aws-res", { uuid: "i-0def", instance_name: "dynamicwn-aws2", state: InstanceState.Error, vcpu_number: 2 })
    }),
    node({ hostname: "node01.hpc.example.org", type: "physical", state: NodeState.Busy, num_proc: 16, jobs: "0/14.headnode,1/14.headnode" })
  ]

  const jobs: Array<Job> = [
    makeJob({
      jobid: "13",
      name: "longjob",
      owner: "fred@cw-vm-d026.sa.nectar.org.au",
      queue: "default",
      requested_walltime: "00:50:00",
      creation_time: "1443597955",
      extra_attributes: { submit_host: "cw-vm-d026.sa.nectar.org.au", submit_args: "test.sub" }
    }),
    makeJob({ jobid: "15.headnode.example.org", name: "mpi", owner: "ann@headnode", queue: "default", requested_cores: 4, cores_per_node: 2, priority: 12 }),
    makeJob({ jobid: "5[1]", name: "array", owner: "bob@headnode", queue: "gpu", priority: 3 }),
    makeJob({ jobid: "5[2].headnode", name: "array", owner: "bob@headnode", queue: "gpu", priority: null })
  ]

  const nodeResource = (n: WorkerNode) => (isPhysical(n) || n.instance === null ? null : n.instance.cloud_resource)
  const nodesOf = (r: string) => nodes.filter((n) => nodeResource(n) === r)

  const setState = (n: WorkerNode, state: WorkerNode["state"]): WorkerNode => {
    const next = { ...n, state, state_start_time: FAKE_TIME, time_in_current_state: 0 }
    nodes[nodes.indexOf(n)] = next
    return next
  }

  const flagOf = (r: FakeResource): ResourceFlag =>
    r.flag === "frozen"
      ? ResourceFlag.Frozen
      : r.flag === "draining"
        ? nodesOf(r.name).length > 0
          ? ResourceFlag.Draining
          : ResourceFlag.Drained
        : ResourceFlag.Normal

  const view = (r: FakeResource): CloudResourceView => ({
    name: r.name,
    type: r.type,
    priority: r.priority,
    flag: flagOf(r),
    min_num: r.min,
    max_num: r.max,
    current_num: nodesOf(r.name).length,
    cores_per_node: r.cores_per_node,
    reservation_queue: r.reservation.queue,
    reservation_account: r.reservation.account,
    reservation_property: r.reservation.property,
    proposed_allocation: null,
    config: r.config,
    worker_nodes: nodesOf(r.name)
  })

  /** Runs an action after an injected failure, if any. */
  const act = (what: string, f: () => void): Effect.Effect<void, ActionError> =>
    Effect.suspend(() => {
      const failure = pendingFailure
      pendingFailure = null
      if (failure === "defect") return Effect.die(new Error(`injected defect in ${what}`))
      if (failure !== null) return Effect.fail(new ActionError(failure))
      try {
        f()
      } catch (e) {
        if (e instanceof ActionError) return Effect.fail(e)
        throw e
      }
      log.push(what)
      return Effect.void
    })

  const refuse = (status: 400 | 404 | 500, message: string): never => {
    throw new ActionError({ status, message })
  }

  const findNode = (hostname: string): WorkerNode => {
    const n = nodes.find((x) => x.hostname === hostname)
    if (n === undefined) return refuse(404, `unknown worker node: ${JSON.stringify(hostname)}`)
    if (isPhysical(n)) return refuse(400, `${hostname} is a physical node; the scaler never touches it`)
    return n
  }
  const findResource = (name: string): FakeResource =>
    resources.find((r) => r.name === name) ?? refuse(404, `unknown resource: ${JSON.stringify(name)}`)
  const stateName = (n: WorkerNode) => ["Inexistent", "Starting", "Idle", "Busy", "Error", "Deleting", "Holding", "Held"][n.state]

  const snapshot: Effect.Effect<Snapshot> = Effect.sync(() => ({
    time: FAKE_TIME,
    nodes: nodes.map((n) => ({ ...n, time_in_current_state: FAKE_TIME - n.state_start_time })),
    jobs: [...jobs],
    resources: resources.map(view),
    status: { auto_mode: autoMode, cluster: { torque: true, maui: true }, dry_run: false },
    policy: "classic",
    queues: { waiting: 1, running: 2, results_pending: 0 },
    backoff: [{ resource: "aws-res", until: FAKE_TIME + 90, failures: 3, invalid: null }],
    counters: {
      boots: { "os-res": 5 + launched, "aws-res": 4 },
      boot_failures: { "aws-res": 3 },
      destroys: { "os-res": 2 },
      spot_interruptions: { "aws-res": 1 },
      cycles: 0
    }
  }))

  return {
    nodes,
    jobs,
    log,
    failNext: (f) => {
      pendingFailure = f
    },
    setNodeState: (hostname, state) => {
      const n = nodes.find((x) => x.hostname === hostname)
      if (n !== undefined) setState(n, state)
    },
    snapshot,
    config: Effect.sync(() => structuredClone(config)),
    hold: (h) =>
      act(`hold ${h}`, () => {
        const n = findNode(h)
        if (n.state !== NodeState.Idle && n.state !== NodeState.Busy) {
          refuse(400, `cannot hold ${h}: it is ${stateName(n)}; only Idle or Busy nodes can be held`)
        }
        setState(n, NodeState.Holding)
      }),
    unhold: (h) =>
      act(`unhold ${h}`, () => {
        const n = findNode(h)
        if (n.state !== NodeState.Held) refuse(400, `cannot unhold ${h}: it is ${stateName(n)}; only Held nodes can be unheld`)
        setState(n, hasJobs(n) ? NodeState.Busy : NodeState.Idle)
      }),
    vacate: (h) =>
      act(`vacate ${h}`, () => {
        const n = findNode(h)
        const vacated = n.state === NodeState.Busy ? setState(n, NodeState.Idle) : n
        nodes[nodes.indexOf(vacated)] = { ...vacated, jobs: null }
      }),
    deleteNode: (h) =>
      act(`delete ${h}`, () => {
        const n = findNode(h)
        if (n.state === NodeState.Busy || hasJobs(n)) refuse(400, `cannot delete ${h}: it has running jobs`)
        if (n.state !== NodeState.Error && n.state !== NodeState.Starting && n.state !== NodeState.Held) {
          refuse(400, `cannot delete ${h}: it is ${stateName(n)}; only Held, Starting or Error nodes can be deleted`)
        }
        setState(n, NodeState.Deleting)
      }),
    launch: (name, num) =>
      act(`launch ${name} ${num}`, () => {
        const r = findResource(name)
        const current = nodesOf(name).length
        if (current + num > r.max) {
          refuse(400, `cannot launch ${num} node(s) in ${name}: ${current} + ${num} exceeds its maximum of ${r.max}`)
        }
        for (let i = 0; i < num; i++) {
          launched += 1
          nodes.push(
            node({
              hostname: `${name}-new-${launched}.example`,
              type: r.type,
              state: NodeState.Starting,
              num_proc: r.cores_per_node,
              state_start_time: FAKE_TIME,
              instance: { ...emptyInstance(name, FAKE_TIME), instance_name: `dynamicwn-new${launched}` }
            })
          )
        }
      }),
    freeze: (name) =>
      act(`freeze ${name}`, () => {
        const r = findResource(name)
        r.min = r.max = nodesOf(name).length
        r.flag = "frozen"
      }),
    restore: (name) =>
      act(`restore ${name}`, () => {
        const r = findResource(name)
        r.min = r.configured.min
        r.max = r.configured.max
        r.flag = "normal"
      }),
    drain: (name) =>
      act(`drain ${name}`, () => {
        const r = findResource(name)
        r.min = r.max = 0
        r.flag = "draining"
        for (const n of nodesOf(name)) {
          if (n.state === NodeState.Idle || n.state === NodeState.Busy) setState(n, NodeState.Holding)
          else if (!hasJobs(n) && n.state !== NodeState.Holding && n.state !== NodeState.Deleting) setState(n, NodeState.Deleting)
        }
      }),
    setAuto: (on) =>
      Effect.sync(() => {
        autoMode = on
        log.push(`auto ${on}`)
      })
  }
}
