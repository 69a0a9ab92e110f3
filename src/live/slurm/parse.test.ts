import { Either } from "effect"
import fc from "fast-check"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { JobState, NodeState } from "../../model/types.ts"
import { expectTotal as expectTotalOf, leftMessage, right, sharedFixtures } from "../testing/parsers.ts"
import {
  coreRequest,
  isEligible,
  isPoweredOff,
  jobsByHost,
  monitoredPartition,
  parseScontrolRecords,
  parseSinfoJson,
  parseSqueueJson,
  queuedJob,
  RawJob,
  SQUEUE_NUMBER_FIELDS,
  SQUEUE_TEXT_FIELDS,
  slurmNodeState,
  slurmNumber,
  slurmView,
  splitNodeState,
  walltime,
  type SlurmJob,
  type SlurmNode
} from "./parse.ts"

// Real captures: the shared ones (21.08, 26.05 text) beside the repository,
// never copied in; the 22.05 ones recorded on this project's CI Slurm (./fixtures).
const { have: haveShared, read: shared } = sharedFixtures("slurm parsers", "slurm/")
const own = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")

// ---------------------------------------------------------------- totality helpers

/** A JSON value with its structure kept but leaves replaced by random JSON: a well-formed but wrong document. */
const scrambleJson = (doc: unknown, leaves: ReadonlyArray<unknown>): unknown => {
  let i = 0
  const go = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(go)
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, go(x)]))
    const r = i < leaves.length ? leaves[i] : v
    i++
    return r === undefined ? v : r
  }
  return go(doc)
}

const JUNK = ["{", "}", "[", "]", '"', ",", "null", "\u0000", "=", "+", " Key=v ", "\n"]

/** Total on any text (the shared check), on any JSON, and on `json` samples with their leaves scrambled. */
const expectTotal = (parse: (s: string) => Either.Either<unknown, unknown>, samples: ReadonlyArray<string>, json: boolean) => {
  expectTotalOf(parse, samples, { junk: JUNK })
  fc.assert(
    fc.property(fc.json({ maxDepth: 4 }), (s) => {
      expect(Either.isEither(parse(s))).toBe(true)
    }),
    { numRuns: 200 }
  )
  if (!json) return
  for (const text of samples) {
    const doc = JSON.parse(text) as unknown
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 })), { maxLength: 400 }), (leaves) => {
        expect(Either.isEither(parse(JSON.stringify(scrambleJson(doc, leaves))))).toBe(true)
      }),
      { numRuns: 100 }
    )
  }
}

// ---------------------------------------------------------------- squeue --json

describe("squeue --json", () => {
  it("reads Slurm 22.05.8 (recorded on the CI Slurm)", () => {
    const jobs = right(parseSqueueJson(own("squeue_json_slurm-22.05.8.json")))
    expect(jobs).toHaveLength(10)
    const byName = (n: string) => jobs.filter((j) => j.name === n)
    const wide = byName("wide")[0]
    expect(wide).toMatchObject({
      id: "3",
      state: "PENDING",
      reason: "Resources",
      partitions: ["dyn"],
      nodeCount: 2,
      maxNodes: 2,
      cpus: 4,
      tasksPerNode: 2,
      cpusPerTask: null,
      timeLimit: 1590,
      nodes: []
    })
    expect(byName("running1")[0]).toMatchObject({ id: "1", state: "RUNNING", nodes: ["capA"], timeLimit: 30, account: null })
    expect(byName("physjob")[0]).toMatchObject({ account: "physics", reservation: "dyncluster_physics", minCpusPerNode: 2, cpus: 4 })
    expect(byName("held")[0]).toMatchObject({ priority: 0, reason: "JobHeldUser" })
    expect(byName("spread")[0]).toMatchObject({ memPerNode: 500, memPerCpu: null, nodeCount: 2, cpus: 5 })
    // an array job: one record per task, each with its own job id
    expect(byName("arr").map((j) => j.id).sort()).toEqual(["10", "7", "9"])
    expect(byName("gpujob")[0]).toMatchObject({ state: "FAILED", features: "gpu" })
  })

  it.skipIf(!haveShared)("reads Slurm 21.08.5 with numbers both plain and as {set, infinite, number}", () => {
    const jobs = right(parseSqueueJson(shared("squeue_json_slurm-21.08.5.json")))
    expect(jobs).toEqual([
      expect.objectContaining({
        id: "26515966",
        state: "RUNNING",
        nodes: ["cs75"],
        features: "a100-80gb&preemptible&gpu-1",
        priority: 1013,
        timeLimit: 30240,
        account: "account1",
        partitions: ["hw-l"]
      }),
      expect.objectContaining({
        id: "58948420",
        state: "PENDING",
        reason: "Dependency",
        priority: 1368,
        nodeCount: 1,
        cpus: 1,
        cpusPerTask: 1,
        timeLimit: 1439,
        memPerNode: 131072,
        submitTime: 1729715848,
        nodes: []
      })
    ])
  })

  it("refuses output whose errors say slurmctld could not be asked (exit code 0, empty list)", () => {
    const r = parseSqueueJson(own("squeue_json_unreachable_slurm-22.05.8.json"))
    expect(leftMessage(r)).toMatch(/Slurm reported errors: slurm_load_jobs: Unspecified error: Failed while looking for jobs/)
  })

  it("names the path of a bad value", () => {
    expect(leftMessage(parseSqueueJson(JSON.stringify({ jobs: [{ job_id: 1, job_state: "PENDING" }, { job_id: "x", job_state: "RUNNING" }] })))).toMatch(
      /jobs\[1\]\.job_id/
    )
    expect(leftMessage(parseSqueueJson(JSON.stringify({ jobs: [{ job_id: 1, job_state: "RUNNING", node_count: "two" }] })))).toMatch(/jobs\[0\]\.node_count/)
    expect(leftMessage(parseSqueueJson(JSON.stringify({ jobs: [{ job_id: 1, job_state: "RUNNING", nodes: "a[1-" }] })))).toMatch(/jobs\[0\]\.nodes: .*unclosed/)
    expect(leftMessage(parseSqueueJson(JSON.stringify({ nodes: [] })))).toMatch(/jobs/)
    expect(leftMessage(parseSqueueJson(""))).toMatch(/empty output/)
    expect(leftMessage(parseSqueueJson("{"))).toMatch(/malformed JSON/)
    expect(leftMessage(parseSqueueJson(42 as unknown as string))).toMatch(/expected text/)
  })

  it("reads the later releases' spelling: state lists and {set, infinite, number}", () => {
    const jobs = right(
      parseSqueueJson(
        JSON.stringify({
          jobs: [
            {
              job_id: 5,
              job_state: ["PENDING", "REQUEUED"],
              priority: { set: true, infinite: false, number: 77 },
              time_limit: { set: true, infinite: true, number: 0 },
              cpus_per_task: { set: true, number: 4 },
              tasks_per_node: { set: false, number: 0 },
              partition: "a,b"
            }
          ]
        })
      )
    )
    expect(jobs[0]).toMatchObject({ state: "PENDING", stateFlags: ["REQUEUED"], priority: 77, timeLimit: null, cpusPerTask: 4, tasksPerNode: null, partitions: ["a", "b"] })
  })

  describe("the hand check of the records gives the Schema's answer (#19)", () => {
    const outcome = (text: string, reader: "fast" | "full") =>
      Either.match(parseSqueueJson(text, reader), { onLeft: (l) => ({ left: l.message }), onRight: (v) => ({ right: v }) })
    const expectSame = (text: string) => expect(outcome(text, "fast")).toEqual(outcome(text, "full"))

    it("checks exactly RawJob's fields", () => {
      expect(new Set(Object.keys(RawJob.fields))).toEqual(new Set(["job_id", "job_state", ...SQUEUE_TEXT_FIELDS, ...SQUEUE_NUMBER_FIELDS]))
    })

    it("on the captures", () => {
      for (const f of ["squeue_json_slurm-22.05.8.json", "squeue_json_unreachable_slurm-22.05.8.json"]) expectSame(own(f))
      if (haveShared) expectSame(shared("squeue_json_slurm-21.08.5.json"))
    })

    it("on generated records of right and wrong types", () => {
      const numberObject = fc.record(
        { set: fc.oneof(fc.boolean(), fc.constant(null), fc.constant("yes")), infinite: fc.boolean(), number: fc.oneof(fc.integer(), fc.constant(null), fc.constant("7")) },
        { requiredKeys: [] }
      )
      const slurmNumber = fc.oneof(fc.integer({ min: -2, max: 100 }), fc.constant(null), numberObject, fc.constant("3"), fc.constant([]), fc.constant(true))
      const text = fc.oneof(fc.constantFrom("", " a ", "gpu&fast", "a,b", "n[1-2]", "a[1-"), fc.constant(null), fc.constant(7), fc.constant(["a"]))
      const job = fc.record(
        {
          job_id: fc.oneof(fc.nat(), numberObject, fc.constant("x"), fc.constant(-1)),
          job_state: fc.oneof(fc.constantFrom("PENDING", "RUNNING", "", "completing+requeued"), fc.array(fc.constantFrom("PENDING", "REQUEUED", "")), fc.constant([1])),
          ...Object.fromEntries(SQUEUE_TEXT_FIELDS.map((k) => [k, text])),
          ...Object.fromEntries(SQUEUE_NUMBER_FIELDS.map((k) => [k, slurmNumber])),
          extra: fc.anything()
        },
        { requiredKeys: ["job_id", "job_state"] }
      )
      const doc = fc.oneof(
        { weight: 8, arbitrary: fc.record({ jobs: fc.array(job, { maxLength: 3 }), errors: fc.constantFrom([], undefined, ["boom"], [{ error: "x" }]) }, { requiredKeys: ["jobs"] }) },
        { weight: 1, arbitrary: fc.constantFrom({ jobs: {} }, [], { nodes: [] }, null, { jobs: [null] }, { jobs: [[]] }) }
      )
      let rights = 0
      fc.assert(
        fc.property(doc, (d) => {
          const t = JSON.stringify(d)
          expectSame(t)
          if (Either.isRight(parseSqueueJson(t))) rights++
        }),
        { numRuns: 1500 }
      )
      expect(rights).toBeGreaterThan(50)
    })
  })

  it("never throws on random, truncated, mutated or scrambled output", () => {
    const samples = [own("squeue_json_slurm-22.05.8.json"), own("squeue_json_unreachable_slurm-22.05.8.json")]
    if (haveShared) samples.push(shared("squeue_json_slurm-21.08.5.json"))
    expectTotal(parseSqueueJson, samples, true)
  })
})

// ---------------------------------------------------------------- sinfo --json

describe("sinfo --json", () => {
  it("reads Slurm 22.05.8: drain as a flag, powered-down CLOUD and dynamic nodes", () => {
    const nodes = right(parseSinfoJson(own("sinfo_json_slurm-22.05.8.json")))
    const by = new Map(nodes.map((n) => [n.name, n]))
    expect([...by.keys()]).toEqual(["cloud1", "cloud2", "node1", "node2", "capA", "capB", "capD"])
    expect(by.get("capB")).toMatchObject({ state: "ALLOCATED", flags: ["DRAIN", "DYNAMIC_NORM", "RESERVED"], reason: "dyncluster: hold", cpus: 4, features: ["dynq", "gpu"], partitions: ["dynq"] })
    expect(by.get("node2")).toMatchObject({ state: "MIXED", flags: ["DRAIN"], reason: "maintenance window" })
    expect(by.get("capD")).toMatchObject({ state: "IDLE", flags: ["DYNAMIC_NORM", "POWERED_DOWN", "PLANNED"], lastBusy: 0 })
    expect(by.get("cloud1")!.flags).toEqual(["CLOUD", "POWERING_DOWN"])
    expect(by.get("capA")).toMatchObject({ state: "MIXED", cpus: 2, address: expect.stringMatching(/^127\.201\.1\./) })
  })

  it("reads a node whose slurmd vanished (down + NOT_RESPONDING)", () => {
    const nodes = right(parseSinfoJson(own("sinfo_json_down_slurm-22.05.8.json")))
    expect(nodes.find((n) => n.name === "t1")).toMatchObject({ state: "DOWN", flags: ["DYNAMIC_NORM", "NOT_RESPONDING"], reason: "Not responding" })
  })

  it.skipIf(!haveShared)("reads Slurm 21.08.5", () => {
    const nodes = right(parseSinfoJson(shared("sinfo_json_slurm-21.08.5.json")))
    expect(nodes.map((n) => [n.name.split(".")[0], n.state, n.cpus])).toEqual([
      ["cs2", "MIXED", 64],
      ["cs3", "IDLE", 64],
      ["cs4", "ALLOCATED", 64],
      ["cs5", "DOWN", 64]
    ])
  })

  it("reads the later releases' state lists, features lists and keeps a node once", () => {
    const nodes = right(
      parseSinfoJson(
        JSON.stringify({
          nodes: [
            { name: "a", state: ["IDLE", "DRAIN"], features: ["x", "y"], cpus: { set: true, number: 8 } },
            { name: "a", state: ["IDLE", "DRAIN"] }
          ]
        })
      )
    )
    expect(nodes).toEqual([expect.objectContaining({ name: "a", state: "IDLE", flags: ["DRAIN"], features: ["x", "y"], cpus: 8 })])
  })

  it("refuses unreachable-controller output and names bad values", () => {
    expect(leftMessage(parseSinfoJson(own("sinfo_json_unreachable_slurm-22.05.8.json")))).toMatch(/Slurm reported errors/)
    expect(leftMessage(parseSinfoJson(JSON.stringify({ nodes: [{ name: "", state: "idle" }] })))).toMatch(/nodes\[0\]\.name/)
    expect(leftMessage(parseSinfoJson(JSON.stringify({ nodes: [{ name: "a", state: "" }] })))).toMatch(/nodes\[0\]\.state: is empty/)
    expect(leftMessage(parseSinfoJson(JSON.stringify({ nodes: [{ name: "a", state: "idle", cpus: "2" }] })))).toMatch(/nodes\[0\]\.cpus/)
  })

  it("never throws on random, truncated, mutated or scrambled output", () => {
    const samples = [own("sinfo_json_slurm-22.05.8.json"), own("sinfo_json_down_slurm-22.05.8.json")]
    if (haveShared) samples.push(shared("sinfo_json_slurm-21.08.5.json"))
    expectTotal(parseSinfoJson, samples, true)
  })
})

// ---------------------------------------------------------------- scontrol show -o

describe("scontrol show ... -o", () => {
  it("reads node records (22.05 FUTURE and dynamic nodes; values with blanks)", () => {
    const recs = right(parseScontrolRecords(own("scontrol_future_show_node_o_slurm-22.05.8.txt")))
    const capF = recs.find((r) => r.NodeName === "capF")!
    expect(capF.State).toBe("FUTURE+DYNAMIC_NORM")
    expect(splitNodeState(capF.State)).toEqual({ state: "FUTURE", flags: ["DYNAMIC_NORM"] })
    const capB = recs.find((r) => r.NodeName === "capB")!
    expect(capB).toMatchObject({ AvailableFeatures: "dynq,gpu", Partitions: "dynq", Reason: expect.stringMatching(/^dyncluster: hold \[root@/) })
    const down = right(parseScontrolRecords(own("scontrol_show_node_down_o_slurm-22.05.8.txt")))
    expect(splitNodeState(down[0].State)).toEqual({ state: "DOWN", flags: ["DYNAMIC_NORM", "NOT_RESPONDING"] })
  })

  it("reads a reservation", () => {
    const [r] = right(parseScontrolRecords(own("scontrol_show_reservation_o_slurm-22.05.8.txt")))
    expect(r).toMatchObject({ ReservationName: "dyncluster_physics", Nodes: "capB", Accounts: "physics", Flags: "SPEC_NODES,MAGNETIC" })
  })

  it.skipIf(!haveShared)("reads the shared captures: 26.05 nodes, jobs, OSC partitions", () => {
    const nodes = right(parseScontrolRecords(shared("scontrol_show_nodes_o_slurm-26.05.2.txt")))
    expect(nodes).toHaveLength(20)
    expect(nodes[0]).toMatchObject({ NodeName: "na1", State: "MIXED+DYNAMIC_NORM", OS: expect.stringMatching(/^Linux .* 2026$/), CPUTot: "32" })
    const jobs = right(parseScontrolRecords(shared("scontrol_o_show_jobs_clues.txt")))
    expect(jobs.map((j) => [j.JobId, j.JobState])).toEqual([
      ["2", "RUNNING"],
      ["3", "PENDING"]
    ])
    expect(jobs[0]["AllocNode:Sid"]).toBeDefined()
    const parts = right(parseScontrolRecords(shared("scontrol_show_part_o_osc_owens.txt")))
    expect(parts).toHaveLength(15)
    expect(parts[0].PartitionName).toBe("batch")
  })

  it("skips 'not found' answers and refuses text that is no record", () => {
    expect(right(parseScontrolRecords("Node x not found\n"))).toEqual([])
    expect(right(parseScontrolRecords("No reservations in the system\n"))).toEqual([])
    expect(leftMessage(parseScontrolRecords("garbage here\n"))).toMatch(/line 1: expected Key=Value/)
  })

  it("never throws on random, truncated or mutated output", () => {
    const samples = [own("scontrol_future_show_node_o_slurm-22.05.8.txt"), own("scontrol_show_reservation_o_slurm-22.05.8.txt")]
    if (haveShared) samples.push(shared("scontrol_o_show_jobs_clues.txt"))
    expectTotal((s) => parseScontrolRecords(s), samples, false)
  })
})

// ---------------------------------------------------------------- mapping

describe("node state (SPEC §3 for Slurm)", () => {
  it.each([
    ["IDLE", [], 0, NodeState.Idle],
    ["ALLOCATED", [], 1, NodeState.Busy],
    ["MIXED", [], 1, NodeState.Busy],
    ["IDLE", ["COMPLETING"], 0, NodeState.Busy],
    ["IDLE", [], 1, NodeState.Busy],
    ["ALLOCATED", ["DRAIN"], 1, NodeState.Holding],
    ["MIXED", ["DRAIN", "DYNAMIC_NORM"], 1, NodeState.Holding],
    ["IDLE", ["DRAIN", "COMPLETING"], 0, NodeState.Holding],
    ["IDLE", ["DRAIN"], 0, NodeState.Held],
    ["DOWN", [], 0, NodeState.Error],
    ["DOWN", ["DRAIN"], 0, NodeState.Error],
    ["IDLE", ["NOT_RESPONDING"], 0, NodeState.Error],
    ["MIXED", ["FAIL"], 1, NodeState.Error],
    ["FUTURE", ["DYNAMIC_NORM"], 0, NodeState.Starting],
    ["UNKNOWN", [], 0, NodeState.Starting],
    ["IDLE", ["CLOUD", "POWERING_UP"], 0, NodeState.Starting],
    ["ERROR", [], 0, NodeState.Error],
    ["BOGUS", [], 0, NodeState.Error]
  ] as const)("%s+%j with %i job(s) → %i", (state, flags, jobs, expected) => {
    expect(slurmNodeState(state, flags, jobs)).toBe(expected)
  })

  it("is total over any state words", () => {
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string()), fc.nat(5), (s, f, j) => {
        expect(Object.values(NodeState)).toContain(slurmNodeState(s, f, j))
      })
    )
  })

  it("leaves powered-off CLOUD nodes out, not powering-up ones or ones with jobs", () => {
    expect(isPoweredOff({ flags: ["CLOUD", "POWERED_DOWN"] }, 0)).toBe(true)
    expect(isPoweredOff({ flags: ["POWERING_DOWN"] }, 0)).toBe(true)
    expect(isPoweredOff({ flags: ["POWERED_DOWN", "POWERING_UP"] }, 0)).toBe(false)
    expect(isPoweredOff({ flags: ["POWERED_DOWN"] }, 1)).toBe(false)
    expect(isPoweredOff({ flags: [] }, 0)).toBe(false)
  })
})

const job = (over: Partial<SlurmJob>): SlurmJob => ({
  id: "1",
  name: null,
  user: null,
  account: null,
  partitions: ["dyn"],
  state: "PENDING",
  stateFlags: [],
  reason: "Resources",
  priority: 100,
  nodeCount: 1,
  maxNodes: 0,
  cpus: 1,
  tasks: 1,
  tasksPerNode: 0,
  cpusPerTask: null,
  minCpusPerNode: 1,
  features: null,
  timeLimit: null,
  submitTime: null,
  nodes: [],
  memPerNode: null,
  memPerCpu: null,
  reservation: null,
  qos: null,
  ...over
})

describe("queued jobs", () => {
  it.each([
    ["one task", 1, 0, {}],
    ["-n 5 (spread)", 5, 0, { cpus: 5, tasks: 5, nodeCount: 3 }],
    ["-N 2 --ntasks-per-node=2", 4, 2, { cpus: 4, tasks: 4, nodeCount: 2, maxNodes: 2, tasksPerNode: 2 }],
    ["-N 2 --ntasks-per-node=2 -c 3", 12, 6, { cpus: 12, tasks: 4, nodeCount: 2, maxNodes: 2, tasksPerNode: 2, cpusPerTask: 3 }],
    ["-N 3 -n 6 (exact node count)", 6, 2, { cpus: 6, tasks: 6, nodeCount: 3, maxNodes: 3 }],
    ["-N 2-4 -n 4 (range: spread)", 4, 0, { cpus: 4, tasks: 4, nodeCount: 2, maxNodes: 4 }],
    ["-n 2 -c 2 (22.05: cpus_per_task null, min CPUs per node 2)", 4, 2, { cpus: 4, tasks: 2, nodeCount: 2, minCpusPerNode: 2 }],
    ["no cpus field", 3, 0, { cpus: null, tasks: 3 }]
  ] as const)("%s → %i cores, %i per node", (_what, cores, perNode, over) => {
    expect(coreRequest(job(over))).toEqual({ requestedCores: cores, coresPerNode: perNode })
  })

  it("maps the fields (SPEC §3): partition → queue, account, constraint → property, walltime, submit time", () => {
    const j = queuedJob(
      job({ id: "42", name: "sim", user: "ann", account: "physics", features: "gpu", timeLimit: 1590, submitTime: 1700000000, priority: 4294901757, memPerNode: 2048 }),
      "dyn"
    )
    expect(j).toMatchObject({
      jobid: "42",
      name: "sim",
      owner: "ann",
      queue: "dyn",
      account: "physics",
      property: "gpu",
      priority: 4294901757,
      state: JobState.Queued,
      requested_cores: 1,
      cores_per_node: 0,
      requested_mem: "2048M",
      requested_walltime: "26:30:00",
      creation_time: "1700000000"
    })
  })

  it("jobs that more nodes cannot start get no priority (not provisioned for)", () => {
    for (const reason of ["JobHeldUser", "JobHeldAdmin", "Dependency", "BeginTime", "AssocGrpCpuLimit", "QOSMaxJobsPerUserLimit", "PartitionDown"]) {
      expect(isEligible(job({ reason }))).toBe(false)
      expect(queuedJob(job({ reason }), "dyn").priority).toBeNull()
    }
    expect(isEligible(job({ priority: 0, reason: "Resources" }))).toBe(false)
    for (const reason of ["Resources", "Priority", "PartitionConfig", "ReqNodeNotAvail", "Nodes_required_for_job_are_DOWN", "BadConstraints", null]) {
      expect(isEligible(job({ reason }))).toBe(true)
    }
  })

  it("counts a job for its first monitored partition; empty list = all", () => {
    expect(monitoredPartition(job({ partitions: ["a", "b"] }), [])).toBe("a")
    expect(monitoredPartition(job({ partitions: ["a", "b"] }), ["b"])).toBe("b")
    expect(monitoredPartition(job({ partitions: ["a"] }), ["b"])).toBeNull()
  })

  it("walltime prints minutes as HH:MM:SS", () => {
    expect(walltime(0)).toBe("00:00:00")
    expect(walltime(61)).toBe("01:01:00")
    expect(walltime(null)).toBeNull()
  })

  it("reads {set, infinite, number} numbers", () => {
    expect(slurmNumber(5)).toBe(5)
    expect(slurmNumber(null)).toBeNull()
    expect(slurmNumber({ set: false, number: 3 })).toBeNull()
    expect(slurmNumber({ set: true, infinite: true, number: 0 })).toBeNull()
    expect(slurmNumber({ set: true, infinite: false, number: 9 })).toBe(9)
  })
})

describe("cluster view", () => {
  it("from the 22.05 captures: nodes with their jobs, powered-off nodes left out, pending jobs of the monitored partitions", () => {
    const nodes = right(parseSinfoJson(own("sinfo_json_slurm-22.05.8.json")))
    const jobs = right(parseSqueueJson(own("squeue_json_slurm-22.05.8.json")))
    const v = slurmView(nodes, jobs, ["dyn"])
    const by = new Map(v.nodes.map((n) => [n.hostname, n]))
    expect([...by.keys()].sort()).toEqual(["capA", "capB", "node1", "node2"])
    expect(by.get("capA")).toMatchObject({ state: NodeState.Busy, jobs: "1", num_proc: 2 })
    expect(by.get("capB")).toMatchObject({ state: NodeState.Holding, jobs: "2", num_proc: 4 })
    expect(by.get("node1")).toMatchObject({ state: NodeState.Busy, jobs: "9,10" })
    expect(by.get("node2")).toMatchObject({ state: NodeState.Holding, jobs: "7" })
    expect(v.jobs.map((j) => [j.jobid, j.queue, j.priority === null ? null : "p", j.requested_cores, j.cores_per_node])).toEqual([
      ["3", "dyn", "p", 4, 2],
      ["4", "dyn", null, 1, 0]
    ])
    const all = slurmView(nodes, jobs, [])
    expect(all.jobs.map((j) => j.jobid)).toEqual(["3", "4", "6"])
  })

  it("a drained node without jobs is Held; the idle time starts at the node's last busy time", () => {
    const n = (over: Partial<SlurmNode>): SlurmNode => ({
      name: "d1",
      state: "IDLE",
      flags: [],
      cpus: 2,
      allocCpus: 0,
      realMemory: null,
      features: [],
      partitions: [],
      reason: null,
      reasonChangedAt: null,
      lastBusy: 1700000000,
      address: null,
      hostname: null,
      ...over
    })
    const v = slurmView([n({}), n({ name: "d2", flags: ["DRAIN"], reason: "dyncluster: hold" })], [], [])
    expect(v.nodes[0]).toMatchObject({ state: NodeState.Idle, since: 1700000000 })
    expect(v.nodes[1]).toMatchObject({ state: NodeState.Held, extra_attributes: expect.objectContaining({ reason: "dyncluster: hold", slurm_state: "IDLE+DRAIN" }) })
    expect(v.nodes[1].since).toBeUndefined()
  })

  it("jobs per host from the running jobs' host lists", () => {
    const m = jobsByHost([
      job({ id: "1", state: "RUNNING", nodes: ["a", "b"] }),
      job({ id: "2", state: "COMPLETING", nodes: ["b"] }),
      job({ id: "3", state: "COMPLETED", nodes: ["a"] }),
      job({ id: "4", state: "PENDING", nodes: [] })
    ])
    expect(Object.fromEntries(m)).toEqual({ a: ["1"], b: ["1", "2"] })
  })
})
