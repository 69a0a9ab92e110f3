/**
 * Each invariant of SPEC §6 on hand-made event logs: one that breaks it (the
 * check must catch it, at the right time) and one that does not.
 */
import { describe, expect, it } from "vitest"
import {
  checkAll,
  checkJobsProvisioned,
  checkMaxInstances,
  checkMinReached,
  checkNoCrash,
  checkNoDestroyKill,
  checkNoJobLost,
  checkNoLeak,
  checkSpotHold,
  spotHoldAllowance,
  checkPhysicalUntouched,
  invariantContext,
  minDeadline,
  provisionDeadline,
  backoffLead,
  type Ev,
  type FinalState
} from "./invariants.ts"
import { kitScenario, type KitScenario } from "./kit.ts"

const ctx = (k: Partial<KitScenario> = {}) =>
  invariantContext(
    kitScenario({
      resources: [{ name: "r1", min: 0, max: 2, cores: 4 }],
      settings: { max_launch_time: 300, cluster_poller_interval: 10, cloud_poller_interval: 20, auto_provision_interval: 60, worker_thread_number: 2 },
      apiLatency: 1,
      schedulerCycle: 10,
      ...k
    })
  )

const boot = (t: number, instance: string, resource = "r1"): Ev => ({ t, ev: "boot", resource, instance, name: `${resource}-${instance}`, cores: 4 })
const join = (t: number, instance: string, resource = "r1"): Ev => ({ t, ev: "join", host: `${resource}-${instance}`, instance })
const gone = (t: number, instance: string): Ev => ({ t, ev: "gone", instance })
const end = (t: number): Ev => ({ t, ev: "end", summary: {} })
const op = (t: number, o: string, target: string | null, ok: boolean, extra: Record<string, unknown> = {}): Ev => ({ t, ev: "operator", op: o, target, ok, ...extra })
const submit = (t: number, job: string, cores: number, extra: Record<string, unknown> = {}): Ev => ({
  t,
  ev: "submit",
  job,
  cores,
  cpn: 0,
  queue: "default",
  account: null,
  property: null,
  runtime: 100,
  ...extra
})

describe("1. never above max", () => {
  const c = ctx()
  it("catches a third instance in a resource with max 2, at the boot that made it", () => {
    const v = checkMaxInstances([boot(0, "i1"), boot(1, "i2"), boot(5, "i3"), end(100)], c)
    expect(v).toHaveLength(1)
    expect(v[0]).toMatchObject({ invariant: "max", t: 5 })
    expect(v[0].evidence).toHaveLength(3)
  })
  it("counts an instance until it is gone (not when it is terminated)", () => {
    expect(checkMaxInstances([boot(0, "i1"), boot(1, "i2"), gone(3, "i1"), boot(5, "i3")], c)).toEqual([])
    const term: Ev = { t: 3, ev: "terminate", instance: "i1", host: null }
    expect(checkMaxInstances([boot(0, "i1"), boot(1, "i2"), term, boot(5, "i3")], c)).toHaveLength(1)
  })
  it("bounds a frozen resource by its frozen count until restore or a restart", () => {
    const frozen = [boot(0, "i1"), op(10, "freeze", "r1", true, { max: 1 })]
    expect(checkMaxInstances([...frozen, boot(20, "i2")], c)).toMatchObject([{ invariant: "max", t: 20 }])
    expect(checkMaxInstances([...frozen, op(15, "restore", "r1", true), boot(20, "i2")], c)).toEqual([])
    expect(checkMaxInstances([...frozen, { t: 15, ev: "restart" }, boot(20, "i2")], c)).toEqual([])
    // a refused freeze changes nothing
    expect(checkMaxInstances([boot(0, "i1"), op(10, "freeze", "r1", false, { status: 400 }), boot(20, "i2")], c)).toEqual([])
  })
  it("catches a freeze that reports a max above the configured one, or below the instances alive", () => {
    expect(checkMaxInstances([op(10, "freeze", "r1", true, { max: 3 })], c)).toMatchObject([{ invariant: "max", t: 10 }])
    expect(checkMaxInstances([boot(0, "i1"), boot(1, "i2"), op(10, "freeze", "r1", true, { max: 1 })], c)).toMatchObject([{ invariant: "max", t: 10 }])
    expect(checkMaxInstances([boot(0, "i1"), boot(1, "i2"), gone(5, "i2"), op(10, "freeze", "r1", true, { max: 1 })], c)).toEqual([])
  })
  it("after a drain allows only the boots already waiting for a worker, and only while those can run", () => {
    const drained = [op(10, "drain", "r1", true, { waiting: 1 })]
    expect(checkMaxInstances([...drained, boot(11, "i1")], c)).toEqual([])
    expect(checkMaxInstances([...drained, boot(11, "i1"), boot(11, "i2")], c)).toMatchObject([{ t: 11 }])
    expect(checkMaxInstances([...drained, boot(100, "i1")], c)).toMatchObject([{ invariant: "max", t: 100 }])
    expect(checkMaxInstances([op(10, "drain", "r1", true, { waiting: 0 }), boot(10.5, "i1")], c)).toHaveLength(1)
  })
})

describe("2. no running job killed by a destroy", () => {
  it("catches a job killed with cause destroy", () => {
    const v = checkNoDestroyKill([
      { t: 50, ev: "terminate", instance: "i1", host: "r1-i1" },
      { t: 50, ev: "killed", job: "j1", host: "r1-i1", cause: "destroy" }
    ])
    expect(v).toMatchObject([{ invariant: "no-destroy-kill", t: 50 }])
    expect(v[0].evidence).toHaveLength(2)
  })
  it("lets vacate and crash kills pass", () => {
    expect(
      checkNoDestroyKill([
        { t: 50, ev: "killed", job: "j1", host: "h", cause: "vacate" },
        { t: 60, ev: "killed", job: "j2", host: "h", cause: "crash" }
      ])
    ).toEqual([])
  })
})

describe("3. physical nodes untouched", () => {
  const c = ctx({ physical: [{ hostname: "p1", cores: 4 }] })
  it("catches touch_physical and holds, leaves and kills on a physical host", () => {
    const v = checkPhysicalUntouched(
      [
        { t: 0, ev: "physical", host: "p1", cores: 4 },
        { t: 5, ev: "touch_physical", host: "p1", op: "hold" },
        { t: 5, ev: "hold", host: "p1" },
        { t: 9, ev: "leave", host: "p1" },
        { t: 9, ev: "killed", job: "j1", host: "p1", cause: "vacate" }
      ],
      c
    )
    expect(v.map((x) => x.t)).toEqual([5, 5, 9, 9])
  })
  it("lets the same on cloud hosts pass", () => {
    expect(
      checkPhysicalUntouched(
        [
          { t: 0, ev: "physical", host: "p1", cores: 4 },
          { t: 5, ev: "hold", host: "r1-i1" },
          { t: 9, ev: "leave", host: "r1-i1" }
        ],
        c
      )
    ).toEqual([])
  })
})

describe("4. no leaked instance", () => {
  const c = ctx()
  const none: FinalState = { nodes: [] }
  it("catches an old instance that is alive, not being destroyed and not tracked at the end", () => {
    const v = checkNoLeak([boot(0, "i1"), join(150, "i1"), end(5000)], c, none)
    expect(v).toMatchObject([{ invariant: "no-leak", t: 5000 }])
  })
  it("lets tracked, terminated, gone and young instances pass, and ones after a late restart", () => {
    const tracked: FinalState = { nodes: [{ hostname: "r1-i1", instance: "i1", resource: "r1" }] }
    expect(checkNoLeak([boot(0, "i1"), end(5000)], c, tracked)).toEqual([])
    expect(checkNoLeak([boot(0, "i1"), { t: 10, ev: "terminate", instance: "i1", host: null }, end(5000)], c, none)).toEqual([])
    expect(checkNoLeak([boot(0, "i1"), gone(20, "i1"), end(5000)], c, none)).toEqual([])
    expect(checkNoLeak([boot(4990, "i1"), end(5000)], c, none)).toEqual([])
    expect(checkNoLeak([boot(0, "i1"), { t: 4900, ev: "restart" }, end(5000)], c, none)).toEqual([])
  })
})

describe("5a. min reached within max_launch_time", () => {
  const c = ctx({ resources: [{ name: "r1", min: 1, max: 2, cores: 4 }] })
  const d = minDeadline(c, c.resources.get("r1")!)
  it("catches a resource left below min with a healthy cloud, at start + deadline", () => {
    const v = checkMinReached([end(5000)], c)
    expect(v).toMatchObject([{ invariant: "min", t: d }])
  })
  it("passes when a node joins in time", () => {
    expect(checkMinReached([boot(2, "i1"), join(200, "i1"), end(5000)], c)).toEqual([])
  })
  it("does not judge while auto mode is off, or a resource with random API errors", () => {
    expect(checkMinReached([op(0, "auto", null, true, { on: false }), end(5000)], c)).toEqual([])
    const flaky = ctx({ resources: [{ name: "r1", min: 1, max: 2, apiErrorRate: 0.1 }] })
    expect(checkMinReached([end(5000)], flaky)).toEqual([])
  })
  it("restarts the clock after a boot killed before it joined (a slow cloud), and after faults", () => {
    const slow = [boot(2, "i1"), { t: 320, ev: "terminate", instance: "i1", host: null }, gone(330, "i1")]
    expect(checkMinReached([...slow, boot(330, "i2"), join(400, "i2"), end(5000)], c)).toEqual([])
    // ... but not forever
    const v = checkMinReached([...slow, end(5000)], c)
    expect(v).toHaveLength(1)
    expect(v[0].t).toBeGreaterThan(320 + backoffLead(c))
    const outage: Ev = { t: 0, ev: "fault", kind: "outage", resource: "r1", duration: 1000 }
    expect(checkMinReached([outage, boot(1700, "i1"), join(1800, "i1"), end(5000)], c)).toEqual([])
  })
  it("follows freeze (frozen count) and drain (0)", () => {
    const frozen = [boot(2, "i1"), join(100, "i1"), boot(3, "i2"), op(50, "freeze", "r1", true, { max: 2 })]
    expect(checkMinReached([...frozen, join(110, "i2"), end(5000)], c)).toEqual([])
    expect(checkMinReached([...frozen, { t: 120, ev: "terminate", instance: "i2", host: "r1-i2" }, end(5000)], c)).toHaveLength(1)
    expect(checkMinReached([op(1, "drain", "r1", true, { waiting: 0 }), end(5000)], c)).toEqual([])
  })
})

describe("5b. a queued job that fits gets a node", () => {
  const c = ctx({ physical: [{ hostname: "p1", cores: 2 }] })
  const w = provisionDeadline(c)
  it("catches a job that fits r1 and waits without a boot, at submit + deadline", () => {
    const v = checkJobsProvisioned([{ t: 0, ev: "physical", host: "p1", cores: 2 }, submit(10, "j1", 4), end(5000)], c)
    expect(v).toMatchObject([{ invariant: "provision", t: 10 + w }])
  })
  it("passes when a node is started in time", () => {
    expect(checkJobsProvisioned([submit(10, "j1", 4), boot(70, "i1"), join(200, "i1"), { t: 210, ev: "start", job: "j1", hosts: ["r1-i1"], per_host: [4] }, end(5000)], c)).toEqual([])
  })
  it("does not ask for a node when free cores can take the job, or no resource may take it", () => {
    expect(checkJobsProvisioned([{ t: 0, ev: "physical", host: "p1", cores: 2 }, submit(10, "j1", 2), end(5000)], c)).toEqual([])
    expect(checkJobsProvisioned([submit(10, "j1", 2, { property: "gpu" }), end(5000)], c)).toEqual([])
    expect(checkJobsProvisioned([submit(10, "j1", 12), end(5000)], c)).toEqual([]) // 3 nodes of 4 cores, max 2
    expect(checkJobsProvisioned([submit(10, "j1", 2, { cpn: 8 }), end(5000)], c)).toEqual([]) // 8 per node > 4
  })
  it("counts any placement of the free cores, not only the simulated scheduler's single first-fit pass", () => {
    // 5 cores, 4 per node: 4 on r1-i1 (4 free) and 1 on p1, which comes first in the node order
    const two = ctx({ resources: [{ name: "r1", max: 3, cores: 4 }], physical: [{ hostname: "p1", cores: 2 }] })
    const log = [{ t: 0, ev: "physical", host: "p1", cores: 2 }, boot(0, "i1"), join(100, "i1"), submit(110, "j1", 5, { cpn: 4 }), end(5000)]
    expect(checkJobsProvisioned(log, two)).toEqual([])
    // with p1 busy there is no placement: a node is due
    const busy = [...log.slice(0, 3), submit(105, "j0", 2), { t: 106, ev: "start", job: "j0", hosts: ["p1"], per_host: [2] }, ...log.slice(3)]
    expect(checkJobsProvisioned(busy, two)).toHaveLength(1)
  })
  it("does not judge while auto mode is off, the batch system fails, or a node is starting anywhere", () => {
    expect(checkJobsProvisioned([op(0, "auto", null, true, { on: false }), submit(10, "j1", 4), end(5000)], c)).toEqual([])
    expect(checkJobsProvisioned([{ t: 0, ev: "fault", kind: "batch_failure", mode: "fail", duration: 10000 }, submit(10, "j1", 4), end(5000)], c)).toEqual([])
    const two = ctx({ resources: [{ name: "r1", max: 2 }, { name: "r2", max: 2, reservation: { queue: "long" } }] })
    expect(checkJobsProvisioned([boot(5, "i1", "r2"), submit(10, "j1", 4), end(5000)], two)).toEqual([])
  })
  it("lets a refused boot put the resource in backoff, then expects a node again", () => {
    const refused: Ev = { t: 60, ev: "boot_failed", resource: "r1", reason: "quota" }
    const v = checkJobsProvisioned([submit(10, "j1", 4), refused, end(5000)], c)
    expect(v).toHaveLength(1)
    expect(v[0].t).toBeCloseTo(60 + backoffLead(c) + w)
  })
})

describe("6. no crash", () => {
  const c = ctx()
  it("catches a crash line and a log without an end", () => {
    expect(checkNoCrash([{ t: 5, ev: "crash", error: "Error: boom\n  at x" }])).toMatchObject([{ invariant: "no-crash", t: 5, message: "the scaler crashed: Error: boom" }])
    expect(checkNoCrash([boot(1, "i1")])).toMatchObject([{ invariant: "no-crash", t: 1 }])
    expect(checkNoCrash([boot(1, "i1"), end(10)])).toEqual([])
  })
  it("catches a ghost: a tracked node whose instance is long gone, or was never booted", () => {
    const f: FinalState = { nodes: [{ hostname: "r1-i1", instance: "i1", resource: "r1" }] }
    expect(checkNoCrash([boot(1, "i1"), gone(100, "i1"), end(5000)], c, f)).toHaveLength(1)
    expect(checkNoCrash([boot(1, "i1"), gone(4990, "i1"), end(5000)], c, f)).toEqual([])
    expect(checkNoCrash([end(5000)], c, f)).toHaveLength(1)
  })
})

describe("checkAll", () => {
  it("returns the union of every check", () => {
    const c = ctx({ resources: [{ name: "r1", min: 0, max: 1 }] })
    const v = checkAll([boot(0, "i1"), boot(1, "i2"), { t: 3, ev: "killed", job: "j", host: "h", cause: "destroy" }, end(5000)], c, { nodes: [] })
    expect(new Set(v.map((x) => x.invariant))).toEqual(new Set(["max", "no-destroy-kill", "no-leak"]))
  })
})

describe("spot interruptions: kills, holds, lost jobs", () => {
  const c = ctx()
  const notice = (t: number, instances: Array<string>, warning = 120): Ev => ({ t, ev: "fault", kind: "spot_interruption", instances, warning, code: "instance-terminated-by-price" })
  const interrupted = (t: number, instance: string): Ev => ({ t, ev: "interrupted", instance, host: `r1-${instance}`, code: "instance-terminated-by-price" })
  const start = (t: number, job: string, host: string): Ev => ({ t, ev: "start", job, hosts: [host], per_host: [1] })
  const killed = (t: number, job: string, host: string, cause: string): Ev => ({ t, ev: "killed", job, host, cause })

  it("a kill by an interruption needs the cloud's interruption of that host at the end of its notice", () => {
    const ok = [boot(0, "i1"), join(60, "i1"), notice(100, ["i1"]), interrupted(220, "i1"), killed(220, "j", "r1-i1", "interruption"), end(300)]
    expect(checkNoDestroyKill(ok)).toEqual([])
    // no interruption line for the host
    expect(checkNoDestroyKill([boot(0, "i1"), join(60, "i1"), killed(220, "j", "r1-i1", "interruption"), end(300)])).toMatchObject([{ invariant: "no-destroy-kill", t: 220 }])
    // interrupted before the notice's warning was over
    expect(checkNoDestroyKill([boot(0, "i1"), join(60, "i1"), notice(100, ["i1"]), interrupted(150, "i1"), end(300)])).toMatchObject([{ invariant: "no-destroy-kill", t: 150 }])
    // a cause nobody may kill with
    expect(checkNoDestroyKill([killed(5, "j", "h", "scaler")])).toMatchObject([{ invariant: "no-destroy-kill", t: 5 }])
  })

  it("a noticed node that stays online past the allowance breaks spot-hold; a hold in time does not", () => {
    const allowance = spotHoldAllowance(c)
    const base = [boot(0, "i1"), join(60, "i1"), notice(100, ["i1"], 600)]
    const held = checkSpotHold([...base, { t: 110, ev: "hold", host: "r1-i1" }, end(2000)], c)
    expect(held).toEqual([])
    const late = checkSpotHold([...base, { t: 100 + allowance + 5, ev: "hold", host: "r1-i1" }, end(2000)], c)
    expect(late).toMatchObject([{ invariant: "spot-hold", t: 100 + allowance }])
    // the node was already held (idle) when the notice came: nothing to do
    expect(checkSpotHold([boot(0, "i1"), join(60, "i1"), { t: 90, ev: "hold", host: "r1-i1" }, notice(100, ["i1"], 600), end(2000)], c)).toEqual([])
  })

  it("a job on a node that leaves or whose instance goes without a kill is lost; the summary must count every job", () => {
    const summary = (s: Record<string, number>): Ev => ({ t: 900, ev: "end", summary: { jobs: s } })
    const run = [boot(0, "i1"), join(60, "i1"), submit(70, "j1", 1), start(80, "j1", "r1-i1")]
    expect(checkNoJobLost([...run, { t: 200, ev: "leave", host: "r1-i1" }])).toMatchObject([{ invariant: "no-job-lost", t: 200 }])
    expect(checkNoJobLost([...run, gone(200, "i1")])).toMatchObject([{ invariant: "no-job-lost", t: 200 }])
    const resubmitted = [...run, killed(220, "j1", "r1-i1", "interruption"), { t: 220, ev: "resubmit", job: "j1" }, gone(220, "i1"), start(300, "j1", "p1"), { t: 400, ev: "finish", job: "j1" }]
    expect(checkNoJobLost([...resubmitted, summary({ submitted: 1, started: 2, finished: 1, killed: 1, resubmitted: 1 })])).toEqual([])
    // the summary forgot the resubmission: a job counted twice
    expect(checkNoJobLost([...resubmitted, summary({ submitted: 1, started: 2, finished: 1, killed: 1 })])).toMatchObject([{ invariant: "no-job-lost", t: 900 }])
    // a resubmission without a kill
    expect(checkNoJobLost([...run, { t: 220, ev: "resubmit", job: "j1" }])).toMatchObject([{ invariant: "no-job-lost", t: 220 }])
  })
})
