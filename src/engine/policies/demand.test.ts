/**
 * The demand policy under faults: seeded random kit scenarios (resources,
 * physical nodes, jobs, outages, slow boots, dying instances, a failing batch
 * system, scaler restarts) run with `--policy demand`, and SPEC §6's
 * invariants are checked on the event log, the ground truth:
 * never above max, never a running job killed by the scaler, physical nodes
 * untouched, no instance left over at the end. Plus unit tests of its rules.
 */
import { describe, expect, it } from "vitest"
import type { AllocResource } from "../../model/allocator.ts"
import { emptyInstance, InstanceState, NodeState, ResourceFlag, makeJob, type Job, type WorkerNode } from "../../model/types.ts"
import { kitScenario, type KitScenario } from "../../sim/kit.ts"
import { Rng } from "../../sim/random.ts"
import { runScenario } from "../../sim/run.ts"
import type { FaultSpec } from "../../sim/world.ts"
import { policyNames, type PolicyInput } from "../policy.ts"
import { demandIdeas, demandVariant } from "../../experiments/demand-variants.ts"
import { experimentPolicy as getPolicy } from "../../experiments/policies.ts"
import { bestIdleLimit, IdleLearner } from "./breakeven.ts"
import { chooseResource } from "./choice.ts"
import { breakEvenDefaults, demandDefaults, makeDemandPolicy } from "./demand.ts"
import { accepts, buildCapacity } from "./capacity.ts"
import { PolicyMemory, jobKey, parseWalltime } from "./memory.ts"

// ---------------------------------------------------------------- invariants from the event log

interface Limits {
  readonly max: ReadonlyMap<string, number>
  readonly min: ReadonlyMap<string, number>
  readonly physical: ReadonlySet<string>
}

/** Every SPEC §6 violation visible in an event log (empty = none). */
export const violations = (lines: ReadonlyArray<string>, limits: Limits): Array<string> => {
  const out: Array<string> = []
  const live = new Map<string, number>()
  const resOf = new Map<string, string>()
  const alive = new Set<string>()
  for (const line of lines) {
    const e = JSON.parse(line) as { t: number; ev: string; [k: string]: any }
    switch (e.ev) {
      case "boot": {
        const n = (live.get(e.resource) ?? 0) + 1
        live.set(e.resource, n)
        resOf.set(e.instance, e.resource)
        alive.add(e.instance)
        if (n > (limits.max.get(e.resource) ?? 0)) out.push(`t=${e.t}: ${e.resource} has ${n} instances, above max ${limits.max.get(e.resource)}`)
        break
      }
      case "gone":
        live.set(resOf.get(e.instance)!, live.get(resOf.get(e.instance)!)! - 1)
        alive.delete(e.instance)
        break
      case "killed":
        if (e.cause === "destroy" || e.cause === "vacate") out.push(`t=${e.t}: job ${e.job} killed on ${e.host} (${e.cause})`)
        break
      case "touch_physical":
        out.push(`t=${e.t}: physical node ${e.host} touched (${e.op})`)
        break
      case "hold":
      case "leave":
      case "terminate":
        if (limits.physical.has(e.host)) out.push(`t=${e.t}: ${e.ev} of physical node ${e.host}`)
        break
    }
  }
  const left = new Map<string, number>()
  for (const i of alive) left.set(resOf.get(i)!, (left.get(resOf.get(i)!) ?? 0) + 1)
  for (const [r, n] of left) if (n > (limits.min.get(r) ?? 0)) out.push(`end: ${n} instance(s) of ${r} still alive, min is ${limits.min.get(r) ?? 0}`)
  return out
}

// ---------------------------------------------------------------- random worlds

const randomKit = (seed: number): KitScenario => {
  const rng = Rng.make(seed).fork("demand-soak")
  const resources = Array.from({ length: rng.int(1, 3) }, (_, i) => ({
    name: `r${i}`,
    min: rng.bool(0.2) ? 1 : 0,
    max: rng.int(1, 6),
    priority: rng.int(1, 3),
    cores: rng.pick([2, 4, 8]),
    bootTime: { type: "uniform" as const, min: 30, max: 240 },
    configTime: { type: "uniform" as const, min: 10, max: 90 },
    bootFailureRate: rng.pick([0, 0.05, 0.2]),
    apiErrorRate: rng.pick([0, 0.01, 0.05]),
    quota: rng.bool(0.2) ? rng.int(1, 3) : null,
    price: rng.bool(0.5) ? rng.pick([0.1, 0.3, 0.8]) : null
  }))
  const physical = Array.from({ length: rng.int(0, 2) }, (_, i) => ({ hostname: `phys${i}`, cores: rng.pick([4, 8]) }))
  // Every job fits one resource alone, so every job can start.
  const biggest = Math.max(...resources.map((r) => Math.min(r.max, r.quota ?? Infinity) * r.cores))
  const smallestNode = Math.min(...resources.map((r) => r.cores))
  const jobs = Array.from({ length: rng.int(10, 40) }, () => {
    const cores = rng.int(1, Math.min(8, biggest))
    const perNode = rng.bool(0.5) && cores <= smallestNode
    return { submit: Math.round(rng.uniform(0, 5400)), runtime: rng.int(30, 1800), cores, cpn: perNode ? cores : 0, walltime: rng.bool(0.5) ? 2000 : null }
  })
  const faults: Array<FaultSpec> = []
  for (let k = rng.int(1, 4); k > 0; k--) {
    const at = Math.round(rng.uniform(100, 5000))
    const res = rng.pick(resources).name
    switch (rng.int(0, 4)) {
      case 0:
        faults.push({ kind: "outage", resource: res, at, duration: rng.int(120, 1800) })
        break
      case 1:
        faults.push({ kind: "slow_boots", resource: res, at, duration: rng.int(300, 1800), factor: rng.pick([3, 5]) })
        break
      case 2:
        faults.push({ kind: "instance_death", at, count: rng.int(1, 2) })
        break
      case 3:
        faults.push({ kind: "batch_failure", at, duration: rng.int(60, 600), mode: rng.pick(["fail", "garbage"] as const) })
        break
      default:
        faults.push({ kind: "restart", at })
    }
  }
  return {
    name: `demand-soak-${seed}`,
    seed,
    resources,
    physical,
    jobs,
    faults,
    settings: { policy: "demand", max_idle_time: rng.pick([120, 300, 600]), max_down_time: 300, max_launch_time: 900 },
    drain: 3600
  }
}

describe("demand policy: invariants in random worlds with faults", () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
  it.each(seeds)("seed %i: never above max, no job killed, physical untouched, nothing left over", (seed) => {
    const k = randomKit(seed)
    const r = runScenario(kitScenario(k), { policy: "demand" })
    const limits: Limits = {
      max: new Map(k.resources.map((x) => [x.name, x.max])),
      min: new Map(k.resources.map((x) => [x.name, x.min ?? 0])),
      physical: new Set((k.physical ?? []).map((p) => p.hostname))
    }
    expect(violations(r.events, limits)).toEqual([])
    // and it did its job: every job ran (killed only by injected instance deaths)
    expect(r.summary.jobs.started).toBe(r.summary.jobs.submitted)
    expect(r.summary.jobs.finished + r.summary.jobs.killed).toBe(r.summary.jobs.submitted)
    expect(r.summary.policy).toBe("demand")
  })

  it("the checks catch what they look for", () => {
    const limits: Limits = { max: new Map([["r0", 1]]), min: new Map(), physical: new Set(["phys0"]) }
    const log = [
      `{"t":1,"ev":"boot","resource":"r0","instance":"i-1","name":"r0-1"}`,
      `{"t":2,"ev":"boot","resource":"r0","instance":"i-2","name":"r0-2"}`,
      `{"t":3,"ev":"killed","job":"j1","host":"r0-1","cause":"destroy"}`,
      `{"t":4,"ev":"hold","host":"phys0"}`,
      `{"t":5,"ev":"gone","instance":"i-1"}`
    ]
    const v = violations(log, limits)
    expect(v).toHaveLength(4)
    expect(v[0]).toContain("above max")
    expect(v[1]).toContain("killed")
    expect(v[2]).toContain("physical")
    expect(v[3]).toContain("still alive")
    expect(violations([`{"t":3,"ev":"killed","job":"j1","host":"r0-1","cause":"crash"}`], limits)).toEqual([])
  })
})

// ---------------------------------------------------------------- the rules, one by one

const res = (name: string, over: Partial<AllocResource> = {}): AllocResource => ({
  name,
  priority: 1,
  min: 0,
  max: 10,
  current: 0,
  coresPerNode: 8,
  reservation: { queue: null, account: null, property: null },
  flag: ResourceFlag.Normal,
  ...over
})

const node = (hostname: string, state: NodeState, over: Partial<WorkerNode> = {}, resource: string | null = "os"): WorkerNode => ({
  hostname,
  type: resource === null ? "physical" : "simulated",
  state,
  jobs: null,
  num_proc: 8,
  time_in_current_state: 0,
  state_start_time: 0,
  instance:
    resource === null
      ? null
      : {
          ...emptyInstance(resource, 0),
          uuid: hostname,
          instance_name: hostname,
          state: InstanceState.Ready,
          dns_name: hostname,
          vcpu_number: 8,
          last_task_result: 0
        },
  extra_attributes: null,
  ...over
})

const input = (over: Partial<PolicyInput>): PolicyInput => ({
  now: 1000,
  jobs: [],
  resources: [res("os")],
  nodes: [],
  inflight: new Map(),
  ...over
})

const jobs = (n: number, j: Partial<Job> = {}) => Array.from({ length: n }, (_, i) => makeJob({ jobid: `${i + 1}.head`, requested_cores: 4, cores_per_node: 0, ...j }))

/** A memory that saw 40 jobs run one after the other on os-1, for 10, 20, ..., 400 s; `t` is when the last ended. */
const learnedRuntimes = () => {
  const mem = new PolicyMemory()
  let t = 0
  for (let i = 1; i <= 40; i++) {
    mem.observe(t, [], [node("os-1", NodeState.Busy, { jobs: `0/${i}` })], [])
    t += 10 * i
    mem.observe(t, [], [node("os-1", NodeState.Idle)], [])
  }
  return { mem, t }
}

describe("demand policy rules", () => {
  const fresh = () => makeDemandPolicy(demandDefaults).instantiate!()

  it("is registered and selectable by name, classic unchanged", () => {
    expect(getPolicy("demand")?.name).toBe("demand")
    expect(getPolicy("classic")?.idleLimit).toBeUndefined()
    expect(getPolicy("classic")?.instantiate).toBeUndefined()
  })

  it("variants by name switch ideas off and on, for the ablation; they are not listed as policies", () => {
    expect(getPolicy("demand-no-continuous")?.name).toBe("demand-no-continuous")
    expect(getPolicy("demand-no-soonfree-no-pool+hedge")?.name).toBe("demand-no-soonfree-no-pool+hedge")
    for (const bad of ["demand-no-bogus", "demand+idle", "demand-", "demandx", "classic-no-pool"]) expect(getPolicy(bad)).toBeUndefined()
    expect(policyNames()).not.toContain("demand-no-pool")
    expect(demandIdeas().some((i) => i.startsWith("-no-soonfree:"))).toBe(true)
    // -no-continuous: one wave at a time, like classic
    const starting = node("os-1", NodeState.Starting)
    const wave = demandVariant("demand-no-continuous")!.instantiate!()
    expect(wave.decide(input({ jobs: jobs(6), nodes: [starting] })).provision.size).toBe(0)
    expect(fresh().decide(input({ jobs: jobs(6), nodes: [starting] })).provision.get("os")).toBe(2)
    // -no-idle: an idle node's cores are not counted
    const blind = demandVariant("demand-no-idle")!.instantiate!()
    expect(blind.decide(input({ jobs: jobs(3), nodes: [node("os-1", NodeState.Idle)] })).provision.get("os")).toBe(2)
    // +hedge: 10 % more when 4 or more nodes start in a resource
    expect(demandVariant("demand+hedge")!.instantiate!().decide(input({ jobs: jobs(10, { requested_cores: 8 }), resources: [res("os", { max: 20 })] })).provision.get("os")).toBe(11)
  })

  it("+hedgeone: a decision that boots in a resource boots one node more (two from 11 on), never past max, and counts its spare next time", () => {
    const one = () => demandVariant("demand+hedgeone")!.instantiate!()
    const d = one().decide(input({ jobs: jobs(1) }))
    expect([...d.provision]).toEqual([["os", 2]])
    expect(d.reasons.join("; ")).toContain("1 spare")
    expect(one().decide(input({ jobs: jobs(11, { requested_cores: 8 }), resources: [res("os", { max: 20 })] })).provision.get("os")).toBe(13)
    // room for the job's node only: no spare (max 10, 9 there)
    expect(one().decide(input({ jobs: jobs(1), resources: [res("os", { current: 9 })] })).provision.get("os")).toBe(1)
    // nothing to boot: no spare either
    expect(one().decide(input({ jobs: jobs(1), nodes: [node("os-1", NodeState.Idle)] })).provision.size).toBe(0)
    // the spare, once in flight, is capacity for the next job: no boot for it
    const p = one()
    const eight = jobs(1, { requested_cores: 8 })
    expect(p.decide(input({ jobs: eight, now: 1000 })).provision.get("os")).toBe(2)
    const next = [...eight, makeJob({ jobid: "9.head", requested_cores: 8, cores_per_node: 0 })]
    expect(p.decide(input({ jobs: next, now: 1060, inflight: new Map([["os", 2]]) })).provision.size).toBe(0)
    expect(one().decide(input({ jobs: next, now: 1060, inflight: new Map([["os", 1]]) })).provision.get("os")).toBe(2)
    // without it, exactly the nodes needed
    expect(fresh().decide(input({ jobs: jobs(1) })).provision.get("os")).toBe(1)
  })

  it("nodes that name their queues (Slurm partitions, Grid Engine queues) count only for jobs of those queues", () => {
    const dyn = (n: number) => jobs(n, { queue: "dyn" })
    const phys = (partitions: string, state = NodeState.Idle, over: Partial<WorkerNode> = {}) =>
      node("node1", state, { extra_attributes: { partitions }, ...over }, null)
    // an idle physical node of another partition: the dyn job still needs a cloud node
    expect(fresh().decide(input({ jobs: dyn(1), nodes: [phys("main")] })).provision.get("os")).toBe(1)
    expect(getPolicy("lean")!.instantiate!().decide(input({ jobs: dyn(1), nodes: [phys("main")] })).provision.get("os")).toBe(2)
    // one that serves dyn (too) is capacity for it; a job that names no queue may use any node
    expect(fresh().decide(input({ jobs: dyn(1), nodes: [phys("main,dyn")] })).provision.size).toBe(0)
    expect(fresh().decide(input({ jobs: jobs(1), nodes: [phys("main")] })).provision.size).toBe(0)
    // Grid Engine's form: the queues with slots on the host (gpu.q's instance has 0 there: a reservation)
    const sge = node("node1", NodeState.Idle, { extra_attributes: { queues: { "all.q": "", "gpu.q": "" }, serves_queues: "all.q" } }, null)
    expect(fresh().decide(input({ jobs: jobs(1, { queue: "gpu.q" }), nodes: [sge] })).provision.get("os")).toBe(1)
    expect(fresh().decide(input({ jobs: jobs(1, { queue: "all.q" }), nodes: [sge] })).provision.size).toBe(0)
    // a Slurm node in no partition, an exec host with no queue it can start jobs in: capacity for nothing
    expect(fresh().decide(input({ jobs: jobs(1), nodes: [phys("")] })).provision.get("os")).toBe(1)
    const none = node("node2", NodeState.Idle, { extra_attributes: { queues: {}, serves_queues: "" } }, null)
    expect(fresh().decide(input({ jobs: jobs(1), nodes: [none] })).provision.get("os")).toBe(1)
  })

  it("+fitfast: least waste first, then the resource whose nodes join soonest, then price", () => {
    // small: 8-core nodes, cheap per core, slow boots; big: 16-core nodes, dearer, fast boots
    const rs = [res("small", { priority: 1 }), res("big", { priority: 2, coresPerNode: 16 })]
    const prices = new Map([["small", 0.24], ["big", 0.68]])
    const boot = (r: string) => (r === "small" ? 240 : 170)
    const pick = (cores: number, fitFast: boolean) =>
      chooseResource(makeJob({ jobid: "1.head", requested_cores: cores, cores_per_node: 0 }), rs, new Map(), prices, { leastWaste: true, price: true, fitFast }, boot)?.resource.name
    expect(pick(16, true)).toBe("big") // no waste either way: the faster boot wins
    expect(pick(32, true)).toBe("big")
    expect(pick(4, true)).toBe("small") // 4 idle cores left against 12
    expect(pick(24, true)).toBe("small") // 0 against 8
    expect(pick(16, false)).toBe("small") // price first without fitfast
    expect(getPolicy("demand+fitfast+percore+mid")?.name).toBe("demand+fitfast+percore+mid")
  })

  it("lean is registered under its own name (also after instantiate) and is demand+widenew+percore+learn+reactive+wideidle+hedgeone+paid", () => {
    const lean = getPolicy("lean")!
    expect(lean.name).toBe("lean")
    expect(policyNames()).toContain("lean")
    expect(lean.instantiate!().name).toBe("lean")
    expect(lean.instantiate!().reactive).toBe(true)
    expect(getPolicy("demand")!.reactive).toBeUndefined()
    expect(lean.description).toContain("learned")
    // same decisions as the variant it is made of (wide jobs counting the idle node: 12 + 12 cores on 8-core nodes → 2 boots, and 1 spare)
    const nodes = [node("os-1", NodeState.Idle)]
    const q = jobs(2, { requested_cores: 12 })
    const a = lean.instantiate!().decide(input({ jobs: q, nodes }))
    const b = demandVariant("demand+widenew+percore+learn+reactive+wideidle+hedgeone+paid")!.instantiate!().decide(input({ jobs: q, nodes }))
    expect([...a.provision]).toEqual([["os", 3]])
    expect([...a.provision]).toEqual([...b.provision])
  })

  it("+widenew: a job wider than the largest node counts only nodes starting or in flight, a narrow one counts idle cores", () => {
    const wide = () => demandVariant("demand+widenew")!.instantiate!()
    const idle = [node("os-1", NodeState.Idle)]
    // 12 cores on 8-core nodes: demand counts the idle node's 8 and boots 1; widenew boots 2 of its own
    expect(fresh().decide(input({ jobs: jobs(1, { requested_cores: 12 }), nodes: idle })).provision.get("os")).toBe(1)
    expect(wide().decide(input({ jobs: jobs(1, { requested_cores: 12 }), nodes: idle })).provision.get("os")).toBe(2)
    // a job that fits one node still uses the idle one
    expect(wide().decide(input({ jobs: jobs(1, { requested_cores: 6 }), nodes: idle })).provision.size).toBe(0)
    // nodes already starting are counted for the wide job too (no second boot for them)
    const starting = [node("os-2", NodeState.Starting), node("os-3", NodeState.Starting)]
    expect(wide().decide(input({ jobs: jobs(1, { requested_cores: 12 }), nodes: [...idle, ...starting] })).provision.size).toBe(0)
  })

  it("+learn: the pool's keep is the break-even limit learned from idle periods, between 300 s and the keep", () => {
    const l = new IdleLearner({ ...breakEvenDefaults, min: 300 })
    const K = 100 * 240
    expect(l.limitIn(K, 300, 1200)).toBe(1200) // nothing seen yet: the keep
    for (let i = 0; i < 20; i++) l.add({ length: 900, ended: true })
    expect(l.limitIn(K, 300, 1200)).toBe(900) // every idle node was reused after 900 s: keep that long
    const never = new IdleLearner({ ...breakEvenDefaults, min: 300 })
    for (let i = 0; i < 20; i++) never.add({ length: 1200, ended: false })
    expect(never.limitIn(K, 300, 1200)).toBe(300) // none was ever reused: the floor
    // a small K (a boot valued at 3 boot times) does not wait 900 s for a reuse
    const half = new IdleLearner({ ...breakEvenDefaults, min: 300 })
    for (let i = 0; i < 20; i++) half.add({ length: i % 2 === 0 ? 900 : 1200, ended: i % 2 === 0 })
    expect(half.limitIn(3 * 240, 300, 1200)).toBe(300)
    expect(half.limitIn(K, 300, 1200)).toBe(900)
    expect(getPolicy("demand+learn3")?.name).toBe("demand+learn3")
  })

  it("+learn: the learner's limit over its window is bestIdleLimit of its last `window` periods (it keeps them sorted as they come and go)", () => {
    const rng = Rng.make(7)
    const opts = { ...breakEvenDefaults, min: 300, samples: 5, window: 40 }
    const l = new IdleLearner(opts)
    const all: Array<{ length: number; ended: boolean }> = []
    for (let i = 0; i < 300; i++) {
      // few distinct lengths: many ties, in both keys
      const p = { length: 60 * Math.floor(rng.next() * 25), ended: rng.next() < 0.6 }
      l.add(p)
      all.push(p)
      const K = 100 * (200 + Math.floor(rng.next() * 3) * 20)
      if (all.length >= opts.samples) expect(l.limitIn(K, 300, 1200)).toBe(bestIdleLimit(all.slice(-opts.window), K, 300, 1200))
    }
  })

  it("boots for the unmet demand only", () => {
    const d = fresh().decide(input({ jobs: jobs(3) }))
    expect(d.provision.get("os")).toBe(2) // 12 cores on 8-core nodes
  })

  it("counts free cores of idle nodes before booting", () => {
    const d = fresh().decide(input({ jobs: jobs(3), nodes: [node("os-1", NodeState.Idle)] }))
    expect(d.provision.get("os")).toBe(1)
  })

  it("counts nodes starting and boots in flight, and keeps provisioning while they start (not one wave at a time)", () => {
    const starting = node("os-1", NodeState.Starting)
    const p = fresh()
    expect(p.decide(input({ jobs: jobs(4), nodes: [starting], inflight: new Map([["os", 1]]) })).provision.get("os")).toBeUndefined()
    expect(p.decide(input({ now: 1060, jobs: jobs(6), nodes: [starting], inflight: new Map([["os", 1]]) })).provision.get("os")).toBe(1)
  })

  it("counts the free cores of Busy nodes whose jobs it knows, and cores freed before a new node could join", () => {
    const p = fresh()
    // first decision: job 1 (2 cores, walltime 2 min) is queued; then it runs on os-1
    p.decide(input({ now: 0, jobs: jobs(1, { requested_cores: 2, requested_walltime: "00:02:00" }) }))
    const busy = node("os-1", NodeState.Busy, { jobs: "0/1" })
    // 6 free cores now: a 6-core job fits, no boot
    expect(p.decide(input({ now: 60, jobs: [makeJob({ jobid: "2.head", requested_cores: 6, cores_per_node: 0 })], nodes: [busy] })).provision.size).toBe(0)
    // 8 cores: fits only once job 1 ends (by 120 s, before a boot of 300 s would join)
    expect(p.decide(input({ now: 61, jobs: [makeJob({ jobid: "3.head", requested_cores: 8, cores_per_node: 0 })], nodes: [busy] })).provision.size).toBe(0)
    // a node with a job it never saw queued counts as full
    const unknown = node("os-2", NodeState.Busy, { jobs: "0/99" })
    expect(fresh().decide(input({ jobs: jobs(1, { requested_cores: 2 }), nodes: [unknown] })).provision.get("os")).toBe(1)
  })

  it("learns runtimes and judges a running job's end by them, conditional on its age (+runtime); stale jobs count only nodes coming (+stale)", () => {
    const { mem, t } = learnedRuntimes()
    expect(mem.runtimeSamples).toBe(40)
    mem.observe(t, [], [node("os-1", NodeState.Busy, { jobs: "0/100" })], [])
    // age 0: the median of all runtimes (10, 20, ..., 400) from its start
    expect(mem.expectedEnd("100", t, 0.5)).toBe(t + 210)
    // age 200: the median of the runtimes longer than 200
    expect(mem.expectedEnd("100", t + 200, 0.5)).toBe(t + 310)
    // older than all but a few: unknown
    expect(mem.expectedEnd("100", t + 390, 0.5)).toBeNull()
    expect(mem.queuedFor("7.head", t)).toBe(0)
    expect(demandVariant("demand+runtime75+stale")).toBeDefined()
    // +stale: job 3 counted on cores job 1 frees soon; once it waited a boot time it boots
    const busy = node("os-1", NodeState.Busy, { jobs: "0/1" })
    const j3 = [makeJob({ jobid: "3.head", requested_cores: 8, cores_per_node: 0 })]
    for (const [name, boots] of [["demand", undefined], ["demand+stale", 1]] as const) {
      const p = getPolicy(name)!.instantiate!()
      p.decide(input({ now: 0, jobs: jobs(1, { requested_cores: 2, requested_walltime: "00:10:00" }) }))
      p.decide(input({ now: 60, nodes: [busy] })) // job 1 starts, ends by 660
      expect(p.decide(input({ now: 360, jobs: j3, nodes: [busy] })).provision.size).toBe(0)
      expect(p.decide(input({ now: 660, jobs: j3, nodes: [busy] })).provision.get("os")).toBe(boots)
    }
  })

  it("+expect: running jobs' cores count in proportion to the chance they end before a boot could join (+wideidle: for wide jobs too)", () => {
    const { mem, t } = learnedRuntimes()
    // job 100 (16 cores, seen queued, no walltime) starts at t; runtimes seen: 10, 20, ..., 400
    mem.observe(t, [makeJob({ jobid: "100.head", requested_cores: 16, cores_per_node: 0 })], [], [res("os")])
    mem.observe(t, [], [node("os-1", NodeState.Busy, { jobs: "0/100" })], [res("os")])
    expect(mem.endChance("100", t, t + 200)).toBe(0.5) // 20 of 40 runtimes are ≤ 200
    expect(mem.endChance("100", t + 200, t + 300)).toBe(0.5) // of the 20 longer than 200, 10 end by 300
    expect(mem.endChance("100", t + 390, t + 500)).toBeNull() // older than all but a few: unknown
    const caps = (expect: number | null) =>
      buildCapacity(t, [node("os-1", NodeState.Busy, { jobs: "0/100" })], new Map(), mem, () => 300, { ...demandDefaults.count, expect }, t + 200)
    expect(caps(null).some((c) => c.kind === "expected")).toBe(false)
    expect(caps(1).find((c) => c.kind === "expected")?.releases).toEqual([[t, 8]]) // 16 cores × 0.5
    expect(caps(0.5).find((c) => c.kind === "expected")?.releases).toEqual([[t, 4]])
    // nodes that name their partitions: the pool serves only the partitions all of them serve
    const inParts = (...parts: Array<string>) =>
      buildCapacity(
        t,
        parts.map((p, i) => node(`n${i}`, i === 0 ? NodeState.Busy : NodeState.Idle, { jobs: i === 0 ? "0/100" : null, extra_attributes: { partitions: p } }, i === 0 ? "os" : null)),
        new Map(),
        mem,
        () => 300,
        { ...demandDefaults.count, expect: 1 },
        t + 200
      ).find((c) => c.kind === "expected")
    const pool = inParts("main,dyn", "dyn")!
    expect([...pool.queues!]).toEqual(["dyn"])
    expect(accepts(pool, makeJob({ jobid: "7.head", queue: "dyn" }))).toBe(true)
    expect(accepts(pool, makeJob({ jobid: "8.head", queue: "main" }))).toBe(false)
    expect(accepts(pool, makeJob({ jobid: "9.head", queue: null }))).toBe(true)

    // +wideidle: a 12-core job on 8-core nodes counts the Idle node (boots 1), widenew alone boots 2
    const idle = [node("os-1", NodeState.Idle)]
    const twelve = jobs(1, { requested_cores: 12 })
    expect(getPolicy("demand+widenew")!.instantiate!().decide(input({ jobs: twelve, nodes: idle })).provision.get("os")).toBe(2)
    expect(getPolicy("demand+widenew+wideidle")!.instantiate!().decide(input({ jobs: twelve, nodes: idle })).provision.get("os")).toBe(1)
    // but never the free cores of a Busy node (smaller jobs take those first)
    const p = getPolicy("demand+widenew+wideidle")!.instantiate!()
    p.decide(input({ now: 0, jobs: jobs(1, { requested_cores: 2 }) }))
    const busy = [node("os-1", NodeState.Busy, { jobs: "0/1" })]
    expect(p.decide(input({ now: 60, jobs: [makeJob({ jobid: "9.head", requested_cores: 12, cores_per_node: 0 })], nodes: busy })).provision.get("os")).toBe(2)
  })

  it("never grows a Frozen, Draining or Drained resource, nor counts a draining resource's nodes", () => {
    for (const flag of [ResourceFlag.Frozen, ResourceFlag.Draining, ResourceFlag.Drained]) {
      const d = fresh().decide(input({ jobs: jobs(3), resources: [res("os", { flag })] }))
      expect(d.provision.size).toBe(0)
    }
    const d = fresh().decide(input({ jobs: jobs(1), resources: [res("os", { flag: ResourceFlag.Draining }), res("aws", { priority: 2 })], nodes: [node("os-1", NodeState.Idle)] }))
    expect(d.provision.get("aws")).toBe(1)
  })

  it("falls through to the next resource when the preferred one is not offered (backoff) or full", () => {
    expect(fresh().decide(input({ jobs: jobs(1), resources: [res("aws", { priority: 2 })] })).provision.get("aws")).toBe(1)
    const full = fresh().decide(input({ jobs: jobs(1), resources: [res("os", { max: 2, current: 2 }), res("aws", { priority: 2 })] }))
    expect(full.provision.get("aws")).toBe(1)
  })

  it("chooses the placement with the fewest paid units: price when every candidate has one, else cores", () => {
    const two = [res("big", { coresPerNode: 16, priority: 1 }), res("small", { coresPerNode: 4, priority: 2 })]
    // 4 cores: one 4-core node wastes nothing; by cores it wins despite its priority
    expect(fresh().decide(input({ jobs: jobs(1), resources: two })).provision.get("small")).toBe(1)
    // with prices the cheaper placement wins: 4 small nodes (4 × 0.5) vs 1 big (1.0) for 16 cores
    const prices = new Map([["big", 1.0], ["small", 0.5]])
    expect(fresh().decide(input({ jobs: jobs(1, { requested_cores: 16 }), resources: two, prices })).provision.get("big")).toBe(1)
    // reserved resources still come first for their jobs
    const reserved = [res("any", { coresPerNode: 4 }), res("phys", { coresPerNode: 16, reservation: { queue: null, account: "physics", property: null } })]
    expect(fresh().decide(input({ jobs: jobs(1, { account: "physics" }), resources: reserved })).provision.get("phys")).toBe(1)
  })

  it("does not retire an idle node that queued jobs were counted on", () => {
    const p = fresh()
    const idle = node("os-1", NodeState.Idle, { state_start_time: 0 })
    p.decide(input({ now: 1000, jobs: jobs(1), nodes: [idle] }))
    expect(p.idleLimit!(idle, { now: 1000, maxIdleTime: 600 })).toBe(Infinity)
  })

  it("retires idle nodes beyond the recent demand after one boot time, keeps the rest up to the pool's keep time", () => {
    const p = fresh()
    const a = node("os-a", NodeState.Idle, { state_start_time: 900 })
    const b = node("os-b", NodeState.Idle, { state_start_time: 950 })
    // no demand seen yet: every idle node is excess
    p.decide(input({ now: 1000, nodes: [a, b] }))
    expect(p.idleLimit!(a, { now: 1000, maxIdleTime: 600 })).toBe(300) // the default boot time
    // demand for several nodes within the last hour: both are kept
    p.decide(input({ now: 1060, jobs: jobs(8, { requested_cores: 8 }), nodes: [] }))
    expect(p.idleLimit!(a, { now: 1070, maxIdleTime: 600 })).toBe(demandDefaults.pool!.keep)
    expect(p.idleLimit!(b, { now: 1070, maxIdleTime: 600 })).toBe(demandDefaults.pool!.keep)
  })

  it("paidIdle: an idle node billed per started hour stays until shortly before its paid hour ends, and goes before a new one starts", () => {
    const p = makeDemandPolicy({ ...demandDefaults, paidIdle: 120 }).instantiate!()
    const a = node("os-a", NodeState.Idle, { state_start_time: 900 }) // instance created at 0
    const b = node("os-b", NodeState.Idle, { state_start_time: 3200 })
    const hourly = new Map([["os", { per: "hour" as const }]])
    p.decide(input({ now: 1000, nodes: [a, b], billing: hourly }))
    // without demand both are excess (limit one boot time, 300 s): a would go at 1200, 2280 s before its paid hour ends
    expect(p.idleLimit!(a, { now: 1000, maxIdleTime: 600 })).toBe(3480 - 900)
    // b would go at 3500, within 120 s of the hour: it goes at 3480 instead
    expect(p.idleLimit!(b, { now: 3300, maxIdleTime: 600 })).toBe(3480 - 3200)
    // billed per second: the pool's limits as they are
    const q = makeDemandPolicy({ ...demandDefaults, paidIdle: 120 }).instantiate!()
    q.decide(input({ now: 1000, nodes: [a], billing: new Map([["os", { per: "second" as const, minimum: 60 }]]) }))
    expect(q.idleLimit!(a, { now: 1000, maxIdleTime: 600 })).toBe(300)
  })

  it("reads job ids and walltimes the way the batch systems print them", () => {
    expect(jobKey("13.head.example.org")).toBe("13")
    expect(jobKey("0/13")).toBe("13")
    expect(jobKey("13[2].head")).toBe("13[2]")
    expect(parseWalltime("01:00:00")).toBe(3600)
    expect(parseWalltime("1:02:00:00")).toBe(93600)
    expect(parseWalltime("90")).toBe(90)
    expect(parseWalltime("bogus")).toBeNull()
    expect(parseWalltime(null)).toBeNull()
  })

  it("break-even limit: just after the short idle periods when boots are dear, at once when they are cheap", () => {
    const periods = [
      ...Array.from({ length: 50 }, () => ({ length: 30, ended: true })),
      ...Array.from({ length: 50 }, () => ({ length: 5000, ended: false }))
    ]
    expect(bestIdleLimit(periods, 300, 10, 600)).toBe(30)
    expect(bestIdleLimit(periods, 10, 10, 600)).toBe(10)
    // reuse spread evenly over 10 minutes and a boot dearer than that: keep them up to the cap
    const even = Array.from({ length: 60 }, (_, i) => ({ length: (i + 1) * 10, ended: true }))
    expect(bestIdleLimit(even, 5000, 10, 600)).toBe(600)
  })
})
