/**
 * Spot interruptions in the simulator (scenarios/spot.yaml): the cloud's
 * notice makes the engine hold the node at once (a decision with reason
 * `spot_interruption`, its log line), the jobs still running when the
 * instance goes are killed and resubmitted, the node leaves the cluster,
 * every invariant holds, and the summary counts it all.
 */
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { EngineLogEvent, StepDecisions } from "../engine/engine.ts"
import { checkScenario } from "./harness.ts"
import { formatViolation, parseEvents } from "./invariants.ts"
import { runScenario } from "./run.ts"
import { loadScenarioFile, decodeScenarioAt } from "./scenario.ts"

const FILE = new URL("../../scenarios/spot.yaml", import.meta.url).pathname
const scenario = () => Either.getOrThrow(loadScenarioFile(FILE))

describe("spot_interruption fault (scenarios/spot.yaml)", () => {
  for (const policy of ["classic", "lean"]) {
    it(`${policy}: every noticed node is held by a spot_interruption decision before the cloud ends it; no invariant broken`, () => {
      const steps: Array<StepDecisions> = []
      const log: Array<EngineLogEvent> = []
      const s = scenario()
      const r = runScenario(s, { policy, onDecisions: (d) => steps.push(d), engineLog: (e) => log.push(e) })
      const events = parseEvents(r.events)
      const notices = events.filter((e) => e.ev === "fault" && e.kind === "spot_interruption")
      expect(notices).toHaveLength(3)
      const noticed = notices.flatMap((e) => e.instances as Array<string>)
      const hostOf = new Map(events.filter((e) => e.ev === "join").map((e) => [e.instance as string, e.host as string]))
      const holds = steps.flatMap((st) => st.decisions.map((d) => ({ t: st.t, d }))).filter(({ d }) => d.reason === "spot_interruption")
      expect(holds.length).toBeGreaterThan(0)
      for (const id of noticed) {
        const host = hostOf.get(id)!
        const f = notices.find((e) => (e.instances as Array<string>).includes(id))!
        const hold = events.find((e) => e.ev === "hold" && e.host === host && e.t >= f.t)
        expect(hold, `${host} held after the notice at ${f.t}`).toBeDefined()
        expect(hold!.t).toBeLessThan(f.t + f.warning)
        const d = holds.find(({ d }) => "host" in d && d.host === host)
        expect(d?.d).toMatchObject({ kind: "hold", reason: "spot_interruption", code: "marked-for-termination", resource: "spot" })
        expect(log.some((l) => l.msg === `holding ${host}: spot interruption (marked-for-termination): the cloud is taking its instance back`)).toBe(true)
        // it leaves the cluster once its instance is gone
        const ended = events.find((e) => (e.ev === "interrupted" || e.ev === "terminate") && e.instance === id)
        expect(ended).toBeDefined()
        expect(events.some((e) => e.ev === "leave" && e.host === host && e.t >= ended!.t)).toBe(true)
      }
      // killed jobs were resubmitted and every job finished
      const killed = events.filter((e) => e.ev === "killed")
      expect(killed.length).toBeGreaterThan(0)
      expect(killed.every((e) => e.cause === "interruption")).toBe(true)
      expect(r.summary.jobs).toMatchObject({ killed: killed.length, resubmitted: killed.length, finished: r.summary.jobs.submitted })
      expect(r.summary.spot_interruptions).toBe(events.filter((e) => e.ev === "interrupted").length)
      const checked = checkScenario(s, [], { policy })
      expect(checked.violations.map(formatViolation)).toEqual([])
    })
  }

  it("a scenario says what is wrong with a spot_interruption: not a spot resource, no spot resource, an unknown code", () => {
    const doc = (faults: unknown, spot = true) => ({
      config: {
        "dynamic-cluster": { policy: "classic" },
        cluster: { type: "simulated" },
        cloud: { a: { type: "simulated", quantity: { min: 0, max: 2 } }, b: { type: "simulated", quantity: { min: 0, max: 2 } } }
      },
      clouds: { a: { cores: 4, ...(spot ? { spot: true } : {}) }, b: { cores: 4 } },
      workload: { type: "jobs", jobs: [] },
      faults
    })
    const problems = (d: unknown) => {
      const r = decodeScenarioAt("/tmp/x.yaml", d, {})
      return Either.isLeft(r) ? r.left.problems : []
    }
    expect(problems(doc([{ kind: "spot_interruption", at: 10, resource: "b" }]))).toEqual([
      "faults.0.resource: b is not a spot resource (set clouds.b.spot: true)"
    ])
    expect(problems(doc([{ kind: "spot_interruption", at: 10 }], false))).toEqual([
      "faults.0: a spot_interruption needs a spot resource (set clouds.<name>.spot: true)"
    ])
    expect(problems(doc([{ kind: "spot_interruption", at: 10, code: "instance-terminated-by-user" }])).join("\n")).toMatch(/faults\.0\.code.*instance-terminated-by-price/)
    const ok = decodeScenarioAt("/tmp/x.yaml", doc([{ kind: "spot_interruption", at: 10 }]), {})
    expect(Either.isRight(ok) && ok.right.world.faults).toEqual([
      { kind: "spot_interruption", at: 10, resource: undefined, count: 1, warning: 120, code: "instance-terminated-by-price", resubmit: false }
    ])
  })
})
