/**
 * The golden test: the SHA-256 of every event log (`simulate --events`) and
 * engine log of the cases in golden.ts, against src/sim/golden.json. Unlike
 * determinism.test.ts (two runs of the same code), this pins the bytes across
 * commits: a refactor that changes what the engine decides fails here, naming
 * the case. Changing a hash is a deliberate step (docs/testing.md):
 *
 *   GOLDEN_UPDATE=1 npx vitest run src/sim/golden.test.ts
 *
 * rewrites golden.json; the commit says why the logs changed.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { afterAll, describe, expect, it } from "vitest"
import { goldenCases, goldenJsonPath, runGolden, type GoldenResult } from "./golden.ts"

const update = process.env.GOLDEN_UPDATE === "1"
const pinned: Record<string, GoldenResult> = existsSync(goldenJsonPath) ? JSON.parse(readFileSync(goldenJsonPath, "utf8")).cases : {}
const cases = goldenCases()
const got: Record<string, GoldenResult> = {}

describe("golden event and engine logs (src/sim/golden.json)", () => {
  it("golden.json pins exactly the cases of golden.ts", () => {
    if (update) return
    expect(Object.keys(pinned).sort()).toEqual(cases.map((c) => c.key).sort())
  })

  for (const c of cases) {
    it(c.key, { timeout: 120_000 }, async () => {
      const r = await runGolden(c)
      got[c.key] = r
      if (update) return
      const want = pinned[c.key]
      expect(want, `${c.key}: not in golden.json (GOLDEN_UPDATE=1 to record it)`).toBeDefined()
      // lines first: a differing count says more than a differing hash
      expect({ eventLines: r.eventLines, engineLines: r.engineLines }, `${c.key}: line counts`).toEqual({
        eventLines: want.eventLines,
        engineLines: want.engineLines
      })
      expect(r.events, `${c.key}: event log (simulate --events) differs`).toBe(want.events)
      expect(r.engine, `${c.key}: engine log differs`).toBe(want.engine)
    })
  }

  afterAll(() => {
    if (!update) return
    const sorted = Object.fromEntries(cases.filter((c) => got[c.key] !== undefined).map((c) => [c.key, got[c.key]]))
    const doc = {
      note: "SHA-256 of the event log (simulate --events) and the engine log per case; rewritten by GOLDEN_UPDATE=1 npx vitest run src/sim/golden.test.ts (docs/testing.md)",
      cases: sorted
    }
    writeFileSync(goldenJsonPath, JSON.stringify(doc, null, 2) + "\n")
  })
})
