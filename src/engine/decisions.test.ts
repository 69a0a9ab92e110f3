/**
 * Decisions as values (decisions.ts): what a step decides can be listed
 * through `onDecisions`, is plain data with a reason from the closed set, and
 * the log lines are rendered from it (one line per hold or provisioning
 * decision, at the same time, naming the same node or resource).
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { kitScenario } from "../sim/kit.ts"
import { runScenario } from "../sim/run.ts"
import { loadScenarioFile } from "../sim/scenario.ts"
import { REASON_CODES, type Decision, type StepDecisions } from "./decisions.ts"
import { policyNames } from "./policy.ts"
import type { EngineLogEvent } from "./engine.ts"

const run = (file: string, policy: string) => {
  const s = loadScenarioFile(new URL(`../../scenarios/${file}`, import.meta.url).pathname)
  if (Either.isLeft(s)) throw new Error(s.left.message)
  const steps: Array<StepDecisions> = []
  const log: Array<EngineLogEvent> = []
  runScenario(s.right, { policy, collect: false, onDecisions: (d) => steps.push(d), engineLog: (e) => log.push(e) })
  return { steps, log }
}

const each = (steps: ReadonlyArray<StepDecisions>) => steps.flatMap((s) => s.decisions.map((d) => ({ t: s.t, d })))

describe("decisions as values", () => {
  for (const [file, policy] of [
    ["quickstart.yaml", "classic"],
    ["outage.yaml", "lean"]
  ] as const) {
    it(`${file} under ${policy}: plain data, known reasons, log lines rendered from them`, () => {
      const { steps, log } = run(file, policy)
      const all = each(steps)
      expect(all.length).toBeGreaterThan(0)
      // plain data: a JSON round trip keeps every field
      expect(JSON.parse(JSON.stringify(steps))).toEqual(steps)
      for (const { d } of all) expect(REASON_CODES).toContain(d.reason)
      const kinds = new Set(all.map(({ d }) => d.kind))
      for (const k of ["provision", "hold", "remove", "check", "refresh"]) expect(kinds, `${k} decided`).toContain(k)

      const holds = all.filter((x): x is { t: number; d: Extract<Decision, { kind: "hold" }> } => x.d.kind === "hold")
      const holdLines = log.filter((e) => e.msg.startsWith("holding "))
      expect(holdLines.map((e) => [e.t, e.host])).toEqual(holds.map(({ t, d }) => [t, d.host]))
      for (const { d } of holds) if (d.reason === "idle") expect(d.idleFor).toBeGreaterThan(d.limit)

      const boots = all.filter((x): x is { t: number; d: Extract<Decision, { kind: "provision" }> } => x.d.kind === "provision")
      const bootLines = log.filter((e) => / node\(s\)(, below min \d+: starting \d+| in \S+ for queued jobs)$/.test(e.msg))
      expect(bootLines.map((e) => [e.t, e.resource])).toEqual(boots.map(({ t, d }) => [t, d.resource]))
    })
  }

  it("what the min rule cannot boot is a refusal with its reason, and no log line", () => {
    const refusals = (quota: number | null, bootFailureRate: number) => {
      const steps: Array<StepDecisions> = []
      const log: Array<EngineLogEvent> = []
      const s = kitScenario({ resources: [{ name: "os", min: 2, max: 2, quota, bootFailureRate }], maxTime: 900, settings: { policy: "classic" } })
      runScenario(s, { collect: false, onDecisions: (d) => steps.push(d), engineLog: (e) => log.push(e) })
      return { refused: each(steps).filter(({ d }) => d.kind === "refuse"), log }
    }
    // every boot refused by the cloud (a quota of 0): the resource backs off, the min rule waits
    const api = refusals(0, 0)
    expect(api.log.some((e) => /^boot in os failed .* backing off/.test(e.msg))).toBe(true)
    expect(api.refused.length).toBeGreaterThan(0)
    for (const { d } of api.refused) expect(d).toMatchObject({ kind: "refuse", resource: "os", by: "min", reason: "backoff", count: 2 })
    // every boot ends in Error: the Deleting nodes still hold the slots up to max
    const broken = refusals(null, 1)
    expect(broken.refused.some(({ d }) => d.kind === "refuse" && d.reason === "at_max")).toBe(true)
    // a refusal writes nothing: the engine log has no line at its step that is not a real change
    const lines = (l: ReadonlyArray<EngineLogEvent>) => l.filter((e) => /refus/.test(e.msg)).length
    expect(lines(api.log) + lines(broken.log)).toBe(0)
  })

  for (const policy of policyNames()) {
    it(`${policy}: while a resource's nodes boot for queued jobs, its at_max refusal names only the jobs they will not take (issue 17)`, () => {
      const steps: Array<StepDecisions> = []
      // one node (max 1, 2 cores) boots for 120 s; a, b, c each need a whole node
      const s = kitScenario({
        resources: [{ name: "os", max: 1, cores: 2, bootTime: { type: "constant", value: 120 } }],
        jobs: ["a", "b", "c"].map((id, i) => ({ id, submit: i, cores: 2, cpn: 2, runtime: 600 })),
        maxTime: 300,
        settings: { policy, auto_provision_interval: 10 }
      })
      runScenario(s, { policy, collect: false, onDecisions: (d) => steps.push(d) })
      const all = each(steps)
      const boot = all.find(({ d }) => d.kind === "provision" && d.resource === "os")
      expect(boot).toBeDefined()
      const whileBooting = all.filter(({ t, d }) => t > boot!.t && t < boot!.t + 100 && d.kind === "refuse" && d.reason === "at_max")
      expect(whileBooting.length).toBeGreaterThan(0)
      for (const { d } of whileBooting) {
        if (d.kind !== "refuse" || d.resource === null) continue
        // the booting node is for a (first in the queue): a is not refused, b and c are
        expect(d.jobs, JSON.stringify(d)).toEqual(["b", "c"])
        expect(d.jobsTotal).toBe(2)
        expect(d.count).toBe(2)
      }
    })
  }

  for (const policy of ["classic", "demand", "lean"]) {
    it(`${policy}: queued jobs that get no node are refusals naming them (no_matching_resource, at_max, backoff, auto_mode_off), with no log line`, () => {
      const explain = (resources: Parameters<typeof kitScenario>[0]["resources"], settings: Record<string, unknown> = {}) => {
        const steps: Array<StepDecisions> = []
        const log: Array<EngineLogEvent> = []
        const s = kitScenario({
          resources,
          jobs: [
            { id: "wide", submit: 0, cores: 32, cpn: 32, runtime: 60 },
            { id: "huge", submit: 0, cores: 64, cpn: 2, runtime: 60 },
            { id: "gpu", submit: 0, cores: 1, runtime: 60, queue: "gpu" },
            ...Array.from({ length: 30 }, (_, i) => ({ id: `s${i}`, submit: 0, cores: 2, cpn: 2, runtime: 3000 }))
          ],
          maxTime: 600,
          settings: { policy, ...settings }
        })
        runScenario(s, { policy, collect: false, onDecisions: (d) => steps.push(d), engineLog: (e) => log.push(e) })
        const refused = each(steps).flatMap(({ d }) => (d.kind === "refuse" ? [d] : []))
        expect(log.filter((e) => /refus|no resource/.test(e.msg))).toEqual([])
        return refused
      }
      const atMax = explain([{ name: "os", max: 2, cores: 2, reservation: { queue: "default" } }])
      const noMatch = atMax.filter((d) => d.reason === "no_matching_resource")
      const why = new Map(noMatch.map((d) => [d.jobs.join(","), d.resource === null && d.reason === "no_matching_resource" ? d.match : null]))
      expect(why.get("wide")).toEqual({ why: "cores_per_node", needs: 32, offered: 2 })
      expect(why.get("huge")).toEqual({ why: "size", cores: 64, nodes: 32, largest: 2 })
      expect(why.get("gpu")).toMatchObject({ why: "reservation", queue: "gpu" })
      const full = atMax.filter((d) => d.reason === "at_max" && d.resource === "os" && d.jobs !== undefined)
      expect(full.length).toBeGreaterThan(0)
      for (const d of full) expect(d.jobsTotal).toBeGreaterThanOrEqual(Math.max(1, d.jobs!.length))
      expect(new Set(full.flatMap((d) => d.jobs ?? []))).not.toContain("wide")

      // every boot refused by the cloud: backing off
      const failing = explain([{ name: "os", max: 4, cores: 2, quota: 0 }])
      expect(failing.some((d) => d.reason === "backoff" && d.resource === "os" && (d.jobsTotal ?? 0) > 0)).toBe(true)

      // auto mode off: nothing booted, the jobs a resource has room for are named
      const manual = explain([{ name: "os", max: 4, cores: 2 }], { auto_mode: false })
      const off = manual.filter((d) => d.reason === "auto_mode_off")
      expect(off.length).toBeGreaterThan(0)
      // the 30 small jobs and gpu (no reservation here): all but wide and huge
      for (const d of off) expect(d.jobsTotal).toBe(31)
      expect(manual.some((d) => d.reason === "no_matching_resource")).toBe(true)
    })
  }
})
