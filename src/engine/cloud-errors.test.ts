/**
 * What a failed boot does, by the class of its error (services.ts
 * `errorClass`, docs/clouds.md "Error classes"), in the simulated world with
 * a cloud that refuses the boots of resource `a` with a chosen kind:
 * capacity and quota fall through to the next resource at the next step,
 * throttling is not a failed boot, an invalid boot stops the resource until
 * a reload (issue 20).
 */
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { kitScenario } from "../sim/kit.ts"
import { runScenario } from "../sim/run.ts"
import type { StepDecisions } from "./decisions.ts"
import type { EngineLogEvent } from "./engine.ts"
import { CloudError, errorClass, type CloudErrorKind, type CloudService } from "./services.ts"
import { reconfigureState } from "./reconfigure.ts"
import { initialResState } from "./reconfigure.ts"
import { kitConfig } from "../sim/kit.ts"

/** Boots of `a` fail with `kind` while `refuse(k)` says so for the k-th boot of a (from 0). */
const refusing =
  (kind: CloudErrorKind, refuse: (k: number) => boolean, calls: Array<number>) =>
  (sim: CloudService): CloudService => ({
    ...sim,
    boot: (r, o) =>
      r !== "a"
        ? sim.boot(r, o)
        : Effect.suspend(() => {
            const k = calls.length
            calls.push(k)
            return refuse(k) ? Effect.fail(new CloudError({ resource: r, op: "boot", kind, message: `refused (${kind})` })) : sim.boot(r, o)
          })
  })

const run = (kind: CloudErrorKind, refuse: (k: number) => boolean, extra: { minA?: number; maxTime?: number } = {}) => {
  const calls: Array<number> = []
  const log: Array<EngineLogEvent> = []
  const steps: Array<StepDecisions> = []
  const s = kitScenario({
    resources: [
      { name: "a", priority: 1, min: extra.minA ?? 0, max: 2 },
      { name: "b", priority: 10, max: 2 }
    ],
    jobs: [{ submit: 0, runtime: 600, cores: 4, cpn: 4 }],
    settings: { policy: "classic", auto_provision_interval: 300, cluster_poller_interval: 10, cloud_poller_interval: 10 },
    maxTime: extra.maxTime ?? 1500
  })
  const r = runScenario(s, { cloud: refusing(kind, refuse, calls), engineLog: (e) => log.push(e), onDecisions: (d) => steps.push(d) })
  const ev = r.events.map((l) => JSON.parse(l) as { t: number; ev: string; resource?: string })
  const decisions = steps.flatMap((st) => st.decisions.map((d) => ({ t: st.t, d })))
  return { calls, log, ev, decisions, summary: r.summary }
}

describe("error classes", () => {
  it("maps each kind of error to its class; notfound is invalid for a boot only", () => {
    expect(errorClass("capacity", "boot")).toBe("capacity")
    expect(errorClass("quota", "boot")).toBe("quota")
    expect(errorClass("ratelimit", "list")).toBe("throttle")
    expect(errorClass("auth", "boot")).toBe("auth")
    expect(errorClass("invalid", "boot")).toBe("invalid")
    expect(errorClass("notfound", "boot")).toBe("invalid")
    expect(errorClass("notfound", "refresh")).toBe("transient")
    for (const k of ["api", "timeout", "conflict"] as const) expect(errorClass(k, "boot")).toBe("transient")
  })
})

describe("what a failed boot does, by class", () => {
  for (const kind of ["capacity", "quota"] as const) {
    it(`${kind}: the job falls through to the next resource at the next step, not after auto_provision_interval`, () => {
      const { calls, ev, log } = run(kind, () => true)
      const boots = ev.filter((e) => e.ev === "boot")
      // the first pass chose a (the premise), its boot was refused
      expect(calls.length).toBeGreaterThanOrEqual(1)
      const refusedAt = log.find((e) => e.msg.startsWith(`boot in a failed (${kind})`))
      expect(refusedAt, JSON.stringify(log.slice(0, 10))).toBeDefined()
      expect(refusedAt!.msg).toContain("the next provisioning pass looks at the other resources at once")
      // b booted within a cluster poll of the refusal, well before auto_provision_interval (300 s)
      expect(boots.length).toBeGreaterThanOrEqual(1)
      expect(boots[0].resource).toBe("b")
      expect(boots[0].t - refusedAt!.t).toBeLessThanOrEqual(20)
    })
  }

  it("throttle: not a failed boot (no back-off, no failure counted), the resource boots again at the next pass", () => {
    const { calls, log, ev } = run("ratelimit", (k) => k === 0)
    expect(log.some((e) => e.msg.startsWith("boot in a throttled by the cloud") && e.msg.includes("not counted as a failed boot"))).toBe(true)
    expect(log.some((e) => /^boot in a failed/.test(e.msg)), JSON.stringify(log.slice(0, 10))).toBe(false)
    expect(calls.length).toBeGreaterThanOrEqual(2)
    expect(ev.some((e) => e.ev === "boot" && e.resource === "a")).toBe(true)
  })

  it("invalid: one attempt, said loudly (an error line, a refusal with reason invalid_config), no retry until a reload", () => {
    const { calls, log, decisions } = run("invalid", () => true, { minA: 1, maxTime: 3000 })
    // before: retried after each back-off (30 s, 60 s, 120 s, ...)
    expect(calls.length).toBe(1)
    const line = log.find((e) => e.msg.startsWith("boot in a refused as invalid"))
    expect(line?.level).toBe("error")
    expect(line?.msg).toContain("no more boots in a until the configuration is reloaded")
    expect(decisions.some(({ d }) => d.kind === "refuse" && d.resource === "a" && d.reason === "invalid_config" && d.by === "min")).toBe(true)
  })

  it("a reload clears the stop and says so", () => {
    const config = kitConfig({ resources: [{ name: "a", max: 2 }] })
    const a = initialResState("a", config.cloud.a)
    a.invalid = "InvalidAMIID.NotFound: no such image"
    const state = { settings: { maxIdleTime: 1 } as any, resources: new Map([["a", a]]), prices: new Map<string, number>() }
    const { result } = reconfigureState(state, config, config)
    expect(a.invalid).toBeNull()
    expect(result.changes.some((c) => c.startsWith("cloud.a: booting again") && c.includes("InvalidAMIID.NotFound"))).toBe(true)
  })
})
