/**
 * Every counterexample found so far (scenarios/regressions/*.yaml, written by
 * the property tests or the soak, see docs/testing.md) replays with its
 * operator actions under every registered policy, and every invariant holds.
 */
import { readdirSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { policyNames } from "../engine/policy.ts"
import { checkScenario, loadRegression } from "./harness.ts"
import { formatViolation } from "./invariants.ts"

const dir = new URL("../../scenarios/regressions/", import.meta.url)
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()

describe("regression scenarios", () => {
  it("there are some", () => {
    expect(files.length).toBeGreaterThan(0)
  })

  for (const f of files) {
    it(`${f}: every invariant holds`, () => {
      const r = loadRegression(new URL(f, dir).pathname)
      const policies = [r.policy, ...policyNames().filter((p) => p !== r.policy)]
      for (const policy of policies) {
        const run = checkScenario(r.scenario, r.actions, { policy })
        expect(run.crash).toBeNull()
        expect(run.violations.map(formatViolation), `policy ${policy}`).toEqual([])
      }
    })
  }
})
