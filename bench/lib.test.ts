/**
 * The benchmark harness: its statistics and its JSON output, and a real
 * `bench/run.ts engine-cycle --quick --json` invocation printing one valid
 * figure per line. Plus the equivalence of the optimised classic allocator
 * with the straightforward one it replaced (docs/performance.md).
 */
import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { classicAllocate, orderCandidates, tryFit, type AllocResource, type ProposedNode } from "../src/model/allocator.ts"
import { JobState, makeJob, ResourceFlag, type Job } from "../src/model/types.ts"
import { formatTable, median, parseArgs, quantile, Reporter, stats } from "./lib.ts"

describe("bench harness statistics", () => {
  it("median of odd and even counts, quantiles by nearest rank, spread relative to the median", () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([])).toBeNaN()
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(quantile(xs, 0.99)).toBe(99)
    expect(quantile(xs, 0.5)).toBe(50)
    expect(quantile([7], 0.99)).toBe(7)
    const s = stats([10, 12, 8, 10])
    expect(s).toMatchObject({ n: 4, median: 10, min: 8, max: 12, mean: 10 })
    expect(s.spread).toBeCloseTo(0.4)
  })

  it("one JSON object per figure with --json; repeated samples give the median and their spread", () => {
    const out: Array<string> = []
    const err: Array<string> = []
    const r = new Reporter("demo", { json: true, quick: false }, (l) => out.push(l), (l) => err.push(l))
    r.figure("cycle", [3, 1, 2], "ms", { nodes: 10 })
    r.figure("jobs", 42, "jobs")
    r.note("a note goes to stderr")
    r.table(["a"], [["1"]])
    expect(out.map((l) => JSON.parse(l))).toEqual([
      { name: "demo.cycle", value: 2, unit: "ms", params: { nodes: 10 }, spread: { n: 3, min: 1, max: 3 } },
      { name: "demo.jobs", value: 42, unit: "jobs", params: {} }
    ])
    expect(err.join("\n")).toContain("a note goes to stderr")
    const quiet: Array<string> = []
    new Reporter("demo", { json: false, quick: false }, (l) => quiet.push(l)).figure("x", 1, "s")
    expect(quiet).toEqual([])
  })

  it("arguments: names, --json, --quick; an unknown option is named", () => {
    expect(parseArgs(["engine-cycle", "--json", "--quick"])).toEqual({ names: ["engine-cycle"], json: true, quick: true, help: false })
    expect(parseArgs(["--fast"])).toEqual({ error: "unknown option --fast (known: --json, --quick, --help)" })
    expect(formatTable(["name", "value"], [["a", "1"], ["bb", "22"]]).split("\n")).toEqual(["name  value", "----  -----", "a         1", "bb       22"])
  })
})

describe("npm run bench -- engine-cycle --quick --json", () => {
  it("prints only JSON figures on stdout, each {name, value, unit, params}", async () => {
    const run = fileURLToPath(new URL("./run.ts", import.meta.url))
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ["--import", "tsx", run, "engine-cycle", "--quick", "--json"], { timeout: 60_000 }, (e, out, err) =>
        e ? reject(new Error(`${e.message}\n${err}`)) : resolve(out)
      )
    )
    const lines = stdout.trim().split("\n")
    expect(lines.length).toBeGreaterThan(5)
    for (const l of lines) {
      const f = JSON.parse(l)
      expect(Object.keys(f).sort()).toEqual(expect.arrayContaining(["name", "params", "unit", "value"]))
      expect(f.name).toMatch(/^engine-cycle\./)
      expect(typeof f.value).toBe("number")
      expect(Number.isFinite(f.value)).toBe(true)
    }
    const cycles = lines.map((l) => JSON.parse(l)).filter((f) => f.name === "engine-cycle.cycle")
    // one row per built-in policy and size
    expect(cycles.map((f) => f.params)).toEqual(
      [
        [100, 1000],
        [1000, 10000]
      ].flatMap(([nodes, jobs]) => ["classic", "demand", "lean"].map((policy) => ({ policy, nodes, jobs, resources: 10 })))
    )
  }, 60_000)
})

// ------------------------------------------------------------ the allocator before its optimisation

const referenceEligible = (jobs: ReadonlyArray<Job>) =>
  jobs.filter((j) => j.state === JobState.Queued && j.priority !== null).sort((a, b) => (b.priority as number) - (a.priority as number))

const referenceAllocate = (jobs: ReadonlyArray<Job>, resources: ReadonlyArray<AllocResource>) => {
  const proposals = new Map<AllocResource, Array<ProposedNode>>(resources.map((r) => [r, []]))
  for (const job of referenceEligible(jobs)) {
    for (const r of orderCandidates(job, resources)) if (tryFit(job, r, proposals.get(r)!)) break
  }
  return resources.flatMap((r) => (proposals.get(r)!.length > 0 ? [{ resource: r.name, nodes: proposals.get(r)! }] : []))
}

describe("optimised classic allocator", () => {
  const name = fc.constantFrom(null, "a", "b")
  const job = fc.record({
    state: fc.constantFrom(JobState.Queued, JobState.Queued, JobState.Queued, JobState.Running),
    priority: fc.oneof(fc.constant(null), fc.integer({ min: -3, max: 3 }), fc.double({ min: -10, max: 10, noNaN: true }), fc.constant(Infinity)),
    requested_cores: fc.integer({ min: 0, max: 40 }),
    cores_per_node: fc.integer({ min: 0, max: 10 }),
    queue: name,
    account: name,
    property: name
  })
  const resource = fc.record({
    priority: fc.integer({ min: 1, max: 3 }),
    min: fc.constant(0),
    max: fc.integer({ min: 0, max: 8 }),
    current: fc.integer({ min: 0, max: 6 }),
    coresPerNode: fc.constantFrom(0, 4, 8),
    reservation: fc.record({ queue: name, account: name, property: name })
  })

  it("proposes exactly what the unoptimised allocator proposed", () => {
    fc.assert(
      fc.property(fc.array(job, { maxLength: 60 }), fc.array(resource, { maxLength: 4 }), (js, rs) => {
        const jobs = js.map((j, i) => makeJob({ jobid: `j${i}`, ...j }))
        const resources: Array<AllocResource> = rs.map((r, i) => ({ ...r, name: `r${i}`, flag: ResourceFlag.Normal }))
        expect(classicAllocate(jobs, resources)).toEqual(referenceAllocate(jobs, resources))
      }),
      { numRuns: 500 }
    )
  })
})
