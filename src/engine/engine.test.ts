/**
 * The engine rules of SPEC §3, driven through the simulated layers and
 * virtual time. Each test reads the world's event log (the ground truth).
 * The counts are the classic allocator's (SPEC §4): `events` runs classic
 * unless the test names another policy in its settings.
 */
import { describe, expect, it } from "vitest"
import { kitScenario, type KitScenario } from "../sim/kit.ts"
import { runScenario } from "../sim/run.ts"
import type { EngineLogEvent } from "./engine.ts"

const events = (k: KitScenario) => {
  const r = runScenario(kitScenario({ ...k, settings: { policy: "classic", ...k.settings } }))
  return { ...r, ev: r.events.map((l) => JSON.parse(l) as { t: number; ev: string; [k: string]: any }) }
}
const first = (ev: ReadonlyArray<any>, name: string, pred: (e: any) => boolean = () => true) => ev.find((e) => e.ev === name && pred(e))
const count = (ev: ReadonlyArray<any>, name: string) => ev.filter((e) => e.ev === name).length

describe("minimum", () => {
  it("boots a resource up to min at start and keeps it there", () => {
    const { ev, summary } = events({ resources: [{ name: "os", min: 2, max: 4 }], maxTime: 2000 })
    expect(count(ev, "boot")).toBe(2)
    expect(count(ev, "join")).toBe(2)
    expect(summary.resources.os.peak_nodes).toBe(2)
    // both joined within boot (120) + config (30) + polls
    expect(first(ev, "join").t).toBeLessThan(300)
  })

  it("does not boot again for min while a node is Starting", () => {
    const { ev } = events({ resources: [{ name: "os", min: 1, max: 4, bootTime: { type: "constant", value: 900 } }], maxTime: 800 })
    expect(count(ev, "boot")).toBe(1)
  })
})

describe("provisioning from the queue", () => {
  it("starts nodes for queued jobs and the jobs run on them", () => {
    const { ev, summary } = events({
      resources: [{ name: "os", max: 4, cores: 4 }],
      jobs: [
        { submit: 0, runtime: 600, cores: 4, cpn: 4 },
        { submit: 0, runtime: 600, cores: 8, cpn: 4 }
      ]
    })
    expect(count(ev, "boot")).toBe(3)
    expect(summary.jobs.finished).toBe(2)
    const b = first(ev, "boot")
    // first provisioning at the first auto_provision pass after the first cluster poll
    expect(b.t).toBeLessThanOrEqual(70)
  })

  it("a job that fits gets nodes started within auto_provision_interval plus one cluster poll", () => {
    const { ev } = events({
      resources: [{ name: "os", max: 4 }],
      jobs: [{ submit: 1000, runtime: 60 }]
    })
    const boot = first(ev, "boot")
    expect(boot.t - 1000).toBeLessThanOrEqual(60 + 10 + 1)
  })

  it("never exceeds max", () => {
    const { summary } = events({
      resources: [{ name: "os", max: 3, cores: 2 }],
      jobs: Array.from({ length: 20 }, (_, i) => ({ submit: i * 5, runtime: 900, cores: 2, cpn: 2 }))
    })
    expect(summary.resources.os.peak_nodes).toBeLessThanOrEqual(3)
    expect(summary.jobs.finished).toBe(20)
  })

  it("classic provisions one wave at a time: no boots while a node is Starting", () => {
    const { ev } = events({
      resources: [{ name: "os", max: 10, bootTime: { type: "constant", value: 600 } }],
      jobs: [
        { submit: 0, runtime: 60, cores: 4, cpn: 4 },
        { submit: 100, runtime: 60, cores: 4, cpn: 4 }
      ]
    })
    const boots = ev.filter((e) => e.ev === "boot")
    expect(boots.length).toBe(2)
    // the second wave only after the first node stopped Starting (600 s boot + config)
    expect(boots[1].t).toBeGreaterThan(600)
  })
})

describe("reactive policies (Policy.reactive)", () => {
  const run = (policy: string, jobs: KitScenario["jobs"]) =>
    runScenario(kitScenario({ resources: [{ name: "os", max: 8, cores: 4 }], jobs, maxTime: 4000 }), { policy }).events.map(
      (l) => JSON.parse(l) as { t: number; ev: string }
    )
  // Passes run at 0, 60, 120, ... (polls every 10 s): a job submitted at 1021 waits for the pass at 1080
  // unless a pass that started nothing leaves the interval unspent.
  const late = [{ submit: 1021, runtime: 600, cores: 4, cpn: 4 }]

  it("a pass that starts nothing does not spend the interval: the next poll's pass boots", () => {
    const plain = first(run("demand", late), "boot")
    const reactive = first(run("demand+reactive", late), "boot")
    expect(plain.t).toBeGreaterThanOrEqual(1080)
    expect(reactive.t).toBeGreaterThan(1021)
    expect(reactive.t).toBeLessThanOrEqual(1021 + 10 + 1)
  })

  it("a pass that starts nodes spends it: the next boot waits auto_provision_interval", () => {
    const ev = run("demand+reactive", [...late, { submit: 1040, runtime: 600, cores: 4, cpn: 4 }])
    const boots = ev.filter((e) => e.ev === "boot")
    expect(boots.length).toBe(2)
    expect(boots[1].t - boots[0].t).toBeGreaterThanOrEqual(60)
    expect(boots[1].t - boots[0].t).toBeLessThanOrEqual(60 + 10)
  })

  it("classic is not reactive: its boot waits for the next pass", () => {
    expect(first(run("classic", late), "boot").t).toBeGreaterThanOrEqual(1080)
  })

  it("a reactive policy with nothing to start wakes the engine at its polls, not at once again and again", () => {
    // A reactive pass that starts nothing leaves lastProvision where it was, so
    // lastProvision + auto_provision_interval is in the past: nextWake must not
    // offer it (the daemon then stepped every 50 ms of real time, the simulator every second).
    const steps = (policy: string) => {
      let n = 0
      runScenario(kitScenario({ resources: [{ name: "os", max: 8, cores: 4 }], jobs: late, maxTime: 4000 }), { policy, fastPath: false, onStep: () => n++ })
      return n
    }
    const classic = steps("classic")
    expect(classic).toBeLessThan(4000 / 10 + 100)
    expect(steps("demand+reactive")).toBeLessThanOrEqual(classic + 10)
  })
})

describe("idle nodes", () => {
  it("an idle node above min is held after max_idle_time, then removed and destroyed", () => {
    const { ev, summary } = events({
      resources: [{ name: "os", max: 2 }],
      jobs: [{ submit: 0, runtime: 100 }],
      settings: { max_idle_time: 300 }
    })
    const finish = first(ev, "finish")
    const hold = first(ev, "hold")
    const leave = first(ev, "leave")
    const term = first(ev, "terminate")
    const gone = first(ev, "gone")
    expect(hold.t - finish.t).toBeGreaterThanOrEqual(300)
    expect(hold.t - finish.t).toBeLessThan(300 + 30)
    expect(leave.t).toBeGreaterThanOrEqual(hold.t)
    expect(term.t).toBeGreaterThanOrEqual(leave.t)
    expect(gone.t).toBeGreaterThan(term.t)
    expect(summary.jobs.killed).toBe(0)
  })

  it("keeps idle nodes at min", () => {
    const { ev } = events({ resources: [{ name: "os", min: 1, max: 2 }], settings: { max_idle_time: 60 }, maxTime: 3000 })
    expect(count(ev, "hold")).toBe(0)
    expect(count(ev, "destroy")).toBe(0)
  })
})

describe("starting nodes", () => {
  it("a node Starting longer than max_launch_time is destroyed", () => {
    const { ev } = events({
      resources: [{ name: "os", min: 1, max: 1, bootTime: { type: "constant", value: 5000 } }],
      settings: { max_launch_time: 1200 },
      maxTime: 1500
    })
    const term = first(ev, "terminate")
    expect(term).toBeDefined()
    expect(term.t).toBeGreaterThanOrEqual(1200)
    expect(term.t).toBeLessThan(1200 + 30)
  })

  it("an instance that ends in Error is destroyed and replaced", () => {
    const { ev } = events({
      resources: [{ name: "os", min: 1, max: 1, bootFailureRate: 1 }],
      maxTime: 700
    })
    expect(first(ev, "boot_failed")).toBeDefined()
    expect(first(ev, "terminate")).toBeDefined()
    expect(count(ev, "boot")).toBeGreaterThanOrEqual(2)
  })

  it("a node joins only when the checker says Ready", () => {
    const { ev } = events({
      resources: [{ name: "os", min: 1, max: 1, configTime: { type: "constant", value: 400 } }],
      maxTime: 1000
    })
    const active = first(ev, "active")
    const join = first(ev, "join")
    expect(join.t - active.t).toBeGreaterThanOrEqual(400)
  })
})

describe("errors", () => {
  it("a node in Error longer than max_down_time is removed and destroyed", () => {
    const { ev } = events({
      resources: [{ name: "os", min: 1, max: 1 }],
      faults: [{ kind: "instance_death", at: 500, count: 1 }],
      settings: { max_down_time: 480 },
      maxTime: 2000
    })
    const death = first(ev, "fault")
    const term = first(ev, "terminate")
    expect(term.t - death.t).toBeGreaterThanOrEqual(480)
    expect(term.t - death.t).toBeLessThan(480 + 40)
    // and min is restored afterwards
    expect(count(ev, "boot")).toBe(2)
  })

  it("makes no change on a stale view while the batch system fails", () => {
    const { ev } = events({
      resources: [{ name: "os", max: 2 }],
      jobs: [{ submit: 0, runtime: 100 }],
      settings: { max_idle_time: 300 },
      faults: [{ kind: "batch_failure", at: 250, duration: 2000, mode: "garbage" }],
      maxTime: 4000
    })
    const hold = first(ev, "hold")
    expect(hold.t).toBeGreaterThanOrEqual(2250)
  })
})

describe("cloud API failures", () => {
  it("backs off exponentially from a resource whose boots keep failing", () => {
    const { ev, summary } = events({ resources: [{ name: "os", min: 1, max: 2, quota: 0 }], maxTime: 2000 })
    const failed = ev.filter((e) => e.ev === "boot_failed")
    // backoff doubles from 30 s (capped at 600 s); retries happen at the next cluster poll after it ends
    const gaps = failed.slice(1).map((e, i) => e.t - failed[i].t)
    const backoffs = [30, 60, 120, 240, 480, 600]
    gaps.forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(backoffs[Math.min(i, 5)])
      expect(g).toBeLessThanOrEqual(backoffs[Math.min(i, 5)] + 10 + 1)
    })
    expect(failed.length).toBeGreaterThanOrEqual(6)
    expect(summary.resources.os.peak_nodes).toBe(0)
  })

  it("counts boots that fail in the same decision as one failure (issue 20, finding 5)", () => {
    // min 2 at quota 0: each decision starts two boots, and both fail
    const { ev } = events({ resources: [{ name: "os", min: 2, max: 2, quota: 0 }], maxTime: 1000 })
    const times = [...new Set(ev.filter((e) => e.ev === "boot_failed").map((e) => e.t))]
    expect(ev.filter((e) => e.ev === "boot_failed" && e.t === times[0]).length).toBe(2)
    const gaps = times.slice(1).map((t, i) => t - times[i])
    const backoffs = [30, 60, 120, 240]
    expect(gaps.length).toBeGreaterThanOrEqual(4)
    gaps.slice(0, 4).forEach((g, i) => {
      expect(g).toBeGreaterThanOrEqual(backoffs[i])
      expect(g).toBeLessThanOrEqual(backoffs[i] + 10 + 1)
    })
  })

  it("adopts nothing and boots nothing while the cloud cannot list, then recovers after the outage", () => {
    const { ev } = events({
      resources: [{ name: "os", min: 1, max: 2 }],
      faults: [{ kind: "outage", resource: "os", at: 0, duration: 600 }],
      maxTime: 2000
    })
    const boot = first(ev, "boot")
    expect(boot.t).toBeGreaterThanOrEqual(600)
    expect(first(ev, "join")).toBeDefined()
  })
})

describe("a batch system view that suddenly loses every node (issue 20, finding 7)", () => {
  const run = (duration: number) => {
    const logs: Array<EngineLogEvent> = []
    const r = runScenario(
      kitScenario({
        physical: [{ hostname: "phys1", cores: 4 }],
        resources: [{ name: "os", min: 2, max: 2 }],
        settings: { policy: "classic" },
        faults: [{ kind: "batch_failure", at: 600, duration, mode: "empty" }],
        maxTime: 1500
      }),
      { engineLog: (e) => logs.push(e) }
    )
    return { logs, ev: r.events.map((l) => JSON.parse(l) as { t: number; ev: string; [k: string]: any }) }
  }

  it("an empty node list (exit 0) for a few polls is suspect: the last view stays, no node is marked Error", () => {
    const { logs, ev } = run(15)
    expect(logs.filter((l) => /is no longer in the cluster/.test(l.msg))).toEqual([])
    const suspect = logs.filter((l) => /lost every node/.test(l.msg))
    expect(suspect.length).toBe(1)
    expect(suspect[0].level).toBe("warn")
    // nothing was destroyed or replaced
    expect(count(ev, "boot")).toBe(2)
    expect(count(ev, "destroy")).toBe(0)
  })

  it("an empty view that persists is believed after three polls in a row", () => {
    const { logs } = run(400)
    const lost = logs.filter((l) => /is no longer in the cluster/.test(l.msg))
    expect(lost.length).toBe(2)
    expect(lost[0].t).toBeGreaterThanOrEqual(600 + 2 * 10)
  })
})
