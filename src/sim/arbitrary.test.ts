/**
 * The generators make valid input (every value decodes with the schema the
 * files use), and a random world written as a scenario file replays exactly
 * the same run as the world itself (so `dyncluster simulate FILE` reproduces
 * a counterexample).
 */
import { Either, Schema } from "effect"
import * as fc from "fast-check"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { arbBootTime, arbConfigTime, arbWorld, OperatorAction, sampleWorld } from "./arbitrary.ts"
import { checkWorld, loadRegression, runWorld, scenarioDocument, scenarioYaml } from "./harness.ts"
import { kitScenario } from "./kit.ts"
import { Distribution } from "./random.ts"
import { decodeScenario } from "./scenario.ts"

describe("generators", () => {
  it("boot and configuration times are Distributions of the scenario format", () => {
    fc.assert(fc.property(arbBootTime, arbConfigTime, (b, c) => Schema.is(Distribution)(b) && Schema.is(Distribution)(c)), { numRuns: 300, seed: 7 })
  })

  it("operator actions decode with the schema regression files are read with", () => {
    fc.assert(
      fc.property(arbWorld({ maxJobs: 3 }), (w) => {
        for (const a of w.actions) expect(Either.isRight(Schema.decodeUnknownEither(OperatorAction)(JSON.parse(JSON.stringify(a))))).toBe(true)
      }),
      { numRuns: 40, seed: 11 }
    )
  })

  it("worlds are valid kit scenarios with jobs in submit order and a hard end after every fault", () => {
    fc.assert(
      fc.property(arbWorld(), (w) => {
        const s = kitScenario(w.kit) // throws on an invalid configuration
        const submits = s.world.jobs.map((j) => j.submit)
        expect(submits).toEqual([...submits].sort((a, b) => a - b))
        for (const f of s.world.faults) expect(f.at + ("duration" in f ? f.duration : 0)).toBeLessThan(s.world.maxTime!)
        for (const r of w.kit.resources) expect(r.min ?? 0).toBeLessThanOrEqual(r.max)
      }),
      { numRuns: 60, seed: 3 }
    )
  })

  it("sampleWorld is a pure function of its seed", () => {
    expect(JSON.stringify(sampleWorld(42))).toBe(JSON.stringify(sampleWorld(42)))
    expect(JSON.stringify(sampleWorld(42))).not.toBe(JSON.stringify(sampleWorld(43)))
  })
})

describe("scenario files of random worlds", () => {
  it("decode to the same scenario as the kit and replay the same event log", () => {
    for (const seed of [5, 17, 23]) {
      const w = sampleWorld(seed)
      const doc = scenarioDocument({ ...w, actions: [] })
      const decoded = decodeScenario(doc, { baseDir: tmpdir(), source: `seed ${seed}` })
      if (Either.isLeft(decoded)) throw new Error(decoded.left.message)
      const kit = kitScenario(w.kit)
      expect(decoded.right.config).toEqual(kit.config)
      expect(decoded.right.world).toEqual(kit.world)
      const a = runWorld(kit, []).lines
      const b = runWorld(decoded.right, []).lines
      expect(b.join("\n")).toBe(a.join("\n"))
    }
  })

  it("round-trip through YAML with their operator actions and policy", () => {
    const dir = mkdtempSync(join(tmpdir(), "dyncluster-arb-"))
    try {
      const w = sampleWorld(29)
      const path = join(dir, "w.yaml")
      writeFileSync(path, scenarioYaml(w, "classic", "a test"))
      const r = loadRegression(path)
      expect(r.policy).toBe("classic")
      expect(r.actions).toEqual(w.actions)
      const direct = checkWorld(w, "classic")
      const replayed = runWorld(r.scenario, r.actions, { policy: r.policy })
      expect(replayed.lines.join("\n")).toBe(direct.lines.join("\n"))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
