/**
 * The engine's pause between the phases of a step (engine.ts
 * `EngineOptions.pause`, which the daemon uses to let its event loop in)
 * changes no decision: the same scenario with and without a pause gives the
 * same event log and engine log, byte for byte, under every built-in policy.
 */
import { Effect, Either } from "effect"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ROOT } from "./golden.ts"
import { runScenario } from "./run.ts"
import { loadScenarioFile } from "./scenario.ts"

const run = (file: string, policy: string, pause?: Effect.Effect<void>) => {
  const sc = loadScenarioFile(join(ROOT, file), { seed: 3 })
  if (Either.isLeft(sc)) throw new Error(sc.left.message)
  const engine: Array<string> = []
  const r = runScenario(sc.right, { policy, engineLog: (e) => engine.push(JSON.stringify(e)), ...(pause !== undefined ? { pause } : {}) })
  return { events: r.events, engine }
}

describe("a step's pauses change no decision", () => {
  for (const file of ["scenarios/burst.yaml", "scenarios/outage.yaml", "scenarios/regressions/placement-beyond-first-fit.yaml"])
    for (const policy of ["classic", "demand", "lean"])
      it(`${file} ${policy}`, { timeout: 120_000 }, () => {
        let pauses = 0
        const paused = run(file, policy, Effect.zipRight(Effect.yieldNow(), Effect.sync(() => void pauses++)))
        const plain = run(file, policy)
        // the pauses were taken (a cluster view, a provisioning pass, its explanations)
        expect(pauses).toBeGreaterThan(3)
        expect(paused.events.length).toBe(plain.events.length)
        expect(paused.events.join("\n")).toBe(plain.events.join("\n"))
        expect(paused.engine.join("\n")).toBe(plain.engine.join("\n"))
      })
})
