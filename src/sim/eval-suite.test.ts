/**
 * The evaluation suite of docs/policies.md ("The evaluation suite",
 * scenarios/eval/): every file decodes, and six simulated hours from its first job run
 * under classic and lean (short: the whole files are for `simulate --seeds`,
 * not for the test suite). The suite has one file per trace in
 * ../shared/traces and per cloud model, plus the synthetic shapes; the trace
 * files need ../shared/traces and are skipped with a message when it is
 * absent.
 */
import { Either } from "effect"
import { existsSync, readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { loadScenarioFile } from "./scenario.ts"
import { runScenario } from "./run.ts"

const evalDir = fileURLToPath(new URL("../../scenarios/eval/", import.meta.url))
const traces = fileURLToPath(new URL("../../../shared/traces/", import.meta.url))
const haveTraces = existsSync(traces)
if (!haveTraces) console.warn(`eval-suite.test.ts: ${traces} is absent: the trace files of scenarios/eval are not checked`)

const files = readdirSync(evalDir).filter((f) => f.endsWith(".yaml")).sort()
const MODELS = ["hybrid", "public"]
const SYNTHETIC = ["diurnal", "flood", "rareburst", "wide"]
const isSynthetic = (f: string) => SYNTHETIC.some((s) => f.startsWith(s + "-"))

const shortRun = (file: string) => {
  const s = loadScenarioFile(evalDir + file)
  if (Either.isLeft(s)) throw new Error(s.left.message)
  const sc = s.right
  expect(sc.world.jobs.length).toBeGreaterThan(100)
  // six hours from the first job (a trace window may start quiet)
  const end = Math.min(...sc.world.jobs.map((j) => j.submit)) + 6 * 3600
  const short = { ...sc, world: { ...sc.world, maxTime: end } }
  for (const policy of ["classic", "lean"]) {
    const r = runScenario(short, { policy, collect: false }).summary
    expect(r.jobs.submitted, `${file} under ${policy}`).toBeGreaterThan(0)
    expect(r.jobs.started, `${file} under ${policy}`).toBeGreaterThan(0)
    expect(r.span).toBeLessThanOrEqual(end)
  }
}

describe("the evaluation suite (scenarios/eval)", () => {
  it("has every synthetic shape under every cloud model", () => {
    for (const s of SYNTHETIC) for (const m of MODELS) expect(files).toContain(`${s}-${m}.yaml`)
  })

  it.each(files.filter((f) => f.endsWith("-public.yaml")))(
    "%s: the public model's spot reclamations are spot interruptions (notice, then the end) of its spot resource, not instance deaths",
    (f) => {
      const s = loadScenarioFile(evalDir + f)
      if (Either.isLeft(s)) throw new Error(s.left.message)
      const w = s.right.world
      expect(w.resources.find((r) => r.name === "spot")?.spot, f).toBe(true)
      expect(w.faults.length).toBeGreaterThan(0)
      for (const x of w.faults) expect(x).toMatchObject({ kind: "spot_interruption", resource: "spot", count: 2, warning: 120, resubmit: false })
    }
  )

  it.each(files.filter(isSynthetic))("%s loads and 6 hours from its first job run under classic and lean", { timeout: 300_000 }, (f) => shortRun(f))

  describe.skipIf(!haveTraces)("trace files (need ../shared/traces)", () => {
    it("has one file per trace and cloud model", () => {
      const swf = readdirSync(traces).filter((f) => /\.swf(\.gz)?$/.test(f))
      expect(files.filter((f) => !isSynthetic(f)).length).toBe(swf.length * MODELS.length)
    })
    it.each(files.filter((f) => !isSynthetic(f)))("%s loads and 6 hours from its first job run under classic and lean", { timeout: 300_000 }, (f) => shortRun(f))
  })
})
