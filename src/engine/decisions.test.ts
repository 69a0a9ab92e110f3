/**
 * Decisions as values (decisions.ts): what a step decides can be listed
 * through `onDecisions`, is plain data with a reason from the closed set, and
 * the log lines are rendered from it (one line per hold or provisioning
 * decision, at the same time, naming the same node or resource).
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { runScenario } from "../sim/run.ts"
import { loadScenarioFile } from "../sim/scenario.ts"
import { REASON_CODES, type Decision, type StepDecisions } from "./decisions.ts"
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
})
