/**
 * What `dyncluster simulate` says on stderr about a trace: how many of its
 * jobs are replayed, how many fall outside the window, and why the others
 * are skipped (the summary only counts them).
 */
import { Either } from "effect"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { dirname } from "node:path"
import { applySet, decodeScenarioAt, loadScenarioFile, readScenarioDocument } from "../sim/scenario.ts"
import { traceNote } from "./simulate.ts"

const TRACES = fileURLToPath(new URL("../../../shared/traces/", import.meta.url))
const scenario = (name: string) => fileURLToPath(new URL(`../../scenarios/${name}`, import.meta.url))
const present = existsSync(TRACES)
if (!present) console.warn(`simulate-trace.test.ts: ${TRACES} is absent, the trace notes are not checked`)

const load = (file: string) => {
  const s = loadScenarioFile(file)
  if (Either.isLeft(s)) throw new Error(s.left.message)
  return s.right
}

describe.skipIf(!present)("the trace note of simulate", () => {
  it("names the skipped jobs' reason (KTH SP2: one job without a processor count)", () => {
    const s = load(scenario("trace-kth-sp2.yaml"))
    expect(traceNote(s)).toBe("trace: 28475 of 28476 job(s) replayed, 1 skipped (1 without a processor count)")
    expect(s.skippedJobs).toBe(1)
  })

  it("counts the jobs outside the window apart from the skipped ones", () => {
    const file = scenario("trace-kth-sp2.yaml")
    const doc = Either.getOrThrow(readScenarioDocument(file))
    const windowed = Either.getOrThrow(applySet(doc, "workload.duration", 30 * 86400, dirname(file)))
    const s = decodeScenarioAt(file, windowed)
    if (Either.isLeft(s)) throw new Error(s.left.message)
    const t = s.right.trace!
    const skipped = t.skippedBy.runtime + t.skippedBy.processors + t.skippedBy.tooLarge
    expect(t.outsideWindow).toBeGreaterThan(0)
    expect(s.right.world.jobs.length + t.outsideWindow + skipped).toBe(t.lines)
    expect(traceNote(s.right)).toBe(`trace: ${s.right.world.jobs.length} of 28476 job(s) replayed, ${t.outsideWindow} outside the window` + (skipped > 0 ? `, ${skipped} skipped (${skipped} without a processor count)` : ""))
  })
})

describe("the trace note of other workloads", () => {
  it("is null", () => {
    expect(traceNote(load(scenario("quickstart.yaml")))).toBeNull()
  })
})
