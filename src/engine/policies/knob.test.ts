/**
 * The trade-off knob `dynamic-cluster.wait_value` (docs/policies.md): the
 * spare boot of lean/demand is weighed against the wait it saves, in money;
 * without the knob nothing changes (the golden test pins lean's logs).
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { AllocResource } from "../../model/allocator.ts"
import type { Billing } from "../../model/billing.ts"
import { parseConfigText } from "../../model/config.ts"
import { emptyInstance, InstanceState, makeJob, NodeState, ResourceFlag, type WorkerNode } from "../../model/types.ts"
import type { PolicyInput } from "../policy.ts"
import { bootWorthIt, demandDefaults, makeDemandPolicy, moneyK, spareWorthIt } from "./demand.ts"
import { leanOptions } from "./lean.ts"

describe("the trade-off knob (dynamic-cluster.wait_value): spareWorthIt", () => {
  const input = (waitValue: number | undefined, billing?: Billing): PolicyInput => ({
    now: 0,
    jobs: [],
    resources: [],
    nodes: [],
    inflight: new Map(),
    prices: new Map([["aws", 0.68]]),
    ...(billing !== undefined ? { billing: new Map([["aws", billing]]) } : {}),
    ...(waitValue !== undefined ? { waitValue } : {})
  })
  it("without wait_value (or a price) a spare is always booted, as before the knob", () => {
    expect(spareWorthIt(input(undefined), "aws", 300, 16)).toBe(true)
    expect(spareWorthIt(input(0), "unpriced", 300, 16)).toBe(true)
  })
  it("a spare is booted when half a boot time of its cores' wait is worth its billed boot and idle time", () => {
    // cost 0.68 × 600 s / 3600 = 0.113; saved w × 0.5 × 16 × 300 / 3600 = 0.667 w
    expect(spareWorthIt(input(0), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(0.16), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(0.18), "aws", 300, 16)).toBe(true)
    // billed per started hour: 0.68 to pay, worth it from about 1.02
    expect(spareWorthIt(input(1, { per: "hour" }), "aws", 300, 16)).toBe(false)
    expect(spareWorthIt(input(1.1, { per: "hour" }), "aws", 300, 16)).toBe(true)
  })
})

describe("the trade-off knob: moneyK, the break-even K of the pool's learned keep in money", () => {
  it("is the billed boot plus a boot time of waiting on the node's cores, in idle seconds of the node's price", () => {
    // spot: 16 cores, 0.24 per node-hour, per second with a 60-s minimum, boot 210 s, wait_value 0.2
    expect(moneyK(210, 16, 0.24, { per: "second", minimum: 60 }, 0.2)).toBeCloseTo(210 + (0.2 * 16 * 210) / 0.24, 6)
    // a boot shorter than the minimum is billed the minimum; wait_value 0: only the boot
    expect(moneyK(30, 16, 0.24, { per: "second", minimum: 60 }, 0)).toBe(60)
    // billed per started hour: a new boot costs a whole hour
    expect(moneyK(170, 16, 0.68, { per: "hour" }, 0)).toBe(3600)
  })
  it("is null (the learned keep's own K) without wait_value, a price or cores", () => {
    expect(moneyK(210, 16, 0.24, undefined, undefined)).toBeNull()
    expect(moneyK(210, 16, undefined, undefined, 0.2)).toBeNull()
    expect(moneyK(210, 0, 0.24, undefined, 0.2)).toBeNull()
  })
})

describe("dynamic-cluster.wait_value in the configuration", () => {
  it("is a non-negative number, named by its key path when wrong", () => {
    const conf = (v: string) => `dynamic-cluster:\n  wait_value: ${v}\ncluster:\n  type: torque\n`
    const good = parseConfigText(conf("0.2"))
    expect(Either.isRight(good) && good.right.config["dynamic-cluster"].wait_value).toBe(0.2)
    const bad = parseConfigText(conf("-1"))
    expect(Either.isLeft(bad) && bad.left.problems).toEqual(["dynamic-cluster.wait_value: expected a non-negative number (money per waiting core-hour), got -1"])
  })
})

describe("the trade-off knob in the boots: bootWorthIt", () => {
  // an on-demand node billed per started hour, 16 cores at 0.68 per node-hour; spot, the cheapest, 0.24 (0.015 per core-hour)
  const od = (wait: number, runtime = 3600, w = 0.2) =>
    bootWorthIt(w, { price: 0.68, billing: { per: "hour" }, bootSeconds: 300, cores: 16, cheapestCore: 0.015, jobs: [{ cores: 16, runtime, wait }] })
  it("an hourly node is started when the wait it saves × wait_value pays its billed hours beyond the work's cost on the cheapest resource", () => {
    // extra = 0.68 × 2 h (300 s + 3600 s of work) − 0.015 × 16 × 1 h = 1.12; saved = 0.2 × 16 × (wait − 300 s)
    expect(od(1500)).toBe(false) // 0.2 × 16 × 1200 / 3600 = 1.07
    expect(od(1600)).toBe(true) // 1.16
    // a longer wait value: pays from a shorter wait
    expect(bootWorthIt(1, { price: 0.68, billing: { per: "hour" }, bootSeconds: 300, cores: 16, cheapestCore: 0.015, jobs: [{ cores: 16, runtime: 3600, wait: 600 }] })).toBe(true)
    // wait_value 0: only a job whose wait is unknown starts it
    expect(od(1e6, 3600, 0)).toBe(false)
    expect(od(Infinity, 3600, 0)).toBe(true)
  })
  it("a job whose cores free no later than the boot (the placement found none it can use) always starts it", () => {
    expect(od(200, 3600, 0)).toBe(true)
  })
  it("on the cheapest resource, billed per second, only the boot is extra", () => {
    const spot = (wait: number, w: number) =>
      bootWorthIt(w, { price: 0.24, billing: { per: "second", minimum: 60 }, bootSeconds: 300, cores: 16, cheapestCore: 0.015, jobs: [{ cores: 1, runtime: 900, wait }] })
    // extra = 0.24 × 300 / 3600 = 0.02; saved = w × 1 × (wait − 300) / 3600
    expect(spot(400, 0.2)).toBe(false) // 0.0056
    expect(spot(700, 0.2)).toBe(true) // 0.022
  })
  it("with an idle tail (experiment +tail, +tailkeep) the node's price includes the idle time after its jobs", () => {
    const spot = (wait: number, tailSeconds: number) =>
      bootWorthIt(0.2, { price: 0.24, billing: { per: "second", minimum: 60 }, bootSeconds: 300, cores: 16, cheapestCore: 0.015, jobs: [{ cores: 1, runtime: 900, wait }], tailSeconds })
    // extra = 0.24 × (300 + 600) / 3600 = 0.06; saved at 700 s: 0.022, at 1500 s: 0.067
    expect(spot(700, 0)).toBe(true)
    expect(spot(700, 600)).toBe(false)
    expect(spot(1500, 600)).toBe(true)
  })
  it("a held job (experiment +knobsoon: a wide job whose cores are expected within a boot time) saves nothing, so it does not always start the node", () => {
    const od = (held: boolean) =>
      bootWorthIt(0.2, { price: 0.68, billing: { per: "hour" }, bootSeconds: 300, cores: 16, cheapestCore: 0.015, jobs: [{ cores: 128, runtime: 3600, wait: 200, held }] })
    expect(od(false)).toBe(true)
    expect(od(true)).toBe(false)
  })
})

describe("the trade-off knob in a decision: spot full, an on-demand boot or a wait for spot", () => {
  const r = (name: string, over: Partial<AllocResource>): AllocResource => ({
    name,
    priority: 1,
    min: 0,
    max: 1,
    current: 0,
    coresPerNode: 16,
    reservation: { queue: null, account: null, property: null },
    flag: ResourceFlag.Normal,
    ...over
  })
  const busySpot: WorkerNode = {
    hostname: "spot-1",
    type: "simulated",
    state: NodeState.Busy,
    jobs: "0/1",
    num_proc: 16,
    time_in_current_state: 0,
    state_start_time: 600,
    instance: { ...emptyInstance("spot", 0), uuid: "spot-1", instance_name: "spot-1", state: InstanceState.Ready, dns_name: "spot-1", vcpu_number: 16, last_task_result: 0 },
    extra_attributes: null
  }
  const money = (waitValue: number | undefined, spotMax = 1): Pick<PolicyInput, "prices" | "billing" | "resources" | "waitValue"> => ({
    prices: new Map([["spot", 0.24], ["ondemand", 0.68]]),
    billing: new Map<string, Billing>([["spot", { per: "second", minimum: 60 }], ["ondemand", { per: "hour" }]]),
    resources: [r("spot", { max: spotMax, current: 1 }), r("ondemand", { priority: 2, max: 4 })],
    ...(waitValue !== undefined ? { waitValue } : {})
  })
  /** Job 1 (16 cores, walltime 30 min) queued at 0, running on the only spot node from 600; job 2 (16 cores, 1 h) queued at 600. */
  const decide = (opts: typeof demandDefaults, waitValue: number | undefined, spotMax = 1) => {
    const p = makeDemandPolicy(opts).instantiate!()
    const first = makeJob({ jobid: "1.head", requested_cores: 16, cores_per_node: 0, requested_walltime: "00:30:00" })
    p.decide({ now: 0, jobs: [first], nodes: [], inflight: new Map(), ...money(waitValue, spotMax), resources: [r("spot", { max: spotMax })] })
    const second = makeJob({ jobid: "2.head", requested_cores: 16, cores_per_node: 0, requested_walltime: "01:00:00" })
    return p.decide({ now: 600, jobs: [second], nodes: [busySpot], inflight: new Map(), ...money(waitValue, spotMax) })
  }
  const knob = { ...demandDefaults, knob: true }
  it("at a low wait_value the job waits for the spot node (free in 30 min) instead of buying an on-demand hour; at a higher one it boots", () => {
    // wait 1800 s; extra 0.68 × 2 h − 0.015 × 16 × 1 h = 1.12; saved 16 × 1500 s × w: from w = 0.168
    const low = decide(knob, 0.1)
    expect(low.provision.size).toBe(0)
    expect(low.jobsFor.size).toBe(0)
    expect(low.reasons.join("; ")).toContain("ondemand: 1 node(s) not started for job(s) 2.head")
    expect([...decide(knob, 0.2).provision]).toEqual([["ondemand", 1]])
    // without the knob, or without a wait_value, the boot is made as before
    expect([...decide(demandDefaults, 0.1).provision]).toEqual([["ondemand", 1]])
    expect([...decide(knob, undefined).provision]).toEqual([["ondemand", 1]])
  })
  it("a cheap spot node billed per second is worth booting at the same low wait_value", () => {
    expect([...decide(knob, 0.1, 2).provision]).toEqual([["spot", 1]])
  })
  it("lean uses the knob with its own default wait_value when the configuration sets none", () => {
    expect(leanOptions.knob).toBe(true)
    expect(leanOptions.waitValue).toBeGreaterThan(0)
    const lean = { ...leanOptions, hedge: null }
    expect(decide(lean, 0.1).provision.size).toBe(0)
    expect([...decide(lean, 5).provision]).toEqual([["ondemand", 1]])
  })
})
