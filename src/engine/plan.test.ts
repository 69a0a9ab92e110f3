/**
 * `dyncluster plan`: a snapshot taken from a running (simulated) engine
 * through the real HTTP API gives the provisioning decision the engine itself
 * takes in that state; idle/held/error nodes are listed with their reasons;
 * a malformed snapshot is refused with the path of the bad value.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Either, Option } from "effect"
import { execa } from "execa"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runPlan } from "../cli/plan.ts"
import { startServer, type RunningServer } from "../http/testing/serve.ts"
import { emptyInstance, InstanceState, NodeState, type WorkerNode } from "../model/types.ts"
import { kitScenario } from "../sim/kit.ts"
import { SimDriver } from "../sim/run.ts"
import type { EngineApi } from "./api.ts"
import type { PolicyDecision } from "./policy.ts"
import { decodeSnapshot, parseSnapshotText, planSnapshot, type PlanSnapshot } from "./plan.ts"

const ROOT = fileURLToPath(new URL("../../", import.meta.url))

const none = Option.none<string>()
const planJsonOf = async (a: { snapshot?: string; from?: string; policy?: string }) => {
  const out = await Effect.runPromise(
    runPlan({
      snapshot: a.snapshot === undefined ? none : Option.some(a.snapshot),
      from: a.from === undefined ? none : Option.some(a.from),
      config: none,
      policy: a.policy === undefined ? none : Option.some(a.policy),
      json: true
    })
  )
  return JSON.parse(out) as {
    provision: Record<string, number>
    hold: Array<string>
    remove: Array<string>
    destroy: Array<string>
    reasons: Array<string>
    jobs_for: Record<string, Array<string>>
    proposed: Record<string, number> | null
  }
}

// ---------------------------------------------------------------- from a running engine

describe("plan against the engine's own decision", () => {
  // One 4-core node kept at min and idle; a physical node; at t=1000 jobs
  // arrive that the idle node cannot take (two 4-core nodes, two 8-core
  // nodes) and one that the physical node takes.
  const scenario = kitScenario({
    name: "plan",
    physical: [{ hostname: "phys-1", cores: 2 }],
    resources: [
      { name: "os", min: 1, max: 4, cores: 4 },
      { name: "aws", max: 3, cores: 8, priority: 2 }
    ],
    jobs: [
      { id: "pair", submit: 1000, runtime: 600, cores: 8, cpn: 4 },
      { id: "wide", submit: 1000, runtime: 600, cores: 16, cpn: 8, priority: 5 },
      { id: "tiny", submit: 1000, runtime: 600, cores: 1, cpn: 1 }
    ],
    // classic decides from the view alone; a policy with memory (lean) remembers
    // what a snapshot does not carry, so plan matches its next decision only roughly
    settings: { policy: "classic" },
    maxTime: 4000
  })
  const events: Array<string> = []
  const d = new SimDriver(scenario, {}, (l) => events.push(l))
  let server: RunningServer
  let dir: string
  let before: PolicyDecision | null = null
  let snapshotAt = 0

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dyncluster-plan-"))
    // Run until the engine has seen the new jobs in its queue, has no task in
    // flight, and has not provisioned for them yet.
    for (;;) {
      if (!d.advance()) throw new Error("the run ended before the state the test needs")
      const s = Either.getOrThrow(d.runEither(d.engine.api.snapshot))
      // after the scheduler placed "tiny" on the physical node
      const sees = s.jobs.some((j) => j.jobid === "pair") && !s.jobs.some((j) => j.jobid === "tiny")
      const quiet = s.queues.waiting + s.queues.running + s.queues.results_pending === 0
      const idle = s.nodes.some((n) => n.instance !== null && n.state === NodeState.Idle)
      const last = d.engine.lastDecision()
      if (sees && quiet && idle && !(last?.jobsFor.get("os") ?? []).includes("pair")) break
    }
    before = d.engine.lastDecision()
    snapshotAt = d.world.now
    // The live API serves what the engine holds, at the world's time.
    const api: EngineApi = { ...d.engine.api, snapshot: d.atWorldTime(d.engine.api.snapshot) }
    server = await startServer(api, { token: null, tokenForReads: false })
  }, 60_000)
  afterAll(async () => {
    await server?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it("the snapshot saved with curl-like GETs and the live --from URL both give the engine's next provisioning decision", async () => {
    const get = async (p: string) => {
      const r = await fetch(server.url + p)
      expect(r.status).toBe(200)
      return r.json()
    }
    const snapshot = { workernodes: await get("/workernode"), jobs: await get("/job"), resources: await get("/resource") }
    const file = join(dir, "snapshot.json")
    writeFileSync(file, JSON.stringify(snapshot, null, 2))
    // Queued jobs the scheduler could not place, and the idle min node.
    expect(snapshot.jobs.map((j: { jobid: string }) => j.jobid).sort()).toEqual(["pair", "wide"])

    // (a snapshot carries no configuration: plan's default policy would be lean's)
    const fromFile = await planJsonOf({ snapshot: file, policy: "classic" })
    const live = await planJsonOf({ from: server.url, policy: "classic" })
    expect(live).toEqual(fromFile)

    // Now let the engine go on to its next provisioning step.
    const seen = events.length
    while (d.engine.lastDecision() === before) if (!d.advance()) throw new Error("no provisioning step came")
    const decision = d.engine.lastDecision()!
    const at = d.world.now
    expect(at).toBeGreaterThan(snapshotAt)
    // The boots that step asked for: its tasks start right after it, at most
    // worker_thread_number at a time. None came before it.
    const busy = () => {
      const q = Either.getOrThrow(d.runEither(d.engine.api.snapshot)).queues
      return q.waiting + q.running + q.results_pending > 0
    }
    while (busy()) if (!d.advance()) break
    const boots: Record<string, number> = {}
    for (const l of events.slice(seen)) {
      const e = JSON.parse(l)
      if (e.ev !== "boot") continue
      expect(e.t).toBeGreaterThanOrEqual(at)
      expect(e.t).toBeLessThan(at + scenario.config["dynamic-cluster"].auto_provision_interval)
      boots[e.resource] = (boots[e.resource] ?? 0) + 1
    }
    expect(Object.keys(boots).length).toBeGreaterThan(0)
    expect(fromFile.proposed).toEqual(Object.fromEntries(decision.provision))
    expect(fromFile.provision).toEqual(boots)
    expect(fromFile.jobs_for).toEqual(Object.fromEntries([...decision.jobsFor].filter(([r]) => (boots[r] ?? 0) > 0)))
    for (const r of decision.reasons) expect(fromFile.reasons).toContain(`policy classic: ${r}`)
    // The idle min node stays: it is the resource's minimum.
    expect(fromFile.hold).toEqual([])
    expect(fromFile.remove).toEqual([])
    expect(fromFile.destroy).toEqual([])
  }, 60_000)
})

// ---------------------------------------------------------------- hand-made snapshots

const NOW = 1_700_000_000
const inst = (name: string, state: InstanceState = InstanceState.Ready) => ({
  ...emptyInstance("os", NOW - 5000),
  uuid: `uuid-${name}`,
  instance_name: name,
  dns_name: name,
  ip: "192.0.2.10",
  state,
  vcpu_number: 4
})
const node = (name: string, state: NodeState, inState: number, extra: Partial<WorkerNode> = {}): WorkerNode => ({
  hostname: name,
  type: "openstack",
  state,
  jobs: null,
  num_proc: 4,
  time_in_current_state: inState,
  state_start_time: NOW - inState,
  instance: inst(name),
  extra_attributes: null,
  ...extra
})
const resource = (over: Record<string, unknown> = {}) => ({
  name: "os",
  type: "openstack",
  priority: 1,
  flag: 0,
  min_num: 0,
  max_num: 6,
  current_num: 0,
  cores_per_node: 4,
  reservation_queue: null,
  reservation_account: null,
  reservation_property: null,
  proposed_allocation: null,
  config: { instance_name_prefix: "os" },
  worker_nodes: [],
  ...over
})
const snap = (workernodes: ReadonlyArray<WorkerNode>, jobs: ReadonlyArray<unknown> = [], resources = [resource()]): PlanSnapshot =>
  Either.getOrThrow(decodeSnapshot({ workernodes, jobs, resources }))
const plan = (s: PlanSnapshot, policy?: string) => Effect.runSync(planSnapshot(s, policy === undefined ? {} : { policy }))

describe("plan on hand-made snapshots", () => {
  it("an idle node past max_idle_time is listed under hold, a younger one is not; Held without jobs and long Error are removed", () => {
    const p = plan(
      snap([
        node("old-idle", NodeState.Idle, 900),
        node("young-idle", NodeState.Idle, 100),
        node("busy", NodeState.Busy, 5000, { jobs: "17" }),
        node("held", NodeState.Held, 30),
        node("broken", NodeState.Error, 900),
        { hostname: "phys", type: "physical", state: NodeState.Idle, jobs: null, num_proc: 8, time_in_current_state: 99_999, state_start_time: NOW - 99_999, instance: null, extra_attributes: null }
      ]),
      "classic"
    )
    expect(p.time).toBe(NOW)
    expect(p.hold.map((h) => h.host)).toEqual(["old-idle"])
    expect(p.hold[0].why).toMatch(/idle for 900s \(max_idle_time 600s\)/)
    expect(p.remove.map((h) => h.host).sort()).toEqual(["broken", "held"])
    expect(p.remove.find((r) => r.host === "broken")!.why).toMatch(/Error for 900s \(max_down_time 480s\)/)
    expect(p.destroy).toEqual([])
    expect(p.provision).toEqual({})
    // Nothing was called on the batch system or the cloud: only recorded tasks.
    expect(p.calls).toEqual([])
    expect([...p.tasks].sort()).toEqual(["hold old-idle", "remove broken", "remove held"])
    expect(p.reasons.some((r) => /holding old-idle/.test(r))).toBe(true)
  })

  it("keeps min: the only idle node of a resource with min 1 is not held", () => {
    const p = plan(snap([node("only", NodeState.Idle, 5000)], [], [resource({ min_num: 1 })]))
    expect(p.hold).toEqual([])
    expect(p.provision).toEqual({})
  })

  it("a queued job gets nodes, with the jobs they are for; a draining resource holds its nodes and starts none", () => {
    const job = { jobid: "42.server", name: "sim", owner: "ann", queue: "batch", account: null, property: null, priority: 10, state: 0, requested_cores: 8, cores_per_node: 4, requested_mem: null, requested_walltime: null, creation_time: String(NOW - 60), extra_attributes: null }
    const p = plan(snap([node("idle", NodeState.Idle, 10)], [job]))
    expect(p.provision).toEqual({ os: 2 })
    expect(p.jobsFor).toEqual({ os: ["42.server"] })
    expect(p.tasks).toEqual(["boot os", "boot os"])

    const drained = plan(snap([node("idle", NodeState.Idle, 10)], [job], [resource({ flag: 2, min_num: 0, max_num: 0 })]))
    expect(drained.provision).toEqual({})
    expect(drained.hold.map((h) => h.host)).toEqual(["idle"])
    expect(drained.reasons[0]).toMatch(/os is draining/)
  })

  it("a job shown with priority -1 (no priority yet, as GET /job and the first version show it) is not provisioned for", () => {
    const job = { jobid: "43.server", name: "sim", owner: "ann", queue: "batch", account: null, property: null, priority: -1, state: 0, requested_cores: 8, cores_per_node: 4, requested_mem: null, requested_walltime: null, creation_time: String(NOW - 60), extra_attributes: null }
    const decoded = Either.getOrThrow(decodeSnapshot({ workernodes: [], jobs: [job], resources: [] }))
    expect(decoded.jobs[0].priority).toBeNull()
    expect(plan(snap([], [job])).provision).toEqual({})
    expect(plan(snap([], [{ ...job, priority: 0 }])).provision.os).toBeGreaterThan(0)
  })

  it("a node the engine was deleting is destroyed, not taken for a joining one", () => {
    const p = plan(snap([node("going", NodeState.Deleting, 20)]))
    expect(p.destroy.map((x) => x.host)).toEqual(["going"])
    expect(p.hold).toEqual([])
  })

  it("an unknown policy is refused by name", () => {
    const r = Effect.runSync(Effect.either(planSnapshot(snap([]), { policy: "nope" })))
    expect(Either.isLeft(r) && r.left.message).toMatch(/unknown policy "nope" \(known: .*classic/)
  })
})

describe("malformed snapshots", () => {
  it("are refused with the path of every bad value", () => {
    const bad = {
      workernodes: [{ ...node("a", NodeState.Idle, 1), state: 9 }, { ...node("b", NodeState.Idle, 1), instance: { ...inst("b"), vcpu_number: "4" } }],
      jobs: "none",
      resources: [{ ...resource(), min_num: null }]
    }
    const r = parseSnapshotText(JSON.stringify(bad), "snap.json")
    expect(Either.isLeft(r)).toBe(true)
    const msg = Either.isLeft(r) ? r.left.message : ""
    expect(msg).toMatch(/^snap\.json: not a valid snapshot/)
    expect(msg).toContain("workernodes.0.state: expected a number between 0 and 7, got 9")
    expect(msg).toContain('workernodes.1.instance.vcpu_number: expected a number, got "4"')
    expect(msg).toContain("jobs: expected a list")
    expect(msg).toContain("resources.0.min_num: expected a number, got null")
    expect(Either.isLeft(parseSnapshotText("{", "s.json")) && (parseSnapshotText("{", "s.json") as any).left.message).toMatch(/s\.json: not valid JSON/)
    expect((decodeSnapshot({ workernodes: [] }) as any).left.message).toMatch(/jobs: is required but missing/)
  })

  it("the command exits non-zero with the message", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dyncluster-plan-cli-"))
    try {
      const badFile = join(dir, "bad.json")
      writeFileSync(badFile, JSON.stringify({ workernodes: [{ ...node("a", NodeState.Idle, 1), state: "idle" }], jobs: [], resources: [] }))
      const bad = await execa("node", ["bin/dyncluster.js", "plan", "--snapshot", badFile], { cwd: ROOT, reject: false })
      expect(bad.exitCode).not.toBe(0)
      expect(bad.stderr).toContain(`${badFile}: not a valid snapshot`)
      expect(bad.stderr).toContain("workernodes.0.state")

    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  it("needs exactly one of --snapshot and --from, and a usable URL", async () => {
    const run = (a: { snapshot?: string; from?: string }) => Effect.runPromise(Effect.either(runPlan({
      snapshot: a.snapshot === undefined ? none : Option.some(a.snapshot),
      from: a.from === undefined ? none : Option.some(a.from),
      config: none,
      policy: none,
      json: false
    })))
    const neither = await run({})
    expect(Either.isLeft(neither) && neither.left.message).toMatch(/exactly one of --snapshot FILE or --from URL/)
    const both = await run({ snapshot: "x.json", from: "http://127.0.0.1:1" })
    expect(Either.isLeft(both) && both.left.message).toMatch(/exactly one/)
    const notUrl = await run({ from: "127.0.0.1:8001" })
    expect(Either.isLeft(notUrl) && notUrl.left.message).toMatch(/--from: expected an http:\/\/ or https:\/\/ URL|--from: not a URL/)
    const refused = await run({ from: "http://127.0.0.1:9" })
    expect(Either.isLeft(refused) && refused.left.message).toMatch(/^GET http:\/\/127\.0\.0\.1:9\/(workernode|job|resource): /)
    const missing = await run({ snapshot: "/nonexistent/snap.json" })
    expect(Either.isLeft(missing) && missing.left.message).toBe("/nonexistent/snap.json: cannot read the snapshot: no such file")
  })
})
